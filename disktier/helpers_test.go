package disktier

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// openTest opens a store in a fresh temporary directory, closed at the end
// of the test.
func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir, Options{CacheSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dir
}

// dump renders o's type, encoding and contents canonically: in the
// payload's order where Redis's replies follow it (lists, listpacks,
// intsets, sorted sets), sorted where the order is a hash table's.
func dump(o *memtier.Object) string {
	if o.Type == memtier.TypeString {
		return fmt.Sprintf("string/%s %q", o.EncodingName(), o.Bytes())
	}
	var parts []string
	each(o, func(a, b types.Elem, score float64) bool {
		switch o.Type {
		case memtier.TypeHash:
			parts = append(parts, fmt.Sprintf("%q=%q", a.String(), b.String()))
		case memtier.TypeZSet:
			parts = append(parts, fmt.Sprintf("%q:%v", a.String(), math.Float64bits(score)))
		default:
			parts = append(parts, fmt.Sprintf("%q", a.String()))
		}
		return true
	})
	if o.EncodingName() == "hashtable" {
		slices.Sort(parts)
	}
	return fmt.Sprintf("%s/%s %s", o.Type, o.EncodingName(), strings.Join(parts, " "))
}

func listOf(elems ...string) *memtier.Object {
	l := types.NewList()
	for _, e := range elems {
		l.Push([]byte(e), false, types.DefaultListFill)
	}
	return memtier.NewCollection(l)
}

func hashOf(lim types.Limits, pairs ...string) *memtier.Object {
	h := types.NewHash()
	for i := 0; i+1 < len(pairs); i += 2 {
		h.Set([]byte(pairs[i]), []byte(pairs[i+1]), lim)
	}
	return memtier.NewCollection(h)
}

func setOf(maxIntset int, members ...string) *memtier.Object {
	s := types.NewSet()
	for _, m := range members {
		s.Add([]byte(m), maxIntset)
	}
	return memtier.NewCollection(s)
}

func zsetOf(lim types.Limits, pairs ...any) *memtier.Object {
	z := types.NewZSet()
	for i := 0; i+1 < len(pairs); i += 2 {
		z.Add([]byte(pairs[i].(string)), pairs[i+1].(float64), 0, lim)
	}
	return memtier.NewCollection(z)
}

// seq returns n strings prefix0..prefix(n-1).
func seq(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

// pairsOf interleaves fields and values: f0 v0 f1 v1 ...
func pairsOf(n int) []string {
	out := make([]string, 0, 2*n)
	for i := 0; i < n; i++ {
		out = append(out, fmt.Sprintf("field:%d", i), fmt.Sprintf("value-%d", i*7))
	}
	return out
}

// inline is o's whole inline payload, whatever its size.
func inline(o *memtier.Object) []byte {
	p, _ := appendInline(nil, o, math.MaxInt)
	return p
}

// keyLess is KeyCompare as a less function, for the tests that check an
// order.
func keyLess(a, b []byte) bool { return KeyCompare(a, b) < 0 }
