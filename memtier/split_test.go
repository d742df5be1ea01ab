package memtier

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/structd/structd/memtier/types"
)

// written is what a checkpoint got for one key: "del", the string value,
// or the hash fields it was told changed.
type writtenKeys map[string]string

// recordingWriter is a SlotWriter that keeps what it is handed, and the
// slot counts.
type recordingWriter struct {
	keys   writtenKeys
	counts map[int]SlotCount
}

func newRecordingWriter() *recordingWriter {
	return &recordingWriter{keys: writtenKeys{}, counts: map[int]SlotCount{}}
}

func (w *recordingWriter) WriteSlot(db, slot int, rewrite bool, count SlotCount, entries []SlotEntry) error {
	w.counts[slot] = count
	for _, e := range entries {
		switch {
		case e.Obj == nil:
			w.keys[e.Key] = "del"
		case e.Elems != nil:
			fields := slices.Clone(e.Elems)
			slices.Sort(fields)
			w.keys[e.Key] = fmt.Sprint(fields)
		case e.Obj.Type == TypeString:
			w.keys[e.Key] = string(e.Obj.Bytes())
		default:
			w.keys[e.Key] = "whole"
		}
	}
	return nil
}

// The tests run on one goroutine without locks: WriteSlot and
// EndCheckpoint take the keyspace's own.

// checkpointStep runs a checkpoint of slot s of database 0 by hand: begin,
// then writes (the clients' part, front-running keys into aside), then the
// walker's visit into walker, then the end.
func checkpointStep(ks *Keyspace, s int, aside, walker *recordingWriter, writes func(), commit bool) {
	ks.BeginCheckpoint(func(db, slot int, write func(SlotWriter) error) error { return write(aside) })
	writes()
	if _, err := ks.WriteSlot(0, s, walker); err != nil {
		panic(err)
	}
	ks.EndCheckpoint(commit)
}

// write is a client write of key as commands.Exec does it: prepare, then
// change.
func write(ks *Keyspace, key string, change func(db *DB, key []byte)) {
	ks.PrepareWrite([][]byte{[]byte(key)}, []int{0})
	change(ks.DB(0), []byte(key))
}

func setString(v string) func(db *DB, key []byte) {
	return func(db *DB, key []byte) { db.SetString(key, []byte(v)) }
}

func hset(field string) func(db *DB, key []byte) {
	return func(db *DB, key []byte) {
		db.Peek(key).Payload().(*types.Hash).Set([]byte(field), []byte("x"), types.DefaultHashLimits)
		db.MarkDirtyElems(key, [][]byte{[]byte(field)})
	}
}

// A write during a checkpoint front-runs only the keys it names (the slot
// becomes split): a key dirty at P goes aside as it was at P (its changed
// elements only, if known), a key clean or absent at P goes nowhere. The
// walker then writes the keys dirty at P that no write touched, with the
// slot's count at P (less a key that expired meanwhile), and the changes
// made after P are what the next checkpoint writes.
func TestFrontRunSplitsSlot(t *testing.T) {
	clock := NewManualClock(1_700_000_000_000)
	ks := New(16, clock)
	if err := ks.AttachStore(coldMap{}); err != nil {
		t.Fatal(err)
	}
	db := ks.DB(0)
	key := func(name string) string { return "{s}" + name }
	s := SlotOf([]byte(key("a")))

	// Checkpoint 1 makes clean, on disk: a, b, c, h (a hash).
	for _, k := range []string{"a", "b", "c", "clean"} {
		db.SetString([]byte(key(k)), []byte(k+"1"))
	}
	db.Set([]byte(key("h")), bigHash(10))
	checkpointStep(ks, s, newRecordingWriter(), newRecordingWriter(), func() {}, true)

	// Dirty at P: a changed, b deleted, c with a TTL about to pass, h's
	// field f1; "clean" stays clean.
	db.SetString([]byte(key("a")), []byte("a2"))
	db.Delete([]byte(key("b")))
	db.SetExpire([]byte(key("c")), clock.NowMs()+1000)
	hset("f1")(db, []byte(key("h")))
	if n := ks.Persist.DirtyKeys.Load(); n != 4 {
		t.Fatalf("DirtyKeys = %d before the checkpoint, want 4", n)
	}

	aside, walker := newRecordingWriter(), newRecordingWriter()
	checkpointStep(ks, s, aside, walker, func() {
		write(ks, key("a"), setString("a3"))
		write(ks, key("b"), setString("b3"))
		write(ks, key("h"), hset("f2"))
		write(ks, key("new"), setString("new3"))
		write(ks, key("clean"), setString("clean3"))
		clock.Advance(2 * time.Second)
		if db.Peek([]byte(key("c"))) != nil {
			t.Fatal("c did not expire")
		}
	}, true)
	wantAside := writtenKeys{key("a"): "a2", key("b"): "del", key("h"): "[f1]"}
	if !equalWritten(aside.keys, wantAside) {
		t.Errorf("front-run wrote %v, want %v", aside.keys, wantAside)
	}
	if want := (writtenKeys{key("c"): "del"}); !equalWritten(walker.keys, want) {
		t.Errorf("walker wrote %v, want %v", walker.keys, want)
	}
	// At P the slot held a, c (with a TTL), clean, h (b was deleted); c
	// expired since.
	if aside.counts[s] != (SlotCount{4, 1}) || walker.counts[s] != (SlotCount{3, 0}) {
		t.Errorf("slot counts: front-run %v, walker %v; want {4 1} then {3 0}", aside.counts[s], walker.counts[s])
	}
	if n := ks.Persist.UnpreparedWrites.Load(); n != 0 {
		t.Errorf("UnpreparedWrites = %d", n)
	}

	next := newRecordingWriter()
	checkpointStep(ks, s, newRecordingWriter(), next, func() {}, true)
	wantNext := writtenKeys{key("a"): "a3", key("b"): "b3", key("h"): "[f2]", key("new"): "new3", key("clean"): "clean3"}
	if !equalWritten(next.keys, wantNext) {
		t.Errorf("next checkpoint wrote %v, want %v", next.keys, wantNext)
	}
	if next.counts[s] != (SlotCount{5, 0}) { // a, b, clean, h, new
		t.Errorf("next checkpoint's slot count %v, want {5 0}", next.counts[s])
	}
	if n := ks.Persist.DirtyKeys.Load(); n != 0 {
		t.Errorf("DirtyKeys = %d after the checkpoints, want 0", n)
	}
}

// A checkpoint that fails after writes split a slot leaves every change
// dirty: the keys dirty at P (front-run or not, whole when front-run) and
// those changed after P.
func TestFailedCheckpointKeepsSplitChanges(t *testing.T) {
	ks := New(16, SystemClock{})
	if err := ks.AttachStore(coldMap{}); err != nil {
		t.Fatal(err)
	}
	db := ks.DB(0)
	key := func(name string) string { return "{s}" + name }
	s := SlotOf([]byte(key("a")))
	db.Set([]byte(key("h")), bigHash(10))
	db.SetString([]byte(key("a")), []byte("a1"))
	checkpointStep(ks, s, newRecordingWriter(), newRecordingWriter(), func() {}, true)
	hset("f1")(db, []byte(key("h")))
	db.SetString([]byte(key("a")), []byte("a2"))
	db.SetString([]byte(key("b")), []byte("b2"))

	// The walker never gets to the slot.
	ks.BeginCheckpoint(func(db, slot int, write func(SlotWriter) error) error { return write(newRecordingWriter()) })
	write(ks, key("h"), hset("f2"))
	write(ks, key("c"), setString("c3"))
	ks.EndCheckpoint(false)

	next := newRecordingWriter()
	checkpointStep(ks, s, newRecordingWriter(), next, func() {}, true)
	want := writtenKeys{key("h"): "whole", key("a"): "a2", key("b"): "b2", key("c"): "c3"}
	if !equalWritten(next.keys, want) {
		t.Errorf("after a failed checkpoint the next wrote %v, want %v", next.keys, want)
	}
	if next.counts[s] != (SlotCount{4, 0}) {
		t.Errorf("slot count %v, want {4 0}", next.counts[s])
	}
	if n := ks.Persist.DirtyKeys.Load(); n != 0 {
		t.Errorf("DirtyKeys = %d, want 0", n)
	}
}

func equalWritten(got, want writtenKeys) bool {
	if len(got) != len(want) {
		return false
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}
