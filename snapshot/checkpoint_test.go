package snapshot

import (
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/disktier"
	"github.com/structd/structd/memtier"
)

// fakeLog records the order of writes the way the AOF does: each write
// appends its op under its slot lock, and Rotate (under LockAll) marks P.
type fakeLog struct {
	mu        sync.Mutex
	ops       []string // keys incremented, in log order
	rotations []int    // len(ops) at each Rotate
}

func (l *fakeLog) append(key string) {
	l.mu.Lock()
	l.ops = append(l.ops, key)
	l.mu.Unlock()
}

func (l *fakeLog) Rotate() error {
	l.mu.Lock()
	l.rotations = append(l.rotations, len(l.ops))
	l.mu.Unlock()
	return nil
}

func (l *fakeLog) Pos() aof.Pos {
	l.mu.Lock()
	defer l.mu.Unlock()
	return aof.Pos{Seg: uint64(len(l.rotations) + 1)}
}
func (l *fakeLog) Sync() error                         { return nil }
func (l *fakeLog) TruncateBefore(aof.Pos) (int, error) { return 0, nil }

func newTestKeyspace(t testing.TB) (*memtier.Keyspace, *Checkpointer, *fakeLog) {
	t.Helper()
	dir := t.TempDir()
	st, err := disktier.Open(dir+"/store", disktier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ks := memtier.New(2, memtier.SystemClock{})
	if err := ks.AttachStore(ColdStore{st}); err != nil {
		t.Fatal(err)
	}
	log := &fakeLog{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	return ks, &Checkpointer{KS: ks, Store: st, Log: log, Dir: dir + "/ckpt", Logger: quiet}, log
}

// incr is a write as commands.Exec does it: lock, prepare (invariant 5),
// change, log.
func incr(ks *memtier.Keyspace, log *fakeLog, key string) {
	slots := []int{memtier.SlotOf([]byte(key))}
	ks.LockSlots(slots)
	ks.PrepareWrite([][]byte{[]byte(key)}, []int{0})
	db := ks.DB(0)
	n := int64(0)
	if o := db.Peek([]byte(key)); o != nil {
		n, _ = strconv.ParseInt(string(o.Bytes()), 10, 64)
	}
	db.SetString([]byte(key), strconv.AppendInt(nil, n+1, 10))
	log.append(key)
	ks.UnlockSlots(slots)
}

// stored reads every counter from the store: the committed checkpoint.
func stored(t *testing.T, c *Checkpointer, keys int) map[string]int64 {
	t.Helper()
	got := map[string]int64{}
	for i := range keys {
		k := fmt.Sprintf("k%d", i)
		o, _, err := ColdStore{c.Store}.Load(0, []byte(k))
		if err != nil {
			t.Fatal(err)
		}
		if o != nil {
			got[k], _ = strconv.ParseInt(string(o.Bytes()), 10, 64)
		}
	}
	return got
}

// TestCheckpointIsPointInTime runs checkpoints while writers increment
// counters in every slot, and checks that each committed checkpoint holds
// exactly the writes logged before its P (invariant 5), that it wrote only
// the keys changed since the previous one (invariant 8), and that no write
// reached a slot unprepared.
func TestCheckpointIsPointInTime(t *testing.T) {
	ks, c, log := newTestKeyspace(t)
	const keys = 3000
	for i := range keys {
		incr(ks, log, fmt.Sprintf("k%d", i))
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for !stop.Load() {
				// Half the writes go to a few hot keys, half anywhere.
				k := rng.IntN(keys)
				if rng.IntN(2) == 0 {
					k = rng.IntN(20)
				}
				incr(ks, log, fmt.Sprintf("k%d", k))
			}
		}()
	}
	var results []Result
	for range 3 {
		res, err := c.Run()
		if err != nil {
			t.Fatal(err)
		}
		results = append(results, res)
		got := stored(t, c, keys)
		log.mu.Lock()
		p := log.rotations[len(log.rotations)-1]
		want := map[string]int64{}
		for _, k := range log.ops[:p] {
			want[k]++
		}
		var changed map[string]bool
		if n := len(log.rotations); n > 1 {
			changed = map[string]bool{}
			for _, k := range log.ops[log.rotations[n-2]:p] {
				changed[k] = true
			}
		}
		log.mu.Unlock()
		if len(got) != len(want) {
			t.Fatalf("checkpoint %d holds %d keys, want %d", res.Record.Seq, len(got), len(want))
		}
		for k, v := range want {
			if got[k] != v {
				t.Fatalf("checkpoint %d: %s = %d, want %d (the value at P)", res.Record.Seq, k, got[k], v)
			}
		}
		if changed != nil && res.Record.Keys != int64(len(changed)) {
			t.Errorf("checkpoint %d wrote %d keys, want the %d changed since the previous one", res.Record.Seq, res.Record.Keys, len(changed))
		}
	}
	stop.Store(true)
	wg.Wait()
	if n := ks.Persist.UnpreparedWrites.Load(); n != 0 {
		t.Errorf("%d writes reached a slot the checkpoint had not written", n)
	}
	var spilled int64
	for _, r := range results {
		spilled += r.SpillBytes
	}
	t.Logf("spill bytes over %d checkpoints: %d (front-runs happened: %v)", len(results), spilled, spilled > 0)
}

// TestTombstonesAndFaultIn checks that a key deleted since the checkpoint
// is not faulted back in from the disk's stale copy, that the deletion
// reaches the store with the next checkpoint, and that a fresh keyspace over
// the store faults values in and counts keys it has not loaded.
func TestTombstonesAndFaultIn(t *testing.T) {
	ks, c, log := newTestKeyspace(t)
	for i := range 100 {
		incr(ks, log, fmt.Sprintf("k%d", i))
	}
	if _, err := c.Run(); err != nil {
		t.Fatal(err)
	}
	cold := memtier.New(2, memtier.SystemClock{})
	if err := cold.AttachStore(ColdStore{c.Store}); err != nil {
		t.Fatal(err)
	}
	db := cold.DB(0)
	if db.Size() != 100 || cold.Persist.ColdKeys.Load() != 100 {
		t.Fatalf("cold start: DBSIZE %d, cold keys %d; want 100, 100", db.Size(), cold.Persist.ColdKeys.Load())
	}
	k5 := []byte("k5")
	slots := []int{memtier.SlotOf(k5)}
	cold.LockSlots(slots)
	if o := db.Peek(k5); o == nil || string(o.Bytes()) != "1" {
		t.Fatalf("k5 faulted in as %v", o)
	}
	if !db.Delete(k5) {
		t.Fatal("delete k5")
	}
	if o := db.Peek(k5); o != nil {
		t.Fatal("a deleted key came back from the disk")
	}
	cold.UnlockSlots(slots)
	if db.Size() != 99 {
		t.Fatalf("DBSIZE after delete %d, want 99", db.Size())
	}
	c2 := *c
	c2.KS = cold
	res, err := c2.Run()
	if err != nil {
		t.Fatal(err)
	}
	if res.Record.Deletes != 1 || res.Record.Keys != 0 {
		t.Errorf("second checkpoint wrote %d keys and %d deletes, want 0 and 1", res.Record.Keys, res.Record.Deletes)
	}
	if got := stored(t, c, 100); len(got) != 99 {
		t.Errorf("store holds %d keys after the delete, want 99", len(got))
	}
}

// TestUnloadDropsOnlyCleanKeys checks invariant 7: eviction drops only
// keys equal to the disk's copy, and they fault back in unchanged.
func TestUnloadDropsOnlyCleanKeys(t *testing.T) {
	ks, c, log := newTestKeyspace(t)
	for i := range 200 {
		incr(ks, log, fmt.Sprintf("k%d", i))
	}
	if _, err := c.Run(); err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		incr(ks, log, fmt.Sprintf("k%d", i)) // k0..k49 dirty, = 2
	}
	var cur memtier.EvictionCursor
	n, freed := ks.UnloadClean(&cur, 1<<40, 0, 2*memtier.NumSlots)
	if n != 150 || freed <= 0 {
		t.Fatalf("unloaded %d keys (%d bytes), want the 150 clean ones", n, freed)
	}
	if got := ks.Persist.ColdKeys.Load(); got != 150 {
		t.Fatalf("cold keys %d, want 150", got)
	}
	db := ks.DB(0)
	if db.Size() != 200 {
		t.Fatalf("DBSIZE %d after unloading, want 200", db.Size())
	}
	ks.LockAll()
	defer ks.UnlockAll()
	for i := range 200 {
		want := "1"
		if i < 50 {
			want = "2"
		}
		if o := db.Peek([]byte(fmt.Sprintf("k%d", i))); o == nil || string(o.Bytes()) != want {
			t.Fatalf("k%d = %v after unloading, want %s", i, o, want)
		}
	}
}
