package commands

import (
	"strconv"
	"strings"

	"github.com/structd/structd/internal/glob"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// The generic key commands. Redis emits keyspace events from them as the
// handlers below call KeyChanged: "del" per removed key, "rename_from" and
// "rename_to", "copy_to" (in the destination database).

func init() {
	keyspaceRead := []string{"keyspace", "read", "fast"}
	multiShard := []string{"request_policy:multi_shard", "response_policy:agg_sum"}
	keyspaceWrite := []string{"keyspace", "write", "fast"}
	objectSub := func(name string, h Handler) *Command {
		return &Command{Name: name, Arity: 3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, KeyStep: 1,
			Categories: []string{"keyspace", "read", "slow"}, Tips: []string{"nondeterministic_output"}, Handler: h}
	}
	register(
		&Command{Name: "del", Arity: -2, Flags: Write, FirstKey: 1, LastKey: -1, KeyStep: 1,
			Categories: []string{"keyspace", "write", "slow"}, Tips: multiShard, Handler: cmdDel},
		&Command{Name: "unlink", Arity: -2, Flags: Write | Fast, FirstKey: 1, LastKey: -1, KeyStep: 1,
			Categories: keyspaceWrite, Tips: multiShard, Handler: cmdDel},
		&Command{Name: "exists", Arity: -2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: -1, KeyStep: 1,
			Categories: keyspaceRead, Tips: multiShard, Handler: cmdExists},
		&Command{Name: "type", Arity: 2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: 1, KeyStep: 1,
			Categories: keyspaceRead, Handler: cmdType},
		&Command{Name: "touch", Arity: -2, Flags: ReadOnly | Fast, FirstKey: 1, LastKey: -1, KeyStep: 1,
			Categories: keyspaceRead, Tips: multiShard, Handler: cmdTouch},
		&Command{Name: "rename", Arity: 3, Flags: Write, FirstKey: 1, LastKey: 2, KeyStep: 1,
			Categories: []string{"keyspace", "write", "slow"}, Handler: func(c *Ctx) { rename(c, false) }},
		&Command{Name: "renamenx", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 2, KeyStep: 1,
			Categories: keyspaceWrite, Handler: func(c *Ctx) { rename(c, true) }},
		&Command{Name: "copy", Arity: -3, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 2, KeyStep: 1,
			Categories: []string{"keyspace", "write", "slow"}, Handler: cmdCopy},
		&Command{Name: "keys", Arity: 2, Flags: ReadOnly | KeyspaceWide,
			Categories: []string{"keyspace", "read", "slow", "dangerous"},
			Tips:       []string{"request_policy:all_shards", "nondeterministic_output_order"}, Handler: cmdKeys},
		&Command{Name: "scan", Arity: -2, Flags: ReadOnly | KeyspaceWide,
			Categories: []string{"keyspace", "read", "slow"},
			Tips:       []string{"nondeterministic_output", "request_policy:special"}, Handler: cmdScan},
		&Command{Name: "randomkey", Arity: 1, Flags: ReadOnly | KeyspaceWide,
			Categories: []string{"keyspace", "read", "slow"},
			Tips:       []string{"request_policy:all_shards", "nondeterministic_output"}, Handler: cmdRandomKey},
		&Command{Name: "object", Arity: -2, Categories: []string{"slow"},
			Subcommands: map[string]*Command{
				"encoding": objectSub("encoding", cmdObjectEncoding),
				"freq":     objectSub("freq", cmdObjectFreq),
				"idletime": objectSub("idletime", cmdObjectIdleTime),
				"refcount": objectSub("refcount", cmdObjectRefCount),
				"help": {Name: "help", Arity: 2, Flags: Loading | Stale,
					Categories: []string{"keyspace", "slow"}, Handler: cmdObjectHelp},
			}},
	)
}

// cmdDel is DEL and UNLINK: memory is reclaimed by the garbage collector
// either way, so UNLINK's lazy freeing needs nothing more.
func cmdDel(c *Ctx) {
	var n int64
	for _, key := range c.Args[1:] {
		if c.DB.Delete(key) {
			c.KeyChanged(EventGeneric, "del", key)
			n++
		}
	}
	c.W.Int(n)
}

// cmdExists counts a key as many times as it is named. A cold key's value
// stays on disk.
func cmdExists(c *Ctx) {
	countFound(c, func(key []byte) bool {
		_, _, found := c.DB.LookupInfo(key)
		return found
	})
}

// cmdTouch counts keys like EXISTS, refreshing their access time.
func cmdTouch(c *Ctx) {
	countFound(c, func(key []byte) bool { return c.DB.Get(key) != nil })
}

// countFound replies how many of the keys named from argument 1 on found
// reports, duplicates included.
func countFound(c *Ctx, found func(key []byte) bool) {
	var n int64
	for _, key := range c.Args[1:] {
		if found(key) {
			n++
		}
	}
	c.W.Int(n)
}

func cmdType(c *Ctx) {
	typ, _, found := c.DB.LookupInfo(c.Args[1])
	if !found {
		c.W.Simple("none")
		return
	}
	c.W.Simple(typ.String())
}

// rename is RENAME and RENAMENX. The value keeps its TTL; an existing
// destination is replaced silently (no "del" event), as in Redis.
func rename(c *Ctx, nx bool) {
	src, dst := c.Args[1], c.Args[2]
	o := c.DB.LookupWrite(src)
	if o == nil {
		c.W.Error(ErrNoSuchKey)
		return
	}
	if string(src) == string(dst) {
		if nx {
			c.W.Int(0)
		} else {
			c.W.OK()
		}
		return
	}
	expire := c.DB.Expire(src)
	if c.DB.LookupWrite(dst) != nil && nx {
		c.W.Int(0)
		return
	}
	c.DB.Set(dst, o)
	if expire != -1 {
		c.DB.SetExpire(dst, expire)
	}
	c.DB.Delete(src)
	c.KeyChanged(EventGeneric, "rename_from", src)
	c.KeyChanged(EventGeneric, "rename_to", dst)
	if nx {
		c.W.Int(1)
	} else {
		c.W.OK()
	}
}

// cmdCopy is COPY source destination [DB index] [REPLACE]. The slot locks
// of both keys cover every database, so the destination database needs no
// other lock.
func cmdCopy(c *Ctx) {
	dst := c.DB
	replace := false
	for i := 3; i < len(c.Args); i++ {
		switch {
		case c.ArgIs(i, "replace"):
			replace = true
		case c.ArgIs(i, "db") && i+1 < len(c.Args):
			i++
			db, ok := dbIndex(c, i)
			if !ok {
				return
			}
			dst = c.KS.DB(db)
		default:
			c.W.Error(ErrSyntax)
			return
		}
	}
	key, newKey := c.Args[1], c.Args[2]
	if dst == c.DB && string(key) == string(newKey) {
		c.W.Error(ErrSameObject)
		return
	}
	o := c.DB.Get(key)
	if o == nil {
		c.W.Int(0)
		return
	}
	expire := c.DB.Expire(key)
	if dst.LookupWrite(newKey) != nil && !replace {
		c.W.Int(0)
		return
	}
	dst.Set(newKey, o.Clone())
	if expire != -1 {
		dst.SetExpire(newKey, expire)
	}
	c.KeyChangedIn(dst, EventGeneric, "copy_to", newKey)
	c.W.Int(1)
}

// dbIndex parses argument i as a database index the way Redis's
// getIntFromObjectOrReply and selectDb do, replying with their errors.
func dbIndex(c *Ctx, i int) (int, bool) {
	n, ok := c.Int(i)
	if !ok {
		return 0, false
	}
	if n < -1<<31 || n > 1<<31-1 {
		c.W.Error(ErrIntRange)
		return 0, false
	}
	if n < 0 || n >= int64(c.KS.NumDBs()) {
		c.W.Error(ErrDBIndex)
		return 0, false
	}
	return int(n), true
}

// ErrIntRange is Redis's reply to an integer argument beyond a C int.
const ErrIntRange = "ERR value is out of range, value must between -2147483648 and 2147483647"

// matchAll reports whether pattern is "*", which KEYS and SCAN take to mean
// every key without calling the matcher (so "*" also matches the empty key,
// which the matcher does not).
func matchAll(pattern []byte) bool { return len(pattern) == 1 && pattern[0] == '*' }

func cmdKeys(c *Ctx) {
	pattern := c.Args[1]
	all := matchAll(pattern)
	var keys []string
	c.DB.Keys(func(k string) {
		if all || glob.Match(pattern, k) {
			keys = append(keys, k)
		}
	})
	c.W.Array(len(keys))
	for _, k := range keys {
		c.W.BulkString(k)
	}
}

// cmdScan is SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]. The
// cursor is the next slot to visit (see memtier.DB.ScanSlots). As in Redis,
// COUNT bounds the keys gathered before filtering, and filtering runs in
// order: pattern, then type, then expiry.
func cmdScan(c *Ctx) {
	cursor, ok := parseScanCursor(c.Args[1])
	if !ok {
		c.W.Error("ERR invalid cursor")
		return
	}
	count := int64(10)
	var pattern, typeName []byte
	for i := 2; i < len(c.Args); i += 2 {
		if i+1 >= len(c.Args) {
			c.W.Error(ErrSyntax)
			return
		}
		switch {
		case c.ArgIs(i, "count"):
			n, ok := c.Int(i + 1)
			if !ok {
				return
			}
			if n < 1 {
				c.W.Error(ErrSyntax)
				return
			}
			count = n
		case c.ArgIs(i, "match"):
			pattern = c.Args[i+1]
		case c.ArgIs(i, "type"):
			typeName = c.Args[i+1]
		default:
			c.W.Error(ErrSyntax)
			return
		}
	}
	var keys []string
	next := c.DB.ScanSlots(cursor, count, func(k string) { keys = append(keys, k) })
	usePattern := pattern != nil && !matchAll(pattern)
	kept := keys[:0]
	for _, k := range keys {
		if usePattern && !glob.Match(pattern, k) {
			continue
		}
		if typeName != nil {
			// Redis looks the key up to read its type (counting a hit or a
			// miss); a missing key's type is "none".
			o := c.DB.LookupNoTouch([]byte(k))
			name := "none"
			if o != nil {
				name = o.Type.String()
			}
			if !strings.EqualFold(cString(typeName), name) {
				continue
			}
		}
		if !c.DB.Live([]byte(k)) {
			continue
		}
		kept = append(kept, k)
	}
	c.W.Array(2)
	c.W.BulkString(strconv.FormatUint(next, 10))
	c.W.Array(len(kept))
	for _, k := range kept {
		c.W.BulkString(k)
	}
}

// parseScanCursor parses a SCAN cursor as Redis does with strtoul: an
// optional sign (a negative cursor wraps around), decimal digits, nothing
// after them but the end or a NUL byte; no leading space, no overflow. The
// empty string is cursor 0.
func parseScanCursor(b []byte) (uint64, bool) {
	if len(b) > 0 && isSpaceByte(b[0]) {
		return 0, false
	}
	i := 0
	neg := false
	if i < len(b) && (b[i] == '+' || b[i] == '-') {
		neg = b[i] == '-'
		i++
	}
	start := i
	var n uint64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := uint64(b[i] - '0')
		if n > (1<<64-1-d)/10 {
			return 0, false // ERANGE
		}
		n = n*10 + d
	}
	if i == start {
		// No digits: strtoul stops at the start of the string.
		return 0, len(b) == 0 || b[0] == 0
	}
	if i < len(b) && b[i] != 0 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}

// cString is b up to its first NUL byte, as C string functions see it.
func cString(b []byte) string {
	for i, ch := range b {
		if ch == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

func cmdRandomKey(c *Ctx) {
	k, ok := c.DB.RandomKey()
	if !ok {
		c.W.Null()
		return
	}
	c.W.BulkString(k)
}

// objectLookup is OBJECT's lookup: no access-time refresh, and a null reply
// for a missing key.
func objectLookup(c *Ctx) *memtier.Object {
	o := c.DB.LookupNoTouch(c.Args[2])
	if o == nil {
		c.W.Null()
	}
	return o
}

func cmdObjectEncoding(c *Ctx) {
	if o := objectLookup(c); o != nil {
		c.W.BulkString(o.EncodingName())
	}
}

// sharedRefCount is the reference count OBJECT REFCOUNT reports for Redis's
// shared integer objects (OBJ_SHARED_REFCOUNT).
const sharedRefCount = 1<<31 - 1

// sharedIntegers is how many small integers Redis shares (0..9999): string
// values with the int encoding in that range are shared objects.
const sharedIntegers = 10000

func cmdObjectRefCount(c *Ctx) {
	o := objectLookup(c)
	if o == nil {
		return
	}
	if o.Type == memtier.TypeString && o.Enc == memtier.EncInt {
		if n, ok := resp.ParseInt(o.Bytes()); ok && n >= 0 && n < sharedIntegers {
			c.W.Int(sharedRefCount)
			return
		}
	}
	c.W.Int(1)
}

// cmdObjectIdleTime reports seconds since the key was last read or written.
// Access times are tracked because no LFU maxmemory policy exists yet; with
// one, Redis refuses IDLETIME instead.
func cmdObjectIdleTime(c *Ctx) {
	if o := objectLookup(c); o != nil {
		c.W.Int(c.DB.IdleSeconds(o))
	}
}

// cmdObjectFreq refuses as Redis does without an LFU maxmemory policy, the
// only kind StructD runs with for now: access frequency is not tracked.
func cmdObjectFreq(c *Ctx) {
	if objectLookup(c) != nil {
		c.W.Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. " +
			"Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
	}
}

var objectHelp = []string{
	"ENCODING <key>",
	"    Return the kind of internal representation used in order to store the value",
	"    associated with a <key>.",
	"FREQ <key>",
	"    Return the access frequency index of the <key>. The returned integer is",
	"    proportional to the logarithm of the recent access frequency of the key.",
	"IDLETIME <key>",
	"    Return the idle time of the <key>, that is the approximated number of",
	"    seconds elapsed since the last access to the key.",
	"REFCOUNT <key>",
	"    Return the number of references of the value associated with the specified",
	"    <key>.",
}

func cmdObjectHelp(c *Ctx) { replyHelp(c, objectHelp) }
