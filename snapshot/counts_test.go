package snapshot

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/structd/structd/disktier"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// The store's per-slot key counts, and counts of keys with a TTL, come
// from the keyspace (keys in memory plus cold ones) rather than from a
// lookup of each written key; and while
// the store holds no key under sub-keys, written keys are not looked up at
// all. TestCheckpointCountsMatchKeyspace drives random sets, deletions of
// new, dirty and cold keys, TTLs set and cleared, fault-ins, evictions of
// clean keys and FLUSHDB through checkpoints (some with writers
// front-running slots), first with strings only, then with big hashes kept
// under sub-keys, and requires the store's counts to equal the keyspace's,
// slot by slot (keys with a TTL per database), after each quiet checkpoint,
// and a cold start over the store to count the same.
func TestCheckpointCountsMatchKeyspace(t *testing.T) {
	ks, c, log := newTestKeyspace(t)
	rng := rand.New(rand.NewPCG(11, 12))
	const keys = 4000
	big := func() *memtier.Object {
		h := types.NewHash()
		for i := range 400 {
			h.Set(fmt.Appendf(nil, "field:%d", i), []byte("some value of a field"), types.Limits{})
		}
		o := &memtier.Object{Type: memtier.TypeHash}
		o.SetPayload(h)
		return o
	}
	op := func(withHashes bool) {
		db := ks.DB(rng.IntN(2))
		key := fmt.Appendf(nil, "k%d", rng.IntN(keys))
		slots := []int{memtier.SlotOf(key)}
		ks.LockSlots(slots)
		defer ks.UnlockSlots(slots)
		ks.PrepareWrite([][]byte{key}, []int{0})
		switch r := rng.IntN(10); {
		case r < 5:
			db.SetString(key, fmt.Appendf(nil, "v%d", rng.IntN(1000)))
		case r < 7:
			db.Delete(key)
		case r < 8 && withHashes:
			db.Set(key, big())
		case r < 9:
			db.Peek(key) // faults a cold key in
		default:
			if db.Peek(key) != nil {
				db.SetExpire(key, time.Now().UnixMilli()+3_600_000)
			}
		}
	}
	check := func(round int) {
		t.Helper()
		for i := range ks.NumDBs() {
			db := ks.DB(i)
			slots := map[int]int64{}
			var expires int64
			if err := c.Store.SlotCounts(i, func(slot int, n disktier.SlotCount) bool {
				slots[slot] = n.Keys
				expires += n.Expires
				return true
			}); err != nil {
				t.Fatal(err)
			}
			ks.LockAll()
			for s := range memtier.NumSlots {
				if want := int64(db.SlotLen(s)); slots[s] != want {
					ks.UnlockAll()
					t.Fatalf("round %d: db %d slot %d: store counts %d keys, keyspace holds %d", round, i, s, slots[s], want)
				}
			}
			ks.UnlockAll()
			if n, err := c.Store.Count(i); err != nil || n != db.Size() {
				t.Fatalf("round %d: db %d: store counts %d keys (%v), DBSIZE %d", round, i, n, err, db.Size())
			}
			if expires != db.ExpiresCount() {
				t.Fatalf("round %d: db %d: store counts %d keys with a TTL, the keyspace %d", round, i, expires, db.ExpiresCount())
			}
		}
	}
	var cur memtier.EvictionCursor
	elems := 0 // keys found under sub-keys after the rounds' checkpoints
	for round := range 12 {
		withHashes := round >= 6
		for range 3000 {
			op(withHashes)
		}
		if round%4 == 3 {
			ks.LockAll()
			ks.DB(1).Flush()
			ks.UnlockAll()
		}
		if round%3 == 1 {
			ks.UnloadClean(&cur, 1<<40, 0, 2*memtier.NumSlots)
		}
		if round%2 == 1 {
			// Writers front-run the walker; a second, quiet checkpoint
			// then writes what they changed.
			var stop atomic.Bool
			var wg sync.WaitGroup
			wg.Go(func() {
				w := rand.New(rand.NewPCG(uint64(round), 3))
				for !stop.Load() {
					incr(ks, log, fmt.Sprintf("k%d", w.IntN(keys)))
				}
			})
			_, err := c.Run()
			stop.Store(true)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Run(); err != nil {
			t.Fatal(err)
		}
		check(round)
		// The writer rounds overwrite db 0's keys with strings as fast as
		// they can, so sub-key hashes are counted after every round, not
		// only the last.
		for i := range keys {
			if m, err := c.Store.Meta(0, fmt.Appendf(nil, "k%d", i)); err == nil && m.Layout == disktier.LayoutElems {
				elems++
			}
		}
	}
	if elems == 0 {
		t.Errorf("no key was stored under sub-keys: the lookup path went untested")
	}
	cold := memtier.New(2, memtier.SystemClock{})
	if err := cold.AttachStore(ColdStore{c.Store}); err != nil {
		t.Fatal(err)
	}
	if ks.DB(0).ExpiresCount() == 0 {
		t.Error("no key of db 0 has a TTL: the TTL counts went untested")
	}
	for i := range 2 {
		if cold.DB(i).Size() != ks.DB(i).Size() {
			t.Errorf("cold start: db %d DBSIZE %d, want %d", i, cold.DB(i).Size(), ks.DB(i).Size())
		}
		if cold.DB(i).ExpiresCount() != ks.DB(i).ExpiresCount() {
			t.Errorf("cold start: db %d keys with a TTL %d, want %d", i, cold.DB(i).ExpiresCount(), ks.DB(i).ExpiresCount())
		}
	}
}
