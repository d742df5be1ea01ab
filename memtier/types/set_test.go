package types

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"testing"
)

func setContents(s *Set) map[string]bool {
	got := map[string]bool{}
	s.Each(func(m Elem) bool { got[m.String()] = true; return true })
	return got
}

func checkSet(t *testing.T, s *Set, model map[string]bool, step int) {
	t.Helper()
	if s.Len() != len(model) {
		t.Fatalf("step %d: len %d want %d", step, s.Len(), len(model))
	}
	if got := setContents(s); !maps.Equal(got, model) {
		t.Fatalf("step %d: got %v want %v", step, got, model)
	}
	for m := range model {
		if !s.Contains([]byte(m)) {
			t.Fatalf("step %d: missing %q", step, m)
		}
	}
	if s.Encoding() == "intset" {
		for i := 1; i < s.is.len(); i++ {
			if s.is.get(i-1) >= s.is.get(i) {
				t.Fatalf("step %d: intset not strictly ascending at %d", step, i)
			}
		}
	}
}

func TestSetRandomized(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for round := 0; round < 30; round++ {
		s := NewSet()
		model := map[string]bool{}
		maxIntset := 8 + r.IntN(20)
		for step := 0; step < 800; step++ {
			m := fmt.Sprint(r.IntN(60) - 30)
			switch r.IntN(9) {
			case 0:
				m = strconv.FormatInt(r.Int64()-r.Int64(), 10)
			case 1:
				if round%3 == 0 {
					m = "s" + m
				}
			case 2:
				m = "0" + m // not canonical: a string
			}
			switch r.IntN(6) {
			case 0, 1, 2:
				wasIntset := s.Encoding() == "intset"
				if s.Add([]byte(m), maxIntset) == model[m] {
					t.Fatalf("step %d: add %q", step, m)
				}
				model[m] = true
				_, isInt := strconv.ParseInt(m, 10, 64)
				canonical := isInt == nil && strconv.FormatInt(must(strconv.ParseInt(m, 10, 64)), 10) == m
				if wasIntset {
					wantHT := !canonical || len(model) > maxIntset
					if (s.Encoding() == "hashtable") != wantHT {
						t.Fatalf("step %d: encoding %s adding %q (len %d)", step, s.Encoding(), m, len(model))
					}
				}
			case 3:
				if s.Remove([]byte(m)) != model[m] {
					t.Fatalf("step %d: remove %q", step, m)
				}
				delete(model, m)
			case 4:
				if s.Contains([]byte(m)) != model[m] {
					t.Fatalf("step %d: contains %q", step, m)
				}
			case 5:
				if len(model) > 0 && r.IntN(4) == 0 {
					p := string(s.Pop())
					if !model[p] {
						t.Fatalf("step %d: popped absent %q", step, p)
					}
					delete(model, p)
				}
			}
			if step%40 == 0 {
				checkSet(t, s, model, step)
			}
		}
		checkSet(t, s, model, -1)
		checkSet(t, s.Copy().(*Set), model, -2)
	}
}

func must(v int64, _ error) int64 { return v }

func TestSetThresholds(t *testing.T) {
	cases := []struct {
		name    string
		members []string
		want    string
	}{
		{"ints", []string{"1", "2", "-3"}, "intset"},
		{"non-canonical", []string{"1", "01"}, "hashtable"},
		{"string", []string{"a"}, "hashtable"},
		{"int64 max", []string{"9223372036854775807"}, "intset"},
		{"past int64", []string{"9223372036854775808"}, "hashtable"},
	}
	for _, c := range cases {
		s := NewSet()
		for _, m := range c.members {
			s.Add([]byte(m), DefaultSetMaxIntset)
		}
		if s.Encoding() != c.want {
			t.Errorf("%s: %s want %s", c.name, s.Encoding(), c.want)
		}
	}
	s := NewSet()
	for i := 0; i < 512; i++ {
		s.Add([]byte(strconv.Itoa(i)), DefaultSetMaxIntset)
	}
	if s.Encoding() != "intset" {
		t.Fatalf("512 ints: %s", s.Encoding())
	}
	s.Add([]byte("512"), DefaultSetMaxIntset)
	if s.Encoding() != "hashtable" {
		t.Fatalf("513 ints: %s", s.Encoding())
	}
}

func TestSetAlgebra(t *testing.T) {
	mk := func(ms ...string) *Set {
		s := NewSet()
		for _, m := range ms {
			s.Add([]byte(m), DefaultSetMaxIntset)
		}
		return s
	}
	sorted := func(s *Set) []string {
		var out []string
		for _, m := range s.Members() {
			out = append(out, string(m))
		}
		sort.Strings(out)
		return out
	}
	a, b, c := mk("1", "2", "3", "x"), mk("2", "3", "4", "x"), mk("3", "x", "y")
	var inter []string
	Inter([]*Set{a, b, c}, func(m Elem) bool { inter = append(inter, m.String()); return true })
	sort.Strings(inter)
	if !slices.Equal(inter, []string{"3", "x"}) {
		t.Fatalf("inter %v", inter)
	}
	if n := InterCard([]*Set{a, b, c}, 1); n != 1 {
		t.Fatalf("intercard limit 1: %d", n)
	}
	if n := InterCard([]*Set{a, nil}, 0); n != 0 {
		t.Fatalf("intercard with missing key: %d", n)
	}
	if got := sorted(Union([]*Set{a, nil, c}, DefaultSetMaxIntset)); !slices.Equal(got, []string{"1", "2", "3", "x", "y"}) {
		t.Fatalf("union %v", got)
	}
	if got := sorted(Diff([]*Set{a, b, nil}, DefaultSetMaxIntset)); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("diff %v", got)
	}
	if u := Union([]*Set{mk("1"), mk("2")}, DefaultSetMaxIntset); u.Encoding() != "intset" {
		t.Fatalf("union of intsets: %s", u.Encoding())
	}
	if d := Diff([]*Set{a, a}, DefaultSetMaxIntset); d.Len() != 0 {
		t.Fatalf("diff with itself: %d", d.Len())
	}
}

func TestSetRandomAndScan(t *testing.T) {
	for _, maxIntset := range []int{DefaultSetMaxIntset, 0} {
		s := NewSet()
		for i := 0; i < 200; i++ {
			s.Add([]byte(strconv.Itoa(i)), maxIntset)
		}
		for _, count := range []int{1, 7, 66, 67, 150, 199, 200, 500} {
			seen := map[string]bool{}
			s.Random(count, func(m Elem) {
				if seen[m.String()] || !s.Contains(m.Bytes()) {
					t.Fatalf("%s count %d: bad member %q", s.Encoding(), count, m.String())
				}
				seen[m.String()] = true
			})
			if len(seen) != min(count, 200) {
				t.Fatalf("%s count %d: %d members", s.Encoding(), count, len(seen))
			}
		}
		n := 0
		s.Random(-50, func(Elem) { n++ })
		if n != 50 {
			t.Fatalf("negative count: %d", n)
		}
		seen := map[string]bool{}
		for c := s.Scan(0, func(m Elem) { seen[m.String()] = true }); c != 0; {
			c = s.Scan(c, func(m Elem) { seen[m.String()] = true })
		}
		if len(seen) != 200 {
			t.Fatalf("%s scan: %d members", s.Encoding(), len(seen))
		}
	}
}
