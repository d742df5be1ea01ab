package types

import (
	"bytes"
	"math"
	"strconv"
	"strings"
	"testing"
)

func TestListpackRoundTrip(t *testing.T) {
	ints := []int64{0, 1, 127, 128, -1, -4096, 4095, -4097, 4096, math.MinInt16, math.MaxInt16,
		math.MaxInt16 + 1, -(1 << 23), 1<<23 - 1, 1 << 23, math.MinInt32, math.MaxInt32,
		math.MaxInt32 + 1, math.MinInt64, math.MaxInt64}
	strs := []string{"", "a", "01", "-0", "+1", " 1", "1.5", strings.Repeat("x", 63), strings.Repeat("x", 64),
		strings.Repeat("y", 4095), strings.Repeat("y", 4096), strings.Repeat("z", 70000), "9223372036854775808"}
	var want []string
	for _, i := range ints {
		want = append(want, strconv.FormatInt(i, 10))
	}
	want = append(want, strs...)
	var lp []byte
	for _, s := range want {
		lp = lpAppend(lp, strVal([]byte(s)))
	}
	// Forward.
	pos := 0
	for i, s := range want {
		e, next := lpGet(lp, pos)
		if got := e.String(); got != s {
			t.Fatalf("entry %d: got %q want %q", i, got, s)
		}
		if wantInt := i < len(ints); e.IsInt != wantInt {
			t.Fatalf("entry %d (%q): IsInt=%v", i, s, e.IsInt)
		}
		if lpEntrySize(lp, pos) != next-pos {
			t.Fatalf("entry %d: size mismatch", i)
		}
		pos = next
	}
	if pos != len(lp) {
		t.Fatalf("trailing bytes")
	}
	// Backward.
	for i := len(want) - 1; i >= 0; i-- {
		pos = lpPrev(lp, pos)
		if e, _ := lpGet(lp, pos); e.String() != want[i] {
			t.Fatalf("backward entry %d: got %q", i, e.String())
		}
	}
	// Seek from both ends.
	for i := range want {
		if e, _ := lpGet(lp, lpSeek(lp, len(want), i)); e.String() != want[i] {
			t.Fatalf("seek %d", i)
		}
	}
}

func TestListpackEdits(t *testing.T) {
	var lp []byte
	for i := 0; i < 5; i++ {
		lp = lpAppend(lp, strVal([]byte{byte('a' + i)}))
	}
	lp = lpInsert(lp, lpSeek(lp, 5, 2), strVal([]byte("12345")))
	lp = lpReplace(lp, lpSeek(lp, 6, 0), strVal(bytes.Repeat([]byte("q"), 200)))
	lp = lpDelete(lp, lpSeek(lp, 6, 4), 1)
	var got []string
	for pos := 0; pos < len(lp); {
		var e Elem
		e, pos = lpGet(lp, pos)
		got = append(got, e.String())
	}
	want := []string{strings.Repeat("q", 200), "b", "12345", "c", "e"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %v", got)
	}
}

func TestScoreEncoding(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 1.5, -2.25, 1e300, math.Inf(1), math.Inf(-1), 1 << 53, -(1 << 53), 1<<53 + 2, 0.1} {
		lp := lpAppend(nil, scoreVal(f))
		if got, next := lpScore(lp, 0); got != f || next != len(lp) {
			t.Fatalf("score %v: got %v", f, got)
		}
	}
	// -0 folds into 0 as Redis's listpack does.
	if got, _ := lpScore(lpAppend(nil, scoreVal(math.Copysign(0, -1))), 0); math.Signbit(got) {
		t.Fatalf("-0 kept its sign")
	}
}

func TestIntsetUpgrade(t *testing.T) {
	var s intset
	vals := []int64{5, -3, 100, math.MaxInt32 + 7, -70000, math.MinInt64, 5}
	for _, v := range vals {
		s.add(v)
	}
	want := []int64{math.MinInt64, -70000, -3, 5, 100, math.MaxInt32 + 7}
	if s.width() != 8 || s.len() != len(want) {
		t.Fatalf("width %d len %d", s.width(), s.len())
	}
	for i, w := range want {
		if s.get(i) != w {
			t.Fatalf("at %d: %d want %d", i, s.get(i), w)
		}
	}
	if !s.remove(-70000) || s.remove(-70000) || s.contains(-70000) || !s.contains(100) {
		t.Fatalf("remove/contains")
	}
}

func TestMatcher(t *testing.T) {
	cases := []struct {
		needle string
		elem   Elem
		want   bool
	}{
		{"12", Elem{I: 12, IsInt: true}, true},
		{"012", Elem{I: 12, IsInt: true}, false},
		{"12", Elem{S: []byte("12")}, false}, // canonical ints are never stored as strings
		{"abc", Elem{S: []byte("abc")}, true},
		{"", Elem{S: []byte{}}, true},
		{"-0", Elem{I: 0, IsInt: true}, false},
	}
	for _, c := range cases {
		m := NewMatcher([]byte(c.needle))
		if got := m.Match(c.elem); got != c.want {
			t.Errorf("%q vs %+v: %v", c.needle, c.elem, got)
		}
	}
}
