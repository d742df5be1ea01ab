package commands

import (
	"strings"

	"github.com/structd/structd/memtier"
)

// Element-level change tracking for checkpoints (invariant 8 within a
// key): when a command's logged effect names exactly the elements it
// changed (HSET's fields, SREM's members, ...), the keyspace remembers only
// those for the key, and the next checkpoint writes them and the key's
// metadata instead of the whole collection. Every other change marks the
// whole key. The effect, not the call, is what counts: SPOP is logged as
// the SREM of what it popped.

// elementEffects gives, for each effect command that changes only the
// elements it names, those elements (args[1] is the key).
var elementEffects = map[string]func(args [][]byte) [][]byte{
	"hset":         everyOther(2),
	"hmset":        everyOther(2),
	"hsetnx":       everyOther(2),
	"hdel":         from(2),
	"hincrby":      at(2),
	"hincrbyfloat": at(2),
	"sadd":         from(2),
	"srem":         from(2),
	"zrem":         from(2),
	"zincrby":      at(3),
	"zadd":         zaddMembers,
}

func from(i int) func([][]byte) [][]byte {
	return func(args [][]byte) [][]byte { return args[i:] }
}

func at(i int) func([][]byte) [][]byte {
	return func(args [][]byte) [][]byte { return args[i : i+1] }
}

// everyOther picks field names from field-value pairs starting at i.
func everyOther(i int) func([][]byte) [][]byte {
	return func(args [][]byte) [][]byte {
		out := make([][]byte, 0, (len(args)-i)/2)
		for j := i; j < len(args); j += 2 {
			out = append(out, args[j])
		}
		return out
	}
}

// zaddMembers picks ZADD's members: after its option words, score-member
// pairs.
func zaddMembers(args [][]byte) [][]byte {
	i := 2
	for ; i < len(args); i++ {
		switch strings.ToLower(string(args[i])) {
		case "nx", "xx", "gt", "lt", "ch", "incr":
			continue
		}
		break
	}
	out := make([][]byte, 0, (len(args)-i)/2)
	for j := i + 1; j < len(args); j += 2 {
		out = append(out, args[j])
	}
	return out
}

// changedKey is a key a handler changed, whose marking waits until its
// effects are known (Ctx.deferred).
type changedKey struct {
	db  *memtier.DB
	key []byte
}

// markChanged records key of db as changed: at once as a whole-key change,
// or, for a command whose effects may name its elements, after the
// handler (resolveChanged).
func (c *Ctx) markChanged(db *memtier.DB, key []byte) {
	if !c.KS.Persistent() {
		return
	}
	if c.Cmd != nil && elementCommand(c.Cmd.Name) {
		c.deferred = append(c.deferred, changedKey{db, key})
		return
	}
	db.MarkDirty(key)
}

// elementCommand reports whether a command's effects may be element-level
// ones (SPOP's effect is SREM).
func elementCommand(name string) bool {
	_, ok := elementEffects[name]
	return ok || name == "spop"
}

// resolveChanged marks the keys the handler deferred, using effects (the
// handler's own): a key whose every effect is element-level gets those
// elements, any other the whole key.
func (c *Ctx) resolveChanged(effects []Effect) {
	for _, ck := range c.deferred {
		var elems [][]byte
		whole := false
		for _, e := range effects {
			if e.DB != ck.db.ID() || len(e.Args) < 2 || string(e.Args[1]) != string(ck.key) {
				continue
			}
			pick := elementEffects[strings.ToLower(string(e.Args[0]))]
			if pick == nil {
				whole = true
				break
			}
			elems = append(elems, pick(e.Args)...)
		}
		if whole || elems == nil {
			ck.db.MarkDirty(ck.key)
		} else {
			ck.db.MarkDirtyElems(ck.key, elems)
		}
	}
	clear(c.deferred)
	c.deferred = c.deferred[:0]
}
