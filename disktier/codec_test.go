package disktier

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// roundTripCases covers every type and every encoding Redis reports, inline
// and under sub-keys.
func roundTripCases() map[string]*memtier.Object {
	zero := types.Limits{}
	bigPairs := pairsOf(5000)
	zbig := make([]any, 0, 6000)
	for i, m := range seq("member:", 3000) {
		zbig = append(zbig, m, float64(i%97)-40.5)
	}
	return map[string]*memtier.Object{
		"string int":          memtier.NewString([]byte("-9223372036854775808")),
		"string embstr":       memtier.NewString([]byte("hello world")),
		"string raw":          memtier.NewString(bytes.Repeat([]byte("x\x00\r\n"), 100)),
		"string raw short":    memtier.NewRawString([]byte("ab")), // APPEND leaves raw
		"string empty":        memtier.NewString(nil),
		"string big":          memtier.NewString(bytes.Repeat([]byte("0123456789"), 100000)),
		"list small":          listOf("a", "", "12", "-7", "\x00\xff"),
		"list big":            listOf(seq("element-", 20000)...),
		"list few huge":       listOf(strings.Repeat("a", 100000), "", strings.Repeat("b", 70000)),
		"hash listpack":       hashOf(types.DefaultHashLimits, "b", "1", "a", "two", "", "empty field", "c", ""),
		"hash listpack long":  hashOf(types.Limits{Entries: 1000, Value: 1000}, "f", strings.Repeat("v", 300)),
		"hash listpack big":   hashOf(types.Limits{Entries: 1000, Value: 1000}, reversed(pairsOf(600))...),
		"hash hashtable tiny": hashOf(zero, "x", "1", "y", "2"),
		"hash hashtable big":  hashOf(types.DefaultHashLimits, bigPairs...),
		"set intset":          setOf(types.DefaultSetMaxIntset, "5", "-3", "100000000000", "0"),
		"set hashtable ints":  setOf(0, "1", "2", "3"),
		"set hashtable":       setOf(types.DefaultSetMaxIntset, "a", "b", "7", ""),
		"set big":             setOf(types.DefaultSetMaxIntset, seq("m", 10000)...),
		"zset listpack":       zsetOf(types.DefaultZSetLimits, "a", 1.5, "b", math.Inf(-1), "c", math.Inf(1), "d", math.Copysign(0, -1), "e", 0.0, "12", 12.0),
		"zset skiplist tiny":  zsetOf(zero, "x", 1.0, "y", 1.0),
		"zset skiplist big":   zsetOf(types.DefaultZSetLimits, zbig...),
	}
}

func TestRoundTripEveryTypeAndEncoding(t *testing.T) {
	s, dir := openTest(t)
	cases := roundTripCases()
	b := s.NewBatch()
	i := int64(0)
	for name, o := range cases {
		i++
		if err := b.Put(0, []byte(name), o, 1700000000000+i); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		for name, want := range cases {
			got, exp, err := s.Load(0, []byte(name))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if g, w := dump(got), dump(want); g != w {
				t.Errorf("%s: got\n%.300s\nwant\n%.300s", name, g, w)
			}
			if exp <= 1700000000000 {
				t.Errorf("%s: expiry %d", name, exp)
			}
		}
		if n, err := s.Count(0); err != nil || n != int64(len(cases)) {
			t.Errorf("Count = %d, %v; want %d", n, err, len(cases))
		}
	}
	check(s)
	// Reopen: the data and the counts survive a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	check(s2)
	// The layouts are the documented ones.
	for name, want := range map[string]Layout{"list small": LayoutInline, "list big": LayoutElems,
		"hash hashtable tiny": LayoutInline, "hash hashtable big": LayoutElems, "set big": LayoutElems,
		"zset skiplist big": LayoutElems, "string big": LayoutInline, "hash listpack big": LayoutInline, "list few huge": LayoutElems} {
		m, err := s2.Meta(0, []byte(name))
		if err != nil || m.Layout != want {
			t.Errorf("%s: layout %d, %v; want %d", name, m.Layout, err, want)
		}
	}
	if _, _, err := s2.Load(0, []byte("missing")); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing key: %v", err)
	}
	if ok, err := s2.Exists(1, []byte("string int")); ok || err != nil {
		t.Errorf("key of db 0 exists in db 1: %v %v", ok, err)
	}
}

func TestMetaRejectsUnknownVersionAndGarbage(t *testing.T) {
	m := Meta{Type: memtier.TypeHash, Enc: memtier.EncListpack, Count: 3, Size: 10, ExpireAt: 5}
	v := appendMeta(nil, m)
	got, rest, err := decodeMeta(v)
	if err != nil || got != m || len(rest) != 0 {
		t.Fatalf("decode = %+v %q %v", got, rest, err)
	}
	bad := append([]byte{}, v...)
	bad[0] = 9
	if _, _, err := decodeMeta(bad); err == nil {
		t.Error("unknown version accepted")
	}
	for _, trunc := range [][]byte{nil, v[:3], v[:5]} {
		if _, _, err := decodeMeta(trunc); err == nil {
			t.Errorf("truncated %q accepted", trunc)
		}
	}
	// An inline payload that disagrees with its count is refused.
	b, err := newBuilder(Meta{Type: memtier.TypeList, Enc: memtier.EncQuicklist, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.addInline(appendBytes(nil, []byte("only one"))); err != nil {
		t.Fatal(err)
	}
	if _, err := b.finish(); !errors.Is(err, errCorrupt) {
		t.Errorf("count mismatch: %v", err)
	}
	if err := b.addInline([]byte{0x05, 'a'}); !errors.Is(err, errCorrupt) {
		t.Errorf("truncated element: %v", err)
	}
	// A listpack sorted set must come in (score, member) order.
	zb, err := newBuilder(Meta{Type: memtier.TypeZSet, Enc: memtier.EncListpack, Count: 2})
	if err != nil {
		t.Fatal(err)
	}
	p := appendScore(appendBytes(nil, []byte("b")), 2)
	p = appendScore(appendBytes(p, []byte("a")), 1)
	if err := zb.addInline(p); !errors.Is(err, errCorrupt) {
		t.Errorf("unordered zset: %v", err)
	}
}

func TestSortKeysIsRecordOrder(t *testing.T) {
	keys := [][]byte{[]byte("b"), bytes.Repeat([]byte("a"), 300), []byte("ab"), bytes.Repeat([]byte("z"), 128), []byte("a"), nil}
	SortKeys(keys)
	for i := 1; i < len(keys); i++ {
		a := appendKeyBase(nil, 0, 7, keys[i-1])
		b := appendKeyBase(nil, 0, 7, keys[i])
		if bytes.Compare(a, b) >= 0 {
			t.Errorf("key %d (%d bytes) sorts after key %d (%d bytes)", i-1, len(keys[i-1]), i, len(keys[i]))
		}
	}
	db, slot, key, kind, rest, ok := parseDataKey(append(append(appendKeyBase(nil, 3, 9, []byte("k")), kindElem), "f"...))
	if !ok || db != 3 || slot != 9 || string(key) != "k" || kind != kindElem || string(rest) != "f" {
		t.Errorf("parseDataKey = %d %d %q %d %q %v", db, slot, key, kind, rest, ok)
	}
}

// reversed returns field, value pairs in reverse pair order, so a listpack
// built from them is not in byte order.
func reversed(pairs []string) []string {
	out := make([]string, 0, len(pairs))
	for i := len(pairs) - 2; i >= 0; i -= 2 {
		out = append(out, pairs[i], pairs[i+1])
	}
	return out
}
