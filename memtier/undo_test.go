package memtier

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/structd/structd/memtier/types"
)

// coldMap is a ColdStore over a map of database 0's keys.
type coldMap map[string]*Object

func (m coldMap) Load(db int, key []byte) (*Object, int64, error) {
	if o, ok := m[string(key)]; ok && db == 0 {
		return o.Clone(), 0, nil
	}
	return nil, 0, nil
}

func (m coldMap) Probe(db int, key []byte) (Type, int64, bool, error) {
	if o, ok := m[string(key)]; ok && db == 0 {
		return o.Type, 0, true, nil
	}
	return 0, 0, false, nil
}

func (m coldMap) LoadSlot(db, slot int, fn func(key []byte, o *Object, expireAt int64) bool) error {
	for k, o := range m {
		if db == 0 && SlotOf([]byte(k)) == slot && !fn([]byte(k), o.Clone(), 0) {
			break
		}
	}
	return nil
}

func (m coldMap) SlotKeys(db, slot int, fn func(key []byte, expireAt int64) bool) error {
	return m.LoadSlot(db, slot, func(key []byte, _ *Object, at int64) bool { return fn(key, at) })
}

func (m coldMap) SlotCounts(db int, fn func(slot int, keys, expires int64) bool) error {
	if db != 0 {
		return nil
	}
	counts := map[int]int64{}
	for k := range m {
		counts[SlotOf([]byte(k))]++
	}
	for s, n := range counts {
		fn(s, n, 0)
	}
	return nil
}

func bigHash(n int) *Object {
	h := types.NewHash()
	for i := range n {
		s := strconv.Itoa(i)
		h.Set([]byte("f"+s), []byte("v"+s), types.DefaultHashLimits)
	}
	return NewCollection(h)
}

func hashField(db *DB, key, field string) string {
	o := db.Peek([]byte(key))
	if o == nil {
		return "(no key)"
	}
	v, ok := o.Payload().(*types.Hash).Get([]byte(field))
	if !ok {
		return "(nil)"
	}
	return v.String()
}

// TestUndoColdKeys: the first save of a key on disk faults it in, so its
// before-image is its real value, and a rollback leaves the keyspace's
// counts as they were.
func TestUndoColdKeys(t *testing.T) {
	ks := New(16, SystemClock{})
	cold := coldMap{"str": NewString([]byte("on disk")), "big": bigHash(2000)}
	if err := ks.AttachStore(cold); err != nil {
		t.Fatal(err)
	}
	db := ks.DB(0)
	ks.LockAll()
	defer ks.UnlockAll()
	u := NewUndoLog()
	ks.BeginUndo(u)
	u.SaveKey(db, []byte("str"))
	u.SaveElems(db, []byte("big"), [][]byte{[]byte("f1"), []byte("new")})
	if got := ks.Persist.ColdKeys.Load(); got != 0 {
		t.Fatalf("cold keys after saving both: %d", got)
	}
	if got := ks.UndoStats.ElementEntries.Load(); got != 1 {
		t.Fatalf("element entries %d, want 1 (the big hash)", got)
	}
	db.Delete([]byte("str"))
	h := db.Peek([]byte("big")).Payload().(*types.Hash)
	h.Set([]byte("f1"), []byte("changed"), types.DefaultHashLimits)
	h.Set([]byte("new"), []byte("x"), types.DefaultHashLimits)
	u.SaveKey(db, []byte("created"))
	db.Set([]byte("created"), NewString([]byte("x")))
	u.Rollback(ks)
	ks.EndUndo()
	if o := db.Peek([]byte("str")); o == nil || string(o.Bytes()) != "on disk" {
		t.Fatalf("str after rollback: %v", o)
	}
	if got := hashField(db, "big", "f1"); got != "v1" {
		t.Fatalf("big f1 = %s", got)
	}
	if got := hashField(db, "big", "new"); got != "(nil)" {
		t.Fatalf("big new = %s", got)
	}
	if db.Peek([]byte("created")) != nil {
		t.Fatal("created survived the rollback")
	}
	if db.Size() != 2 {
		t.Fatalf("dbsize %d, want 2", db.Size())
	}
}

// TestUndoEmptiedCollection: an element command that empties a big
// collection deletes the key; the rollback brings it back with its TTL.
func TestUndoEmptiedCollection(t *testing.T) {
	ks := New(16, SystemClock{})
	db := ks.DB(0)
	ks.LockAll()
	defer ks.UnlockAll()
	h := types.NewHash()
	h.Set([]byte("f"), []byte(fmt.Sprintf("%0100d", 1)), types.DefaultHashLimits) // hashtable
	db.Set([]byte("h"), NewCollection(h))
	db.SetExpire([]byte("h"), 1<<50)
	u := NewUndoLog()
	ks.BeginUndo(u)
	u.SaveElems(db, []byte("h"), [][]byte{[]byte("f")})
	h.Delete([]byte("f"))
	db.Delete([]byte("h"))
	u.Rollback(ks)
	ks.EndUndo()
	if got := hashField(db, "h", "f"); got != fmt.Sprintf("%0100d", 1) {
		t.Fatalf("h f = %q", got)
	}
	if db.Expire([]byte("h")) != 1<<50 {
		t.Fatalf("expire %d", db.Expire([]byte("h")))
	}
}

// TestUndoHoldsNewKeyEvents: the "new" event of a key created under an
// active log reaches OnNewKey only when the log commits.
func TestUndoHoldsNewKeyEvents(t *testing.T) {
	ks := New(16, SystemClock{})
	var events []string
	ks.OnNewKey = func(_ *DB, key []byte) { events = append(events, string(key)) }
	db := ks.DB(0)
	ks.LockAll()
	defer ks.UnlockAll()
	for _, commit := range []bool{false, true} {
		u := NewUndoLog()
		ks.BeginUndo(u)
		key := []byte(fmt.Sprint("k", commit))
		u.SaveKey(db, key)
		db.Set(key, NewString([]byte("v")))
		if len(events) != 0 {
			t.Fatalf("event delivered before the end: %v", events)
		}
		if commit {
			ks.EndUndo()
			u.Commit(ks)
		} else {
			u.Rollback(ks)
			ks.EndUndo()
		}
	}
	if len(events) != 1 || events[0] != "ktrue" {
		t.Fatalf("events %v, want [ktrue]", events)
	}
}
