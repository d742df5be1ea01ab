package memtier

import "testing"

// The WATCH registry's rules, without a server: which changes make a
// watcher dirty, and that unwatching leaves nothing behind.
func TestWatchRegistry(t *testing.T) {
	clock := NewManualClock(1000)
	ks := New(2, clock)
	db0, db1 := ks.DB(0), ks.DB(1)
	var w Watch
	ks.Watch(&w, db0, []byte("k"))
	ks.Watch(&w, db0, []byte("k")) // twice is once
	if got := ks.WatchedKeys(); got != 1 {
		t.Fatalf("WatchedKeys = %d, want 1", got)
	}
	ks.TouchWatched(db1, []byte("k")) // same name, other database
	ks.TouchWatched(db0, []byte("other"))
	if w.Dirty() {
		t.Fatal("dirty after changes to other keys")
	}
	ks.TouchWatched(db0, []byte("k"))
	if !w.Dirty() {
		t.Fatal("not dirty after a change to the watched key")
	}
	ks.Unwatch(&w, true)
	if w.Dirty() || w.Watching() || ks.WatchedKeys() != 0 {
		t.Fatalf("after Unwatch: dirty %v watching %v keys %d", w.Dirty(), w.Watching(), ks.WatchedKeys())
	}

	// Flushing a database touches the watched keys it holds, not the
	// missing ones.
	var present, missing Watch
	db0.Set([]byte("p"), NewString([]byte("v")))
	ks.Watch(&present, db0, []byte("p"))
	ks.Watch(&missing, db0, []byte("m"))
	ks.FlushAll()
	if !present.Dirty() || missing.Dirty() {
		t.Fatalf("after FLUSHALL: present dirty %v, missing dirty %v", present.Dirty(), missing.Dirty())
	}
	ks.Unwatch(&present, true)
	ks.Unwatch(&missing, true)

	// SWAPDB touches a key watched in either database if it exists in
	// either.
	var w0, w1 Watch
	db1.Set([]byte("s"), NewString([]byte("v")))
	ks.Watch(&w0, ks.DB(0), []byte("s"))
	ks.Watch(&w1, ks.DB(1), []byte("t"))
	ks.SwapDB(0, 1)
	if !w0.Dirty() || w1.Dirty() {
		t.Fatalf("after SWAPDB: w0 dirty %v (want true), w1 dirty %v (want false)", w0.Dirty(), w1.Dirty())
	}
	ks.Unwatch(&w0, true)
	ks.Unwatch(&w1, true)

	// Expiry: a key live at WATCH that expires counts as changed, whether
	// or not it was reclaimed; one already expired at WATCH does not.
	db := ks.DB(0)
	db.Set([]byte("e"), NewString([]byte("v")))
	db.SetExpire([]byte("e"), 1100)
	var live Watch
	ks.Watch(&live, db, []byte("e"))
	clock.Advance(200e6)
	if !ks.WatchedExpired(&live) {
		t.Fatal("a key live at WATCH and expired since is not reported")
	}
	var late Watch
	ks.Watch(&late, db, []byte("e"))
	if db.Get([]byte("e")) != nil {
		t.Fatal("expired key returned")
	}
	if !live.Dirty() || late.Dirty() || ks.WatchedExpired(&late) {
		t.Fatalf("after reclamation: live dirty %v (want true), late dirty %v (want false)", live.Dirty(), late.Dirty())
	}
	ks.Unwatch(&live, true)
	ks.Unwatch(&late, true)
	if ks.WatchedKeys() != 0 {
		t.Fatalf("WatchedKeys = %d after unwatching all", ks.WatchedKeys())
	}
}
