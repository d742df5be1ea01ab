package memtier

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

// set stores v under key in tab and reports whether key was added.
func (tab *table[V]) set(key string, v V) bool {
	p, _, added := tab.ref(key, false)
	*p = v
	return added
}

// get returns key's value in tab and whether key is there.
func (tab *table[V]) get(key string) (v V, ok bool) {
	if p, _ := tab.at(key); p != nil {
		return *p, true
	}
	return v, false
}

// len is the number of keys tab holds.
func (tab *table[V]) len() int { return tab.used }

// checkTable fails unless t holds exactly the keys and values of want.
func checkTable(t *testing.T, tab *table[int], want map[string]int) {
	t.Helper()
	if tab.len() != len(want) {
		t.Fatalf("len %d, want %d", tab.len(), len(want))
	}
	seen := map[string]bool{}
	tab.scan(0, func(k string, v *int, _ *uint8) bool {
		if seen[k] {
			t.Fatalf("key %q yielded twice", k)
		}
		seen[k] = true
		if w, ok := want[k]; !ok || w != *v {
			t.Fatalf("scan yields %q=%d, want %d (present %v)", k, *v, w, ok)
		}
		return true
	})
	for k, w := range want {
		if v, ok := tab.get(k); !ok || v != w {
			t.Fatalf("get(%q) = %d, %v; want %d", k, v, ok, w)
		}
	}
}

// TestTableMatchesMap runs random inserts, overwrites, deletes and lookups
// (the empty key and keys deleted and added again included) on a table
// and on a Go map and compares them throughout.
func TestTableMatchesMap(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		var tab table[int]
		want := map[string]int{}
		keys := 1 + rng.IntN(2000)
		for op := range 20000 {
			k := strconv.Itoa(rng.IntN(keys))
			if k == "0" {
				k = ""
			}
			switch r := rng.IntN(10); {
			case r < 5:
				_, had := want[k]
				if added := tab.set(k, op); added == had {
					t.Fatalf("seed %d: set(%q) added %v, key present before %v", seed, k, added, had)
				}
				want[k] = op
			case r < 8:
				_, had := want[k]
				if tab.delete(k) != had {
					t.Fatalf("seed %d: delete(%q) != %v", seed, k, had)
				}
				delete(want, k)
			case r < 9:
				v, ok := tab.get(k)
				if w, had := want[k]; ok != had || v != w {
					t.Fatalf("seed %d: get(%q) = %d, %v; want %d, %v", seed, k, v, ok, w, had)
				}
			default:
				tab.reserve(rng.IntN(100))
			}
			if op%997 == 0 {
				checkTable(t, &tab, want)
			}
		}
		checkTable(t, &tab, want)
	}
}

// TestTableDeleteWhileIterating deletes keys, the one yielded and others,
// from the body of a scan: no key is yielded twice or after its deletion,
// and every key left is yielded.
func TestTableDeleteWhileIterating(t *testing.T) {
	for _, n := range []int{1, 7, 8, 9, 100, 5000} {
		var tab table[int]
		for i := range n {
			tab.set(strconv.Itoa(i), i)
		}
		deleted := map[string]bool{}
		seen := map[string]bool{}
		tab.scan(0, func(k string, p *int, _ *uint8) bool {
			if deleted[k] || seen[k] {
				t.Fatalf("n=%d: %q yielded after its deletion or twice", n, k)
			}
			seen[k] = true
			v := *p
			if v%2 == 0 {
				tab.delete(k)
				deleted[k] = true
			}
			other := strconv.Itoa((v*7 + 3) % n)
			if !seen[other] && tab.delete(other) {
				deleted[other] = true
			}
			return true
		})
		for i := range n {
			k := strconv.Itoa(i)
			if !deleted[k] && !seen[k] {
				t.Fatalf("n=%d: %q never yielded", n, k)
			}
		}
		if tab.len() != n-len(deleted) {
			t.Fatalf("n=%d: len %d, want %d", n, tab.len(), n-len(deleted))
		}
	}
}

// TestTableRefClonesBorrowedKeys: a key added through ref with clone set
// does not alias the caller's buffer.
func TestTableRefClonesBorrowedKeys(t *testing.T) {
	var tab table[int]
	buf := []byte("key:1")
	p, _, added := tab.ref(unsafeString(buf), true)
	if !added {
		t.Fatal("ref did not add the key")
	}
	*p = 42
	copy(buf, "XXXXX")
	if v, ok := tab.get("key:1"); !ok || v != 42 {
		t.Fatalf("get after the buffer changed = %d, %v", v, ok)
	}
}

// TestTableDeletedSlotsAreReused: a table that keeps the same number of
// keys while they change stops growing (at twice the room the keys need,
// where a rehash drops deleted slots without growing).
func TestTableDeletedSlotsAreReused(t *testing.T) {
	var tab table[int]
	for i := range 50 {
		tab.set(strconv.Itoa(i), i)
	}
	groups := 0
	for i := 50; i < 100000; i++ {
		tab.delete(strconv.Itoa(i - 50))
		tab.set(strconv.Itoa(i), i)
		if i == 1000 {
			groups = len(tab.groups)
		}
	}
	if len(tab.groups) != groups || groups > 16 {
		t.Fatalf("groups %d after 1000 changes, %d after 100000, with 50 keys", groups, len(tab.groups))
	}
}

func BenchmarkTableSetNew(b *testing.B) {
	keys := make([]string, 1<<16)
	for i := range keys {
		keys[i] = "key:" + strconv.Itoa(i)
	}
	b.ResetTimer()
	for b.Loop() {
		var tab table[int]
		for i, k := range keys {
			tab.set(k, i)
		}
	}
}

// TestSlotKeysMarksAndTombstones: marks outlive a key's value (a
// tombstone), a key with neither is gone, and the counts follow.
func TestSlotKeysMarksAndTombstones(t *testing.T) {
	var k slotKeys
	a, b := NewString([]byte("1")), NewString([]byte("2"))
	if !k.set("a", a, false) || k.set("a", b, false) || k.get("a") != b {
		t.Fatal("set: added twice, or the value not replaced")
	}
	k.set("b", a, false)
	if !k.mark("a", markDirty, false) || k.mark("a", markDirty, false) {
		t.Fatal("mark: a second mark counted as new")
	}
	k.mark("gone", markDirty, true) // a tombstone of a key never in memory
	if k.len() != 2 || k.count(markDirty) != 2 || k.has("gone") || !k.isMarked("gone", markDirty) {
		t.Fatalf("len %d, dirty %d", k.len(), k.count(markDirty))
	}
	k.remove("a") // marked: stays as a tombstone
	k.remove("b") // unmarked: gone
	if k.len() != 0 || !k.isMarked("a", markDirty) || k.t.len() != 2 {
		t.Fatalf("after removes: len %d, held %d", k.len(), k.t.len())
	}
	if n := k.moveMark(markDirty, markPending); n != 2 || k.count(markDirty) != 0 || k.count(markPending) != 2 {
		t.Fatalf("moveMark moved %d; dirty %d, pending %d", n, k.count(markDirty), k.count(markPending))
	}
	k.set("a", b, false) // a tombstone comes back to life, marks kept
	k.clearMark(markPending)
	if k.t.len() != 1 || k.get("a") != b || k.isMarked("a", markPending) || k.count(markPending) != 0 {
		t.Fatalf("after clearMark: held %d", k.t.len())
	}
	k.mark("a", markSince, false)
	k.mark("c", markSince, false)
	k.dropValues()
	if k.len() != 0 || k.t.len() != 2 || !k.unmark("c", markSince) || k.t.len() != 1 {
		t.Fatalf("after dropValues: len %d, held %d", k.len(), k.t.len())
	}
	for key := range k.eachMarked(markSince) {
		if key != "a" {
			t.Fatalf("eachMarked yields %q", key)
		}
	}
}
