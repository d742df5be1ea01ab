package commands

import "strconv"

// The expiry commands. Deadlines are absolute Unix milliseconds of the
// keyspace clock. A deadline already past deletes the key, which Redis
// reports as a "del" event, not "expire".
//
// Effects (invariant 3): a relative time means another deadline when the
// log is replayed later, so EXPIRE, PEXPIRE and EXPIREAT are logged as
// PEXPIREAT with the absolute deadline (their NX/XX/GT/LT options kept, as
// Redis's expireGenericCommand does), and a deadline already past as the
// DEL it amounts to.

func init() {
	write := []string{"keyspace", "write", "fast"}
	read := []string{"keyspace", "read", "fast"}
	nondeterministic := []string{"nondeterministic_output"}
	key1 := func(cmd *Command) *Command {
		cmd.FirstKey, cmd.LastKey, cmd.KeyStep = 1, 1, 1
		return cmd
	}
	register(
		key1(&Command{Name: "expire", Arity: -3, Flags: Write | Fast, Categories: write,
			Handler: func(c *Ctx) { expireGeneric(c, c.KS.NowMs(), true) }}),
		key1(&Command{Name: "pexpire", Arity: -3, Flags: Write | Fast, Categories: write,
			Handler: func(c *Ctx) { expireGeneric(c, c.KS.NowMs(), false) }}),
		key1(&Command{Name: "expireat", Arity: -3, Flags: Write | Fast, Categories: write,
			Handler: func(c *Ctx) { expireGeneric(c, 0, true) }}),
		key1(&Command{Name: "pexpireat", Arity: -3, Flags: Write | Fast, Categories: write,
			Handler: func(c *Ctx) { expireGeneric(c, 0, false) }}),
		key1(&Command{Name: "ttl", Arity: 2, Flags: ReadOnly | Fast, Categories: read, Tips: nondeterministic,
			Handler: func(c *Ctx) { ttlGeneric(c, false, false) }}),
		key1(&Command{Name: "pttl", Arity: 2, Flags: ReadOnly | Fast, Categories: read, Tips: nondeterministic,
			Handler: func(c *Ctx) { ttlGeneric(c, true, false) }}),
		key1(&Command{Name: "expiretime", Arity: 2, Flags: ReadOnly | Fast, Categories: read,
			Handler: func(c *Ctx) { ttlGeneric(c, false, true) }}),
		key1(&Command{Name: "pexpiretime", Arity: 2, Flags: ReadOnly | Fast, Categories: read,
			Handler: func(c *Ctx) { ttlGeneric(c, true, true) }}),
		key1(&Command{Name: "persist", Arity: 2, Flags: Write | Fast, Categories: write, Handler: cmdPersist}),
	)
}

// expireFlags are the NX XX GT LT options of the EXPIRE family.
type expireFlags struct{ nx, xx, gt, lt bool }

// parseExpireFlags reads the options after the time, in Redis's order of
// checks: an unknown option first, then the incompatible pairs.
func parseExpireFlags(c *Ctx) (f expireFlags, ok bool) {
	for i := 3; i < len(c.Args); i++ {
		switch {
		case c.ArgIs(i, "nx"):
			f.nx = true
		case c.ArgIs(i, "xx"):
			f.xx = true
		case c.ArgIs(i, "gt"):
			f.gt = true
		case c.ArgIs(i, "lt"):
			f.lt = true
		default:
			c.W.Error("ERR Unsupported option " + cString(c.Args[i]))
			return f, false
		}
	}
	if f.nx && (f.xx || f.gt || f.lt) {
		c.W.Error("ERR NX and XX, GT or LT options at the same time are not compatible")
		return f, false
	}
	if f.gt && f.lt {
		c.W.Error("ERR GT and LT options at the same time are not compatible")
		return f, false
	}
	return f, true
}

// allows reports whether the options let a key whose deadline is current
// (-1 for none) take the deadline when. No TTL counts as an infinite one:
// GT never passes, LT always does.
func (f expireFlags) allows(current, when int64) bool {
	switch {
	case f.nx && current != -1:
		return false
	case f.xx && current == -1:
		return false
	case f.gt && (current == -1 || when <= current):
		return false
	case f.lt && current != -1 && when >= current:
		return false
	}
	return true
}

// expireGeneric is EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT: the time is
// relative to base (now, or 0 for the AT forms), in seconds or not. Negative
// times are accepted; only overflow of the conversion is an error.
func expireGeneric(c *Ctx, base int64, seconds bool) {
	flags, ok := parseExpireFlags(c)
	if !ok {
		return
	}
	when, ok := c.Int(2)
	if !ok {
		return
	}
	invalid := func() { c.W.Error("ERR invalid expire time in '" + c.Cmd.Name + "' command") }
	if seconds {
		if when > maxInt64/1000 || when < minInt64/1000 {
			invalid()
			return
		}
		when *= 1000
	}
	if when > maxInt64-base {
		invalid()
		return
	}
	when += base
	key := c.Args[1]
	if c.DB.LookupWrite(key) == nil {
		c.W.Int(0)
		return
	}
	if !flags.allows(c.DB.Expire(key), when) {
		c.W.Int(0)
		return
	}
	if when <= c.KS.NowMs() {
		c.DB.Delete(key)
		c.KeyChanged(EventGeneric, "del", key)
		c.Propagate(cmdName("del"), key)
		c.W.Int(1)
		return
	}
	c.DB.SetExpire(key, when)
	if c.Cmd.Name != "pexpireat" {
		eff := [][]byte{cmdName("pexpireat"), key, intArg(when)}
		c.Propagate(append(eff, c.Args[3:]...)...)
	}
	c.W.Int(1) // Redis replies before the "expire" event (after "del" above)
	c.KeyChanged(EventGeneric, "expire", key)
}

// intArg formats n as a fresh argument of an effect.
func intArg(n int64) []byte { return strconv.AppendInt(make([]byte, 0, 20), n, 10) }

// cmdName is a command name for an effect: the table's lower-case name, so
// a replay finds it as typed.
func cmdName(name string) []byte { return []byte(name) }

const (
	maxInt64 = 1<<63 - 1
	minInt64 = -1 << 63
)

// ttlGeneric is TTL, PTTL, EXPIRETIME and PEXPIRETIME: -2 for a missing
// key, -1 for a key without a deadline, otherwise the time left (never
// negative) or the deadline, in milliseconds or rounded to seconds.
func ttlGeneric(c *Ctx, ms, absolute bool) {
	_, at, found := c.DB.LookupInfo(c.Args[1])
	if !found {
		c.W.Int(-2)
		return
	}
	if at == -1 {
		c.W.Int(-1)
		return
	}
	t := at
	if !absolute {
		t = max(at-c.KS.NowMs(), 0)
	}
	if !ms {
		// (t+500)/1000 without overflow: Redis's compiled code yields the
		// exact quotient even for deadlines near the int64 limit.
		t = t/1000 + (t%1000+500)/1000
	}
	c.W.Int(t)
}

func cmdPersist(c *Ctx) {
	key := c.Args[1]
	if c.DB.LookupWrite(key) == nil || !c.DB.Persist(key) {
		c.W.Int(0)
		return
	}
	c.KeyChanged(EventGeneric, "persist", key)
	c.W.Int(1)
}
