package commands

import (
	"strconv"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

func init() {
	strCmd := familyCommand("string")
	register(
		strCmd("get", 2, ReadOnly|Fast, "fast", cmdGet),
		strCmd("set", -3, Write|DenyOOM, "slow", cmdSet),
		strCmd("setnx", 3, Write|DenyOOM|Fast, "fast", cmdSetNX),
		strCmd("setex", 4, Write|DenyOOM, "slow", cmdSetEX),
		strCmd("psetex", 4, Write|DenyOOM, "slow", cmdSetEX),
		strCmd("getset", 3, Write|DenyOOM|Fast, "fast", cmdGetSet),
		strCmd("getdel", 2, Write|Fast, "fast", cmdGetDel),
		strCmd("getex", -2, Write|Fast, "fast", cmdGetEx),
		strCmd("append", 3, Write|DenyOOM|Fast, "fast", cmdAppend),
		strCmd("strlen", 2, ReadOnly|Fast, "fast", cmdStrlen),
		strCmd("incr", 2, Write|DenyOOM|Fast, "fast", cmdIncr),
		strCmd("decr", 2, Write|DenyOOM|Fast, "fast", cmdDecr),
		strCmd("incrby", 3, Write|DenyOOM|Fast, "fast", cmdIncrBy),
		strCmd("decrby", 3, Write|DenyOOM|Fast, "fast", cmdDecrBy),
		strCmd("incrbyfloat", 3, Write|DenyOOM|Fast, "fast", cmdIncrByFloat),
		strCmd("getrange", 4, ReadOnly, "slow", cmdGetRange),
		strCmd("substr", 4, ReadOnly, "slow", cmdGetRange),
		strCmd("setrange", 4, Write|DenyOOM, "slow", cmdSetRange),
		&Command{Name: "mget", Arity: -2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: -1, KeyStep: 1,
			Categories: []string{"read", "string", "fast"}, Tips: []string{"request_policy:multi_shard"}, Handler: cmdMGet},
		&Command{Name: "mset", Arity: -3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: -1, KeyStep: 2,
			Categories: []string{"write", "string", "slow"},
			Tips:       []string{"request_policy:multi_shard", "response_policy:all_succeeded"}, Handler: cmdMSet},
		&Command{Name: "msetnx", Arity: -3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: -1, KeyStep: 2,
			Categories: []string{"write", "string", "slow"},
			Tips:       []string{"request_policy:multi_shard", "response_policy:agg_min"}, Handler: cmdMSet},
		&Command{Name: "lcs", Arity: -3, Flags: ReadOnly, FirstKey: 1, LastKey: 2, KeyStep: 1,
			Categories: []string{"read", "string", "slow"}, Handler: cmdLCS},
	)
}

// familyCategories returns the ACL categories of a command of one family:
// read or write (from its flags), the family, then fast or slow.
func familyCategories(flags Flags, family, speed string) []string {
	rw := "read"
	if flags&Write != 0 {
		rw = "write"
	}
	return []string{rw, family, speed}
}

// familyCommand returns the constructor of family's single-key commands
// (the key at argument 1), whose ACL categories are familyCategories'.
func familyCommand(family string) func(name string, arity int, flags Flags, speed string, h Handler) *Command {
	return func(name string, arity int, flags Flags, speed string, h Handler) *Command {
		return &Command{Name: name, Arity: arity, Flags: flags, FirstKey: 1, LastKey: 1, KeyStep: 1,
			Categories: familyCategories(flags, family, speed), Handler: h}
	}
}

// Errors of the string family.
const (
	errStringTooLong = "ERR string exceeds maximum allowed size (proto-max-bulk-len)"
	errOffsetRange   = "ERR offset is out of range"
	errFloatOverflow = "ERR increment would produce NaN or Infinity"
	errDecrOverflow  = "ERR decrement would overflow"
)

// defaultProtoMaxBulkLen is proto-max-bulk-len when no server is attached
// (unit tests).
const defaultProtoMaxBulkLen = 512 << 20

// maxStringLen is the largest string a command may build: Redis refuses to
// grow a string past proto-max-bulk-len (checkStringLength).
func maxStringLen(c *Ctx) int64 {
	if c.Server == nil {
		return defaultProtoMaxBulkLen
	}
	return c.Server.Config().Limits().ProtoMaxBulkLen
}

// checkStringLength replies with Redis's error and returns false when a
// string of size bytes would exceed proto-max-bulk-len.
func checkStringLength(c *Ctx, size int64) bool {
	if size > maxStringLen(c) {
		c.W.Error(errStringTooLong)
		return false
	}
	return true
}

// lookupString returns the string under key for a client read (it counts a
// keyspace hit or miss), replying WRONGTYPE for other types. A missing key
// gives (nil, true).
func lookupString(c *Ctx, key []byte) (*memtier.Object, bool) {
	return c.LookupType(key, memtier.TypeString)
}

// lookupStringWrite is lookupString for a command about to write the key:
// like Redis's lookupKeyWrite it does not count hits and misses.
func lookupStringWrite(c *Ctx, key []byte) (*memtier.Object, bool) {
	o := c.DB.LookupWrite(key)
	if o != nil && o.Type != memtier.TypeString {
		c.W.Error(ErrWrongType)
		return nil, false
	}
	return o, true
}

// newIntString returns an int-encoded string object holding n.
func newIntString(n int64) *memtier.Object {
	return memtier.NewStringEncoded(memtier.EncInt, strconv.AppendInt(make([]byte, 0, 20), n, 10))
}

// newPlainString returns a string object that owns b, encoded embstr or raw
// by length but never int: Redis's createStringObject, which INCRBYFLOAT
// uses for its result.
func newPlainString(b []byte) *memtier.Object {
	enc := memtier.EncEmbstr
	if len(b) > 44 {
		enc = memtier.EncRaw
	}
	return memtier.NewStringEncoded(enc, b)
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
	c.W.Bulk(o.Bytes())
}

// getGeneric is Redis's getGenericCommand: it replies with the string
// under key (or null) and reports false after replying WRONGTYPE.
func getGeneric(c *Ctx, key []byte) bool {
	o, ok := lookupString(c, key)
	if !ok {
		return false
	}
	if o == nil {
		c.W.Null()
	} else {
		c.W.Bulk(o.Bytes())
	}
	return true
}

// strOpts are the options of SET and GETEX, as Redis's
// parseExtendedStringArgumentsOrReply flags them.
type strOpts uint16

const (
	optNX strOpts = 1 << iota
	optXX
	optGet
	optKeepTTL
	optPersist
	optEX
	optPX
	optEXAT
	optPXAT

	optExpire = optEX | optPX | optEXAT | optPXAT
)

// parseStringOptions parses the options of SET (forSet) or GETEX from
// args[from:], with Redis's rules: NX and XX exclude each other, one kind
// of expiry may be given (repeating the same kind keeps the last value),
// KEEPTTL and PERSIST exclude any expiry. It returns the expiry argument
// unparsed: Redis validates it only after the whole syntax is checked.
func parseStringOptions(c *Ctx, from int, forSet bool) (opts strOpts, expire []byte, ok bool) {
	for j := from; j < len(c.Args); j++ {
		hasNext := j+1 < len(c.Args)
		var kind strOpts
		switch {
		case c.ArgIs(j, "nx") && forSet && opts&optXX == 0:
			opts |= optNX
		case c.ArgIs(j, "xx") && forSet && opts&optNX == 0:
			opts |= optXX
		case c.ArgIs(j, "get") && forSet:
			opts |= optGet
		case c.ArgIs(j, "keepttl") && forSet && opts&(optPersist|optExpire) == 0:
			opts |= optKeepTTL
		case c.ArgIs(j, "persist") && !forSet && opts&(optKeepTTL|optExpire) == 0:
			opts |= optPersist
		case c.ArgIs(j, "ex"):
			kind = optEX
		case c.ArgIs(j, "px"):
			kind = optPX
		case c.ArgIs(j, "exat"):
			kind = optEXAT
		case c.ArgIs(j, "pxat"):
			kind = optPXAT
		default:
			c.W.Error(ErrSyntax)
			return 0, nil, false
		}
		if kind == 0 {
			continue
		}
		if !hasNext || opts&(optKeepTTL|optPersist|(optExpire&^kind)) != 0 {
			c.W.Error(ErrSyntax)
			return 0, nil, false
		}
		opts |= kind
		j++
		expire = c.Args[j]
	}
	return opts, expire, true
}

// expireAtMs converts an EX/PX/EXAT/PXAT argument to an absolute Unix ms
// deadline as Redis's getExpireMillisecondsOrReply does: the value must be
// a positive integer that does not overflow in milliseconds, nor once the
// current time is added to a relative one.
func expireAtMs(c *Ctx, opts strOpts, arg []byte) (int64, bool) {
	n, ok := resp.ParseInt(arg)
	if !ok {
		c.W.Error(ErrNotInteger)
		return 0, false
	}
	invalid := func() (int64, bool) {
		c.W.Error("ERR invalid expire time in '" + c.Cmd.Name + "' command")
		return 0, false
	}
	if n <= 0 {
		return invalid()
	}
	if opts&(optEX|optEXAT) != 0 {
		if n > (1<<63-1)/1000 {
			return invalid()
		}
		n *= 1000
	}
	if opts&(optEX|optPX) != 0 {
		now := c.KS.NowMs()
		if n > 1<<63-1-now {
			return invalid()
		}
		n += now
	}
	return n, true
}

func cmdSet(c *Ctx) {
	key := c.Args[1]
	if len(c.Args) == 3 { // the hot path: no options to parse
		c.DB.SetString(key, c.Args[2])
		c.KeyChanged(EventString, "set", key)
		c.W.OK()
		return
	}
	opts, expire, ok := parseStringOptions(c, 3, true)
	if !ok {
		return
	}
	setGeneric(c, opts, key, c.Args[2], expire, false)
}

// setGeneric is Redis's setGenericCommand: it validates the expiry, runs
// the GET option, honours NX/XX and stores val. SETNX (nxReply) replies
// 1 or 0 instead of OK or null.
func setGeneric(c *Ctx, opts strOpts, key, val, expire []byte, nxReply bool) {
	var at int64
	if expire != nil {
		var ok bool
		if at, ok = expireAtMs(c, opts, expire); !ok {
			return
		}
	}
	if opts&optGet != 0 && !getGeneric(c, key) {
		return
	}
	found := c.DB.LookupWrite(key) != nil
	if (opts&optNX != 0 && found) || (opts&optXX != 0 && !found) {
		switch {
		case opts&optGet != 0: // GET already replied
		case nxReply:
			c.W.Int(0)
		default:
			c.W.Null()
		}
		return
	}
	o := memtier.NewString(val)
	if opts&optKeepTTL != 0 {
		c.DB.SetKeepTTL(key, o)
	} else {
		c.DB.Set(key, o)
	}
	c.KeyChanged(EventString, "set", key)
	if expire != nil {
		c.DB.SetExpire(key, at)
		c.KeyChanged(EventGeneric, "expire", key)
		if opts&optPXAT == 0 {
			// A relative or seconds deadline is logged as the absolute one
			// (Redis 7's SET key value PXAT ms), for SETEX and PSETEX too.
			c.Propagate(cmdName("set"), key, val, cmdName("pxat"), intArg(at))
		}
	}
	switch {
	case opts&optGet != 0:
	case nxReply:
		c.W.Int(1)
	default:
		c.W.OK()
	}
}

func cmdSetNX(c *Ctx) {
	setGeneric(c, optNX, c.Args[1], c.Args[2], nil, true)
}

// cmdSetEX serves SETEX (seconds) and PSETEX (milliseconds).
func cmdSetEX(c *Ctx) {
	opts := optEX
	if c.Cmd.Name == "psetex" {
		opts = optPX
	}
	setGeneric(c, opts, c.Args[1], c.Args[3], c.Args[2], false)
}

func cmdGetSet(c *Ctx) {
	key := c.Args[1]
	if !getGeneric(c, key) {
		return
	}
	c.DB.Set(key, memtier.NewString(c.Args[2]))
	c.KeyChanged(EventString, "set", key)
}

func cmdGetDel(c *Ctx) {
	key := c.Args[1]
	o, ok := lookupString(c, key)
	if !ok {
		return
	}
	if o == nil {
		c.W.Null()
		return
	}
	c.W.Bulk(o.Bytes())
	c.DB.Delete(key)
	c.KeyChanged(EventGeneric, "del", key)
	c.Propagate(cmdName("del"), key)
}

func cmdGetEx(c *Ctx) {
	key := c.Args[1]
	opts, expire, ok := parseStringOptions(c, 2, false)
	if !ok {
		return
	}
	o, ok := lookupString(c, key)
	if !ok {
		return
	}
	if o == nil {
		c.W.Null()
		return
	}
	var at int64
	if expire != nil {
		if at, ok = expireAtMs(c, opts, expire); !ok {
			return
		}
	}
	c.W.Bulk(o.Bytes())
	switch {
	case opts&(optEXAT|optPXAT) != 0 && at <= c.KS.NowMs():
		// An absolute deadline already past deletes the key at once.
		c.DB.Delete(key)
		c.KeyChanged(EventGeneric, "del", key)
		c.Propagate(cmdName("del"), key)
	case expire != nil:
		c.DB.SetExpire(key, at)
		c.KeyChanged(EventGeneric, "expire", key)
		c.Propagate(cmdName("pexpireat"), key, intArg(at))
	case opts&optPersist != 0:
		if c.DB.Persist(key) {
			c.KeyChanged(EventGeneric, "persist", key)
			c.Propagate(cmdName("persist"), key)
		}
	}
}

func cmdMGet(c *Ctx) {
	c.W.Array(len(c.Args) - 1)
	for _, key := range c.Args[1:] {
		o := c.DB.Get(key)
		if o == nil || o.Type != memtier.TypeString {
			c.W.Null()
		} else {
			c.W.Bulk(o.Bytes())
		}
	}
}

// cmdMSet serves MSET and MSETNX; MSETNX sets nothing, and replies 0, when
// any of the keys exists.
func cmdMSet(c *Ctx) {
	if len(c.Args)%2 == 0 {
		c.W.Error(WrongArity(c.Cmd.Name))
		return
	}
	nx := c.Cmd.Name == "msetnx"
	if nx {
		for j := 1; j < len(c.Args); j += 2 {
			if c.DB.LookupWrite(c.Args[j]) != nil {
				c.W.Int(0)
				return
			}
		}
	}
	for j := 1; j < len(c.Args); j += 2 {
		c.DB.SetString(c.Args[j], c.Args[j+1])
		c.KeyChanged(EventString, "set", c.Args[j])
	}
	if nx {
		c.W.Int(1)
	} else {
		c.W.OK()
	}
}

func cmdAppend(c *Ctx) {
	key, val := c.Args[1], c.Args[2]
	o, ok := lookupStringWrite(c, key)
	if !ok {
		return
	}
	if o == nil {
		o = memtier.NewString(val)
		c.DB.Set(key, o)
	} else {
		if !checkStringLength(c, int64(len(o.Bytes()))+int64(len(val))) {
			return
		}
		// Redis unshares the value into a raw string and appends in place.
		o.SetBytes(append(o.Bytes(), val...))
		o.Enc = memtier.EncRaw
		c.DB.SetKeepTTL(key, o)
	}
	c.KeyChanged(EventString, "append", key)
	c.W.Int(int64(len(o.Bytes())))
}

func cmdStrlen(c *Ctx) {
	if o := orZero(c, lookupString); o != nil {
		c.W.Int(int64(len(o.Bytes())))
	}
}

func cmdIncr(c *Ctx) { incrDecr(c, 1) }
func cmdDecr(c *Ctx) { incrDecr(c, -1) }

func cmdIncrBy(c *Ctx) {
	if n, ok := c.Int(2); ok {
		incrDecr(c, n)
	}
}

func cmdDecrBy(c *Ctx) {
	n, ok := c.Int(2)
	if !ok {
		return
	}
	if n == -1<<63 {
		c.W.Error(errDecrOverflow)
		return
	}
	incrDecr(c, -n)
}

// addOverflows reports whether v+incr leaves the int64 range: Redis's
// check for INCRBY, DECRBY and HINCRBY.
func addOverflows(v, incr int64) bool {
	return (incr < 0 && v < 0 && incr < minInt64-v) || (incr > 0 && v > 0 && incr > maxInt64-v)
}

// incrDecr adds incr to the integer under args[1] (a missing key counts as
// 0), keeping its TTL, with Redis's overflow check.
func incrDecr(c *Ctx, incr int64) {
	key := c.Args[1]
	o, ok := lookupStringWrite(c, key)
	if !ok {
		return
	}
	var v int64
	if o != nil {
		if v, ok = resp.ParseInt(o.Bytes()); !ok {
			c.W.Error(ErrNotInteger)
			return
		}
	}
	if addOverflows(v, incr) {
		c.W.Error(ErrOverflow)
		return
	}
	v += incr
	switch {
	case o == nil:
		c.DB.Set(key, newIntString(v))
	case o.Enc == memtier.EncInt:
		// The object owns Str: rewrite it in place, as the hot path
		// allocates nothing.
		o.SetBytes(strconv.AppendInt(o.Bytes()[:0], v, 10))
		c.DB.SetKeepTTL(key, o)
	default:
		c.DB.SetKeepTTL(key, newIntString(v))
	}
	c.KeyChanged(EventString, "incrby", key)
	c.W.Int(v)
}

func cmdIncrByFloat(c *Ctx) {
	key := c.Args[1]
	o, ok := lookupStringWrite(c, key)
	if !ok {
		return
	}
	var cur longDouble
	if o != nil {
		if cur, ok = parseLongDouble(o.Bytes()); !ok {
			c.W.Error(ErrNotFloat)
			return
		}
	}
	incr, ok := parseLongDouble(c.Args[2])
	if !ok {
		c.W.Error(ErrNotFloat)
		return
	}
	sum, ok := cur.add(incr)
	if !ok {
		c.W.Error(errFloatOverflow)
		return
	}
	n := newPlainString(sum.appendHuman(nil))
	if o == nil {
		c.DB.Set(key, n)
	} else {
		c.DB.SetKeepTTL(key, n)
	}
	c.KeyChanged(EventString, "incrbyfloat", key)
	// The sum depends on the float formatting of this build: the log gets
	// the value, keeping the TTL (Redis's SET key value KEEPTTL).
	c.Propagate(cmdName("set"), key, n.Bytes(), cmdName("keepttl"))
	c.W.Bulk(n.Bytes())
}

// cmdGetRange serves GETRANGE and its old name SUBSTR.
func cmdGetRange(c *Ctx) {
	start, ok := c.Int(2)
	if !ok {
		return
	}
	end, ok := c.Int(3)
	if !ok {
		return
	}
	o, ok := lookupString(c, c.Args[1])
	if !ok {
		return
	}
	if o == nil {
		c.W.Bulk(nil)
		return
	}
	from, to, ok := clampRange(start, end, int64(len(o.Bytes())))
	if !ok {
		c.W.Bulk(nil)
		return
	}
	c.W.Bulk(o.Bytes()[from : to+1])
}

// clampRange converts GETRANGE's inclusive start and end (negative counts
// from the end) to valid indexes of a string of n bytes, as Redis does; ok
// is false when the range is empty.
func clampRange(start, end, n int64) (from, to int64, ok bool) {
	if start < 0 && end < 0 && start > end {
		return 0, 0, false
	}
	if start < 0 {
		start += n
	}
	if end < 0 {
		end += n
	}
	start, end = max(start, 0), max(end, 0)
	if end >= n {
		end = n - 1
	}
	if start > end || n == 0 {
		return 0, 0, false
	}
	return start, end, true
}

func cmdSetRange(c *Ctx) {
	key, val := c.Args[1], c.Args[3]
	offset, ok := c.Int(2)
	if !ok {
		return
	}
	if offset < 0 {
		c.W.Error(errOffsetRange)
		return
	}
	o, ok := lookupStringWrite(c, key)
	if !ok {
		return
	}
	if o == nil && len(val) == 0 {
		c.W.Int(0)
		return
	}
	if o != nil && len(val) == 0 {
		c.W.Int(int64(len(o.Bytes())))
		return
	}
	// Compared as a difference so a huge offset cannot overflow, and
	// before any allocation.
	if offset > maxStringLen(c)-int64(len(val)) {
		c.W.Error(errStringTooLong)
		return
	}
	size := int(offset) + len(val)
	if o == nil {
		b := make([]byte, size)
		copy(b[offset:], val)
		o = memtier.NewRawString(b)
		c.DB.Set(key, o)
	} else {
		o.SetBytes(growZero(o.Bytes(), size))
		copy(o.Bytes()[offset:], val)
		o.Enc = memtier.EncRaw
		c.DB.SetKeepTTL(key, o)
	}
	c.KeyChanged(EventString, "setrange", key)
	c.W.Int(int64(len(o.Bytes())))
}

// growZero extends b with zero bytes to at least n bytes, as Redis's
// sdsgrowzero.
func growZero(b []byte, n int) []byte {
	if n <= len(b) {
		return b
	}
	old := len(b)
	if n <= cap(b) {
		b = b[:n]
		clear(b[old:])
		return b
	}
	return append(b, make([]byte, n-old)...)
}
