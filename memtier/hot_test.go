package memtier

import (
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestHotKeysRanksByLastUse checks the warm-up's list: the keys read most
// recently come first, a key used long ago comes after, max cuts the list,
// and every database counts.
func TestHotKeysRanksByLastUse(t *testing.T) {
	clock := NewManualClock(1_700_000_000_000)
	ks := New(2, clock)
	ks.RefreshAccessClock()
	for i := range 100 {
		ks.DB(0).SetString([]byte("old:"+strconv.Itoa(i)), []byte("v"))
	}
	clock.Advance(10 * time.Second)
	ks.RefreshAccessClock()
	ks.DB(0).Get([]byte("old:7")) // read: now hot
	ks.DB(1).SetString([]byte("one"), []byte("v"))
	clock.Advance(10 * time.Second)
	ks.RefreshAccessClock()
	ks.DB(0).SetString([]byte("newest"), []byte("v"))

	hot := ks.HotKeys(3)
	want := []HotKey{{0, "newest"}}
	if len(hot) != 3 || hot[0] != want[0] {
		t.Fatalf("HotKeys(3) = %v, want newest first, then the two keys used 10 s before", hot)
	}
	if second := hot[1:]; !slices.Contains(second, HotKey{0, "old:7"}) || !slices.Contains(second, HotKey{1, "one"}) {
		t.Fatalf("HotKeys(3) = %v, want old:7 and db 1's one after newest", hot)
	}
	for _, max := range []int{102, 150, 1000} { // every key fits
		if all := ks.HotKeys(max); len(all) != 102 {
			t.Fatalf("HotKeys(%d) lists %d keys, want all 102", max, len(all))
		}
	}
	if some := ks.HotKeys(50); len(some) != 50 || some[0] != want[0] {
		t.Fatalf("HotKeys(50) = %d keys starting %v, want 50 starting with newest", len(some), some[:1])
	}
}

// TestWarmKeyLoadsOnlyColdKeys checks the warm-up's point load: a cold key
// comes into memory (and counts as warm), a key already in memory or
// absent from the disk tier is left alone.
func TestWarmKeyLoadsOnlyColdKeys(t *testing.T) {
	ks := New(1, NewManualClock(1_700_000_000_000))
	disk := coldMap{"a": NewString([]byte("1")), "b": NewString([]byte("2"))}
	if err := ks.AttachStore(disk); err != nil {
		t.Fatal(err)
	}
	if got := ks.Persist.ColdKeys.Load(); got != 2 {
		t.Fatalf("cold keys after attaching: %d, want 2", got)
	}
	if !ks.WarmKey(0, []byte("a")) {
		t.Fatal("WarmKey(a) loaded nothing")
	}
	if ks.WarmKey(0, []byte("a")) || ks.WarmKey(0, []byte("nope")) || ks.WarmKey(5, []byte("b")) {
		t.Fatal("WarmKey loaded a key in memory, an absent key or a key of a database that does not exist")
	}
	if got := ks.Persist.ColdKeys.Load(); got != 1 {
		t.Fatalf("cold keys after warming a: %d, want 1", got)
	}
	if o := ks.DB(0).Peek([]byte("a")); o == nil || string(o.Bytes()) != "1" {
		t.Fatalf("a after WarmKey: %v", o)
	}
}
