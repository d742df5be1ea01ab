package memtier

import (
	"fmt"
	"testing"
	"time"
)

// scanAll runs ScanSlots from cursor 0 to the end, calling between(step)
// after each call, and returns how many times each key was handed over.
func scanAll(t *testing.T, db *DB, count int64, between func(step int)) map[string]int {
	t.Helper()
	seen := map[string]int{}
	cursor := uint64(0)
	for step := 0; ; step++ {
		if step > NumSlots {
			t.Fatal("scan did not end")
		}
		cursor = db.ScanSlots(cursor, count, func(k string) { seen[k]++ })
		if cursor == 0 {
			return seen
		}
		between(step)
	}
}

// Every key present for the whole scan is returned exactly once, while
// other keys come and go between calls.
func TestScanSlotsGuarantee(t *testing.T) {
	ks, _ := newTestKeyspace()
	db := ks.DB(0)
	addKeys(db, "stable", 3000, 0)
	addKeys(db, "churn", 3000, 0)
	added := 0
	seen := scanAll(t, db, 10, func(step int) {
		// Delete and add keys all over the keyspace between calls.
		db.Delete([]byte(fmt.Sprintf("churn%d", step%3000)))
		db.Set([]byte(fmt.Sprintf("new%d", added)), NewString([]byte("v")))
		added++
	})
	for i := 0; i < 3000; i++ {
		k := fmt.Sprintf("stable%d", i)
		if seen[k] != 1 {
			t.Fatalf("%s returned %d times", k, seen[k])
		}
	}
	for k, n := range seen {
		if n != 1 {
			t.Fatalf("%s returned %d times", k, n)
		}
	}
}

func TestScanSlotsCount(t *testing.T) {
	ks, _ := newTestKeyspace()
	db := ks.DB(0)
	// Empty slots do not count: an empty database ends in one call.
	if next := db.ScanSlots(0, 1, func(string) {}); next != 0 {
		t.Fatalf("empty scan with COUNT 1 stopped at %d", next)
	}
	if next := db.ScanSlots(NumSlots, 10, func(string) { t.Fatal("key past the last slot") }); next != 0 {
		t.Fatalf("cursor past the end gave %d", next)
	}
	if next := db.ScanSlots(1<<63, 10, func(string) { t.Fatal("key past the last slot") }); next != 0 {
		t.Fatalf("huge cursor gave %d", next)
	}
	// A whole slot comes back even when it exceeds COUNT.
	addKeys(db, "{t}", 100, 0)
	got := 0
	next := db.ScanSlots(uint64(SlotOf([]byte("{t}"))), 5, func(string) { got++ })
	if got != 100 || next != uint64(SlotOf([]byte("{t}"))+1) {
		t.Fatalf("slot scan returned %d keys, next %d", got, next)
	}
	seen := scanAll(t, db, 1000, func(int) {})
	if len(seen) != 100 {
		t.Fatalf("full scan saw %d keys", len(seen))
	}
	// COUNT 1 stops after each non-empty slot.
	addKeys(db, "k", 3, 0)
	calls := 0
	for cursor := uint64(0); ; {
		cursor = db.ScanSlots(cursor, 1, func(string) {})
		calls++
		if cursor == 0 {
			break
		}
	}
	distinct := map[int]bool{SlotOf([]byte("{t}")): true}
	for i := 0; i < 3; i++ {
		distinct[SlotOf([]byte(fmt.Sprintf("k%d", i)))] = true
	}
	// One call per non-empty slot, and perhaps a last one that finds none.
	if calls != len(distinct) && calls != len(distinct)+1 {
		t.Fatalf("COUNT 1 scan took %d calls over %d non-empty slots", calls, len(distinct))
	}
}

func TestRandomKeyUniform(t *testing.T) {
	ks, _ := newTestKeyspace()
	db := ks.DB(0)
	const keys, draws = 50, 50000
	addKeys(db, "k", keys, 0)
	counts := map[string]int{}
	for i := 0; i < draws; i++ {
		k, ok := db.RandomKey()
		if !ok {
			t.Fatal("RandomKey found no key")
		}
		counts[k]++
	}
	if len(counts) != keys {
		t.Fatalf("drew %d distinct keys of %d", len(counts), keys)
	}
	// Expected 1000 each, standard deviation about 31: the bounds are
	// more than ten deviations away.
	for k, n := range counts {
		if n < 600 || n > 1400 {
			t.Fatalf("%s drawn %d times of %d, expected about %d", k, n, draws, draws/keys)
		}
	}
}

// RandomKey ends, and finds the live key, when nearly all keys are expired;
// it returns nothing once all are.
func TestRandomKeyMostlyExpired(t *testing.T) {
	ks, clock := newTestKeyspace()
	db := ks.DB(0)
	addKeys(db, "dead", 50000, time.Second)
	db.Set([]byte("live"), NewString([]byte("v")))
	clock.Advance(time.Second)
	k, ok := db.RandomKey()
	if ok && k != "live" {
		t.Fatalf("RandomKey = %q", k)
	}
	if !ok {
		t.Fatal("RandomKey missed the live key")
	}
	db.SetExpire([]byte("live"), ks.NowMs())
	if k, ok := db.RandomKey(); ok {
		t.Fatalf("RandomKey = %q with every key expired", k)
	}
	if db.Size() != 0 {
		t.Fatalf("size %d after RandomKey reclaimed everything", db.Size())
	}
}

// The per-group key counts RandomKey relies on follow Flush and SwapDB.
func TestRandomKeyAfterFlushAndSwap(t *testing.T) {
	ks, _ := newTestKeyspace()
	addKeys(ks.DB(0), "a", 100, 0)
	ks.SwapDB(0, 1)
	if _, ok := ks.DB(0).RandomKey(); ok {
		t.Fatal("RandomKey in the swapped-out database")
	}
	if k, ok := ks.DB(1).RandomKey(); !ok || k[0] != 'a' {
		t.Fatalf("RandomKey in the swapped-in database = %q, %v", k, ok)
	}
	ks.DB(1).Flush()
	if _, ok := ks.DB(1).RandomKey(); ok {
		t.Fatal("RandomKey after Flush")
	}
	addKeys(ks.DB(1), "b", 10, 0)
	for i := 0; i < 100; i++ {
		if k, ok := ks.DB(1).RandomKey(); !ok || k[0] != 'b' {
			t.Fatalf("RandomKey after refill = %q, %v", k, ok)
		}
	}
	var sum int64
	for g := range ks.DB(1).groupLen {
		sum += ks.DB(1).groupLen[g].Load()
	}
	if sum != 10 {
		t.Fatalf("group counts sum to %d, want 10", sum)
	}
}

func TestLookupStatsAndAccess(t *testing.T) {
	ks, clock := newTestKeyspace()
	db := ks.DB(0)
	db.Set([]byte("k"), NewString([]byte("v")))
	clock.Advance(5 * time.Second)
	ks.RefreshAccessClock()
	o := db.LookupNoTouch([]byte("k"))
	db.LookupNoTouch([]byte("missing"))
	if db.IdleSeconds(o) != 5 {
		t.Fatalf("idle %d after a no-touch lookup, want 5", db.IdleSeconds(o))
	}
	if ks.Stats.KeyspaceHits.Load() != 1 || ks.Stats.KeyspaceMisses.Load() != 1 {
		t.Fatalf("hits %d misses %d", ks.Stats.KeyspaceHits.Load(), ks.Stats.KeyspaceMisses.Load())
	}
	db.LookupWrite([]byte("k"))
	if db.IdleSeconds(o) != 0 {
		t.Fatalf("idle %d after a write lookup", db.IdleSeconds(o))
	}
	if ks.Stats.KeyspaceHits.Load() != 1 {
		t.Fatal("a write lookup counted a hit")
	}
}
