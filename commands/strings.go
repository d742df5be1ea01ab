package commands

import (
	"github.com/structd/structd/memtier"
)

func init() {
	register(
		&Command{Name: "get", Arity: 2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: 1, KeyStep: 1,
			Categories: []string{"read", "string", "fast"}, Handler: cmdGet},
		&Command{Name: "set", Arity: -3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 1, KeyStep: 1,
			Categories: []string{"write", "string", "slow"}, Handler: cmdSet},
	)
}

// lookupString returns the string under key, replying WRONGTYPE for other
// types. A missing key gives (nil, true).
func lookupString(c *Ctx, key []byte) (*memtier.Object, bool) {
	return c.LookupType(key, memtier.TypeString)
}

func cmdGet(c *Ctx) {
	o, ok := lookupString(c, c.Args[1])
	if !ok {
		return
	}
	if o == nil {
		c.W.Null()
		return
	}
	c.W.Bulk(o.Str)
}

// setOptions are SET's parsed options.
type setOptions struct {
	nx, xx, get, keepTTL bool
	expireAt             int64 // Unix ms; 0 means no expiry given
}

// parseSetOptions parses SET's options from args[3:], replying with Redis's
// error on failure.
func parseSetOptions(c *Ctx) (opts setOptions, ok bool) {
	now := c.KS.NowMs()
	expirySet := false
	for i := 3; i < len(c.Args); i++ {
		switch {
		case c.ArgIs(i, "nx") && !opts.xx:
			opts.nx = true
		case c.ArgIs(i, "xx") && !opts.nx:
			opts.xx = true
		case c.ArgIs(i, "get"):
			opts.get = true
		case c.ArgIs(i, "keepttl") && !expirySet:
			opts.keepTTL = true
		case (c.ArgIs(i, "ex") || c.ArgIs(i, "px") || c.ArgIs(i, "exat") || c.ArgIs(i, "pxat")) &&
			!expirySet && !opts.keepTTL && i+1 < len(c.Args):
			unit := c.Arg(i)
			i++
			at, ok := expiryDeadline(c, unit, i, now, "set")
			if !ok {
				return opts, false
			}
			opts.expireAt = at
			expirySet = true
		default:
			c.W.Error(ErrSyntax)
			return opts, false
		}
	}
	return opts, true
}

// expiryDeadline converts the EX/PX/EXAT/PXAT value at argument i to an
// absolute Unix ms deadline, with Redis's checks: the value must be a
// positive integer and must not overflow when converted to milliseconds.
func expiryDeadline(c *Ctx, unit string, i int, nowMs int64, cmdName string) (int64, bool) {
	n, ok := c.Int(i)
	if !ok {
		return 0, false
	}
	invalid := func() (int64, bool) {
		c.W.Error("ERR invalid expire time in '" + cmdName + "' command")
		return 0, false
	}
	if n <= 0 {
		return invalid()
	}
	switch unit[0] | 0x20 {
	case 'e': // EX, EXAT: seconds
		if n > (1<<63-1)/1000 {
			return invalid()
		}
		n *= 1000
	}
	if len(unit) == 2 { // EX, PX: relative
		if n > 1<<63-1-nowMs {
			return invalid()
		}
		n += nowMs
	}
	return n, true
}

func cmdSet(c *Ctx) {
	opts, ok := parseSetOptions(c)
	if !ok {
		return
	}
	key := c.Args[1]
	old := c.DB.Peek(key)
	if opts.get {
		if old != nil && old.Type != memtier.TypeString {
			c.W.Error(ErrWrongType)
			return
		}
	}
	if (opts.nx && old != nil) || (opts.xx && old == nil) {
		if opts.get {
			writeOldValue(c, old)
		} else {
			c.W.Null()
		}
		return
	}
	if opts.get {
		writeOldValue(c, old)
	}
	o := memtier.NewString(c.Args[2])
	if opts.keepTTL {
		c.DB.SetKeepTTL(key, o)
	} else {
		c.DB.Set(key, o)
	}
	if opts.expireAt != 0 {
		c.DB.SetExpire(key, opts.expireAt)
	}
	c.KeyChanged(EventString, "set", key)
	if opts.expireAt != 0 {
		c.KeyChanged(EventGeneric, "expire", key)
	}
	if !opts.get {
		c.W.OK()
	}
}

func writeOldValue(c *Ctx, old *memtier.Object) {
	if old == nil {
		c.W.Null()
	} else {
		c.W.Bulk(old.Str)
	}
}
