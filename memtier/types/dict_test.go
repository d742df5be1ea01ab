package types

import (
	"fmt"
	"strings"
	"testing"
)

// TestZSetDictCompaction removes most members so the member dict compacts
// (renumbering entries under the skiplist) and its arena packs.
func TestZSetDictCompaction(t *testing.T) {
	z := NewZSet()
	const n = 5000
	for i := 0; i < n; i++ {
		z.Add([]byte(fmt.Sprintf("member-%05d", i)), float64(n-i), 0, DefaultZSetLimits)
	}
	for i := 0; i < n; i++ {
		if i%10 != 0 {
			z.Remove([]byte(fmt.Sprintf("member-%05d", i)))
		}
	}
	if z.sl.dict.nfree != 0 && z.sl.dict.nfree > len(z.sl.dict.entries)/2 {
		t.Fatalf("dict never compacted: %d free of %d", z.sl.dict.nfree, len(z.sl.dict.entries))
	}
	for i := 0; i < n; i += 10 {
		m := []byte(fmt.Sprintf("member-%05d", i))
		r, s, ok := z.Rank(m, true)
		if !ok || s != float64(n-i) || r != i/10 {
			t.Fatalf("%s: rank %d score %v ok %v", m, r, s, ok)
		}
	}
	if got := z.RemoveRangeByScore(ScoreRange{Min: 0, Max: float64(n / 2)}); got != n/20 {
		t.Fatalf("zremrangebyscore removed %d", got)
	}
	if z.Len() != n/20 {
		t.Fatalf("len %d", z.Len())
	}
}

func TestHashBigValues(t *testing.T) {
	h := NewHash()
	big := strings.Repeat("B", 10000)
	for i := 0; i < 50; i++ {
		h.Set([]byte(fmt.Sprint("f", i)), []byte(big+fmt.Sprint(i)), DefaultHashLimits)
	}
	for i := 0; i < 50; i += 2 {
		h.Delete([]byte(fmt.Sprint("f", i)))
	}
	for i := 0; i < 50; i += 2 {
		h.Set([]byte(fmt.Sprint("f", i)), []byte("small"), DefaultHashLimits)
	}
	c := h.Copy().(*Hash)
	h.Set([]byte("f1"), []byte("changed"), DefaultHashLimits)
	for i := 0; i < 50; i++ {
		want := big + fmt.Sprint(i)
		if i%2 == 0 {
			want = "small"
		}
		if v, ok := c.Get([]byte(fmt.Sprint("f", i))); !ok || v.String() != want {
			t.Fatalf("f%d: wrong value (len %d)", i, v.Len())
		}
	}
	if v, _ := h.Get([]byte("f1")); v.String() != "changed" {
		t.Fatalf("copy shares storage with the original")
	}
	if h.MemSize() < 25*10000 {
		t.Fatalf("MemSize %d misses the big values", h.MemSize())
	}
}

func TestZSetRemoveByLex(t *testing.T) {
	z := NewZSet()
	for _, m := range []string{"a", "b", "c", "d", "e"} {
		z.Add([]byte(m), 0, 0, DefaultZSetLimits)
	}
	lo, _ := ParseLexBound([]byte("(a"))
	hi, _ := ParseLexBound([]byte("[c"))
	if n := z.RemoveRangeByLex(LexRange{lo, hi}); n != 2 {
		t.Fatalf("removed %d", n)
	}
	var got []string
	z.Each(func(m Elem, _ float64) bool { got = append(got, m.String()); return true })
	if strings.Join(got, "") != "ade" {
		t.Fatalf("left %v", got)
	}
	for _, bad := range []string{"", "a", "x-"} {
		if _, ok := ParseLexBound([]byte(bad)); ok {
			t.Fatalf("%q parsed", bad)
		}
	}
}

func TestMemSizeGrows(t *testing.T) {
	l, h, s, z := NewList(), NewHash(), NewSet(), NewZSet()
	sizes := func() [4]int { return [4]int{l.MemSize(), h.MemSize(), s.MemSize(), z.MemSize()} }
	before := sizes()
	for i := 0; i < 1000; i++ {
		b := []byte(fmt.Sprint("e", i))
		l.Push(b, false, DefaultListFill)
		h.Set(b, b, DefaultHashLimits)
		s.Add(b, DefaultSetMaxIntset)
		z.Add(b, float64(i), 0, DefaultZSetLimits)
	}
	after := sizes()
	for i := range after {
		if after[i] < before[i]+1000*4 {
			t.Fatalf("type %d: MemSize %d -> %d", i, before[i], after[i])
		}
	}
}
