package memtier

import (
	"fmt"
	"testing"
	"time"
)

// budget is large enough that a cycle in a test never stops for time: the
// tests check what the cycle decides, not how fast it runs.
const budget = time.Hour

func newTestKeyspace() (*Keyspace, *ManualClock) {
	clock := NewManualClock(1_700_000_000_000)
	return New(16, clock), clock
}

// addKeys stores n string keys named prefix0..prefix(n-1), each expiring
// ttl from now when ttl > 0.
func addKeys(db *DB, prefix string, n int, ttl time.Duration) {
	for i := 0; i < n; i++ {
		k := []byte(fmt.Sprintf("%s%d", prefix, i))
		db.Set(k, NewString([]byte("v")))
		if ttl > 0 {
			db.SetExpire(k, db.ks.NowMs()+ttl.Milliseconds())
		}
	}
}

func TestLazyExpiry(t *testing.T) {
	ks, clock := newTestKeyspace()
	db := ks.DB(0)
	db.Set([]byte("k"), NewString([]byte("v")))
	db.SetExpire([]byte("k"), ks.NowMs()+1000)
	clock.Advance(999 * time.Millisecond)
	if db.Get([]byte("k")) == nil {
		t.Fatal("key gone 1 ms before its deadline")
	}
	clock.Advance(time.Millisecond)
	if db.Get([]byte("k")) != nil {
		t.Fatal("key returned at its deadline")
	}
	if db.Size() != 0 || db.ExpiresCount() != 0 {
		t.Fatalf("lazy expiry left size %d, expires %d", db.Size(), db.ExpiresCount())
	}
	if got := ks.Stats.ExpiredKeys.Load(); got != 1 {
		t.Fatalf("expired_keys = %d, want 1", got)
	}
}

// Every way of reading the keyspace hides expired keys, whether or not they
// have been reclaimed yet.
func TestExpiredKeysNeverReturned(t *testing.T) {
	ks, clock := newTestKeyspace()
	db := ks.DB(0)
	addKeys(db, "live", 200, 0)
	addKeys(db, "dead", 200, time.Second)
	addKeys(db, "later", 200, time.Hour)
	clock.Advance(time.Second)

	for i := 0; i < 200; i++ {
		k := []byte(fmt.Sprintf("dead%d", i))
		if db.Peek(k) != nil || db.LookupNoTouch(k) != nil || db.LookupWrite(k) != nil {
			t.Fatalf("%s returned after its deadline", k)
		}
	}
	addKeys(db, "dead2_", 200, time.Second)
	clock.Advance(time.Second)

	n := 0
	db.Keys(func(k string) {
		if k[:4] == "dead" {
			t.Fatalf("Keys returned expired %s", k)
		}
		n++
	})
	if n != 400 {
		t.Fatalf("Keys returned %d keys, want 400", n)
	}
	if db.Size() != 600 {
		t.Fatalf("Keys reclaimed keys: size %d, want 600 (KEYS only filters)", db.Size())
	}
	for i := 0; i < 2000; i++ {
		k, ok := db.RandomKey()
		if !ok || k[:4] == "dead" {
			t.Fatalf("RandomKey = %q, %v", k, ok)
		}
	}
	db.SlotKeys(SlotOf([]byte("dead2_0")), func(k string, _ *Object) bool {
		if k[:4] == "dead" {
			t.Fatalf("SlotKeys returned expired %s", k)
		}
		return true
	})
}

func TestActiveExpiryIdleWhenNothingExpired(t *testing.T) {
	ks, _ := newTestKeyspace()
	addKeys(ks.DB(0), "k", 10000, time.Hour)
	deleted, sampled := ks.activeExpireCycle(budget)
	if deleted != 0 {
		t.Fatalf("deleted %d live keys", deleted)
	}
	if sampled != expireSamplesPerDB {
		t.Fatalf("sampled %d keys with none expired, want one round of %d", sampled, expireSamplesPerDB)
	}
}

func TestActiveExpiryReclaimsAllExpired(t *testing.T) {
	ks, clock := newTestKeyspace()
	db := ks.DB(0)
	addKeys(db, "k", 10000, time.Second)
	clock.Advance(time.Second)
	deleted, sampled := ks.activeExpireCycle(budget)
	if deleted != 10000 || db.Size() != 0 || db.ExpiresCount() != 0 {
		t.Fatalf("one cycle deleted %d (sampled %d), left %d keys", deleted, sampled, db.Size())
	}
	if got := ks.Stats.ExpiredKeys.Load(); got != 10000 {
		t.Fatalf("expired_keys = %d", got)
	}
}

// With half the keys expired, effort grows with the stale share: a few
// cycles reclaim most of them and never touch a live key.
func TestActiveExpiryAdaptsToStaleShare(t *testing.T) {
	ks, clock := newTestKeyspace()
	db := ks.DB(3)
	addKeys(db, "dead", 5000, time.Second)
	addKeys(db, "live", 5000, time.Hour)
	clock.Advance(time.Second)
	total, sampled := 0, 0
	for i := 0; i < 3; i++ {
		d, s := ks.activeExpireCycle(budget)
		total += d
		sampled += s
	}
	if total < 4000 {
		t.Fatalf("three cycles reclaimed %d of 5000 expired keys (sampled %d)", total, sampled)
	}
	if sampled < 10*expireSamplesPerDB {
		t.Fatalf("sampled only %d keys: effort did not grow with expired keys", sampled)
	}
	if db.Size() != int64(10000-total) {
		t.Fatalf("size %d after deleting %d", db.Size(), total)
	}
	for i := 0; i < 5000; i++ {
		if db.Peek([]byte(fmt.Sprintf("live%d", i))) == nil {
			t.Fatalf("live%d deleted", i)
		}
	}
}

// Keys crowded into one slot by a hash tag are reclaimed as quickly as
// spread keys: the cursor stays on a slot while it yields expired keys.
func TestActiveExpiryCrowdedSlot(t *testing.T) {
	ks, clock := newTestKeyspace()
	db := ks.DB(0)
	addKeys(db, "{tag}", 20000, time.Second)
	clock.Advance(time.Second)
	// A cycle gives up after a stretch of empty slots, so reaching the
	// slot may take a few cycles; once there, nothing stops it.
	deleted, sampled := 0, 0
	for i := 0; i < NumSlots/(expireSlotsPerRound*expireSamplesPerDB)+2 && deleted < 20000; i++ {
		d, s := ks.activeExpireCycle(budget)
		deleted += d
		sampled += s
		if d > 0 && d < 20000 {
			t.Fatalf("the cycle that reached the slot deleted %d of 20000", d)
		}
	}
	if deleted != 20000 {
		t.Fatalf("cycles deleted %d of 20000 keys in one slot", deleted)
	}
	if sampled != deleted {
		t.Fatalf("sampled %d keys to delete %d", sampled, deleted)
	}
}

func TestExpireCycleSkipsDatabasesWithoutTTLs(t *testing.T) {
	ks, _ := newTestKeyspace()
	addKeys(ks.DB(0), "k", 1000, 0)
	if d, s := ks.activeExpireCycle(budget); d != 0 || s != 0 {
		t.Fatalf("cycle over keys without TTL deleted %d, sampled %d", d, s)
	}
}

// While expiry is frozen (a script runs), keys expire by the time it froze:
// lazily, in the active cycle and in scans alike; deadlines and TTLs still
// read the clock. A nested freeze changes nothing, and after the thaw the
// keys expire by the clock again.
func TestFreezeExpiry(t *testing.T) {
	ks, clock := newTestKeyspace()
	db := ks.DB(0)
	addKeys(db, "k", 10, 10*time.Millisecond)
	if !ks.FreezeExpiry() {
		t.Fatal("FreezeExpiry did not freeze")
	}
	clock.Advance(time.Second)
	if db.Peek([]byte("k0")) == nil {
		t.Fatal("a key expired while expiry was frozen")
	}
	if n := ks.ActiveExpireCycle(budget); n != 0 || db.Size() != 10 {
		t.Fatalf("the active cycle deleted %d keys while frozen (size %d)", n, db.Size())
	}
	if got := ks.NowMs(); got != 1_700_000_001_000 {
		t.Fatalf("NowMs while frozen = %d, want the clock's", got)
	}
	if ks.FreezeExpiry() {
		t.Fatal("a nested FreezeExpiry reported freezing (its caller would thaw the outer one)")
	}
	if db.Peek([]byte("k1")) == nil {
		t.Fatal("a nested freeze ended the freeze")
	}
	ks.ThawExpiry()
	if db.Peek([]byte("k2")) != nil {
		t.Fatal("a key past its deadline outlived the thaw")
	}
}
