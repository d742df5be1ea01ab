package memtier

import (
	"fmt"
	"maps"
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

// A checkpoint leaves out a database with nothing dirty at P: the walker
// skips it (CheckpointCovers), a write to it front-runs nothing and is not
// taken for P's, and its change is dirty for the next checkpoint, which
// covers it. A SWAPDB during a checkpoint puts a covered database's slots
// aside whole under the number it had at P, and the walker, finding the
// database moved into that number not covered, writes none of its data.
func TestCheckpointLeavesOutCleanDatabases(t *testing.T) {
	ks := New(3, SystemClock{})
	if err := ks.AttachStore(coldMap{}); err != nil {
		t.Fatal(err)
	}
	a := []byte("{s}a")
	s := SlotOf(a)
	// checkpoint begins a checkpoint, runs writes, lets the walker visit
	// slot s of each database it covers, and commits. It returns what went
	// aside and what the walker wrote, by database.
	checkpoint := func(covers [3]bool, writes func()) (aside, walker [3]*recordingWriter) {
		t.Helper()
		for i := range 3 {
			aside[i], walker[i] = newRecordingWriter(), newRecordingWriter()
		}
		ks.BeginCheckpoint(func(db, slot int, write func(SlotWriter) error) error { return write(aside[db]) })
		for i, want := range covers {
			if got := ks.CheckpointCovers(i); got != want {
				t.Fatalf("CheckpointCovers(%d) = %v, want %v", i, got, want)
			}
		}
		writes()
		for i := range 3 {
			if !ks.CheckpointCovers(i) {
				continue
			}
			if _, err := ks.WriteSlot(i, s, walker[i]); err != nil {
				t.Fatal(err)
			}
		}
		ks.EndCheckpoint(true)
		return aside, walker
	}
	got := func(aside, walker *recordingWriter) writtenKeys {
		all := writtenKeys{}
		maps.Copy(all, aside.keys)
		maps.Copy(all, walker.keys)
		return all
	}
	setIn := func(db int, v string) {
		ks.PrepareWrite([][]byte{a}, []int{0})
		ks.DB(db).SetString(a, []byte(v))
	}

	setIn(0, "0-1")
	setIn(1, "1-1")
	checkpoint([3]bool{true, true, false}, func() {})

	// Only database 0 is dirty at P; database 1 changes during the
	// checkpoint.
	// (The write names the key, so it front-runs the key in database 0.)
	setIn(0, "0-2")
	aside, walker := checkpoint([3]bool{true, false, false}, func() { setIn(1, "1-2") })
	if want := (writtenKeys{string(a): "0-2"}); !equalWritten(got(aside[0], walker[0]), want) {
		t.Errorf("the checkpoint got %v for database 0, want %v", got(aside[0], walker[0]), want)
	}
	for i := 1; i < 3; i++ {
		if w := got(aside[i], walker[i]); len(w) != 0 {
			t.Errorf("the checkpoint got %v for database %d, want nothing", w, i)
		}
	}
	if n := ks.Persist.UnpreparedWrites.Load(); n != 0 {
		t.Errorf("%d writes taken as unprepared", n)
	}
	_, walker = checkpoint([3]bool{false, true, false}, func() {})
	if want := (writtenKeys{string(a): "1-2"}); !equalWritten(walker[1].keys, want) {
		t.Errorf("the next checkpoint wrote %v in database 1, want %v", walker[1].keys, want)
	}

	// SWAPDB 0 2 during a checkpoint that covers database 0 only, after a
	// write to database 2.
	setIn(2, "2-1")
	checkpoint([3]bool{false, false, true}, func() {})
	setIn(0, "0-3")
	aside, walker = checkpoint([3]bool{true, false, false}, func() {
		setIn(2, "2-4")
		ks.SwapDB(0, 2)
	})
	if want := (writtenKeys{string(a): "0-3"}); !equalWritten(aside[0].keys, want) {
		t.Errorf("SWAPDB put aside %v for database 0, want %v", aside[0].keys, want)
	}
	if len(walker[0].keys) != 0 || len(aside[2].keys) != 0 {
		t.Errorf("after SWAPDB the walker wrote %v and %v went aside for database 2, want nothing", walker[0].keys, aside[2].keys)
	}
	if n := ks.Persist.UnpreparedWrites.Load(); n != 0 {
		t.Errorf("%d writes taken as unprepared", n)
	}
	// What a checkpoint decides coverage by: each database's counts.
	var sum int64
	for i := range 3 {
		db := ks.DB(i)
		var dirty, rewrites int64
		for s := range db.slots {
			dirty += int64(db.slots[s].keys.count(markDirty))
			if db.slots[s].rewrite {
				rewrites++
			}
		}
		if db.dirtyKeys.Load() != dirty || db.rewriteSlots.Load() != rewrites {
			t.Errorf("database %d counts %d dirty keys and %d slots to rewrite, its slots %d and %d", i, db.dirtyKeys.Load(), db.rewriteSlots.Load(), dirty, rewrites)
		}
		sum += dirty
	}
	if n := ks.Persist.DirtyKeys.Load(); n != sum {
		t.Errorf("DirtyKeys = %d, the databases' sum %d", n, sum)
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
