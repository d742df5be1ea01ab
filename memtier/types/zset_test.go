package types

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
)

// zmodel is the reference: members sorted by (score, member bytes).
type zmodel []ScoredMember

func (m zmodel) find(member string) int {
	for i, e := range m {
		if string(e.Member) == member {
			return i
		}
	}
	return -1
}

func (m *zmodel) set(member string, score float64) {
	if i := m.find(member); i >= 0 {
		*m = slices.Delete(*m, i, i+1)
	}
	*m = append(*m, ScoredMember{Member: []byte(member), Score: score})
	sort.Slice(*m, func(i, j int) bool {
		a, b := (*m)[i], (*m)[j]
		return a.Score < b.Score || a.Score == b.Score && bytes.Compare(a.Member, b.Member) < 0
	})
}

func render(ms []ScoredMember) string {
	var sb strings.Builder
	for _, e := range ms {
		fmt.Fprintf(&sb, "%s:%v ", e.Member, e.Score)
	}
	return sb.String()
}

func collect(fn func(func(Elem, float64) bool)) []ScoredMember {
	var out []ScoredMember
	fn(func(m Elem, s float64) bool {
		out = append(out, ScoredMember{Member: m.AppendTo(nil), Score: s})
		return true
	})
	return out
}

func checkZSet(t *testing.T, z *ZSet, m zmodel, step int) {
	t.Helper()
	if z.Len() != len(m) {
		t.Fatalf("step %d: len %d want %d", step, z.Len(), len(m))
	}
	if got := render(collect(z.Each)); got != render(m) {
		t.Fatalf("step %d (%s):\n got %s\nwant %s", step, z.Encoding(), got, render(m))
	}
	rev := collect(func(fn func(Elem, float64) bool) { z.RangeByRank(0, len(m)-1, true, fn) })
	slices.Reverse(rev)
	if len(m) > 0 && render(rev) != render(m) {
		t.Fatalf("step %d: reverse order differs", step)
	}
	for i, e := range m {
		r, s, ok := z.Rank(e.Member, false)
		rr, _, _ := z.Rank(e.Member, true)
		if !ok || r != i || rr != len(m)-1-i || s != e.Score {
			t.Fatalf("step %d: rank of %s = %d/%d %v", step, e.Member, r, rr, s)
		}
	}
}

func zscore(r *rand.Rand) float64 {
	switch r.IntN(8) {
	case 0:
		return math.Inf(1 - 2*r.IntN(2))
	case 1:
		return float64(r.IntN(1000)) / 7
	}
	return float64(r.IntN(10) - 3)
}

func TestZSetRandomized(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	for round := 0; round < 30; round++ {
		lim := Limits{Entries: 4 + r.IntN(30), Value: 12}
		z := NewZSet()
		var m zmodel
		for step := 0; step < 1000; step++ {
			member := fmt.Sprint(r.IntN(50))
			if r.IntN(3) == 0 {
				member = "m" + member
			}
			if r.IntN(200) == 0 {
				member = strings.Repeat("long", 4)
			}
			switch op := r.IntN(10); op {
			case 0, 1, 2, 3:
				flags := AddFlags(0)
				for _, f := range []AddFlags{AddNX, AddXX, AddGT, AddLT, AddIncr} {
					if r.IntN(6) == 0 {
						flags |= f
					}
				}
				if flags&AddNX != 0 {
					flags &^= AddXX | AddGT | AddLT
				}
				if flags&AddGT != 0 {
					flags &^= AddLT
				}
				score := zscore(r)
				wasLP := z.Encoding() == "listpack"
				res, newScore := z.Add([]byte(member), score, flags, lim)
				wantRes, wantScore := modelAdd(&m, member, score, flags)
				if res != wantRes || (res != NaNScore && res != Skipped && newScore != wantScore) {
					t.Fatalf("step %d: add %s %v flags %b = %v %v want %v %v", step, member, score, flags, res, newScore, wantRes, wantScore)
				}
				if wasLP && res == Added {
					wantSL := len(m) > lim.Entries || len(member) > lim.Value
					if (z.Encoding() == "skiplist") != wantSL {
						t.Fatalf("step %d: encoding %s (len %d)", step, z.Encoding(), len(m))
					}
				}
			case 4:
				i := m.find(member)
				if z.Remove([]byte(member)) != (i >= 0) {
					t.Fatalf("step %d: remove %s", step, member)
				}
				if i >= 0 {
					m = slices.Delete(m, i, i+1)
				}
			case 5:
				rg := ScoreRange{Min: zscore(r), Max: zscore(r), MinEx: r.IntN(2) == 0, MaxEx: r.IntN(2) == 0}
				var want []ScoredMember
				for _, e := range m {
					if (e.Score > rg.Min || !rg.MinEx && e.Score == rg.Min) && (e.Score < rg.Max || !rg.MaxEx && e.Score == rg.Max) {
						want = append(want, e)
					}
				}
				if n := z.CountByScore(rg); n != len(want) {
					t.Fatalf("step %d: zcount %+v = %d want %d", step, rg, n, len(want))
				}
				rev := op%2 == 1 && r.IntN(2) == 0
				offset, count := r.IntN(4), r.IntN(6)-1
				got := collect(func(fn func(Elem, float64) bool) { z.RangeByScore(rg, rev, offset, count, fn) })
				if rev {
					slices.Reverse(want)
				}
				want = limit(want, offset, count)
				if render(got) != render(want) {
					t.Fatalf("step %d: rangebyscore %+v rev=%v limit %d %d\n got %s\nwant %s", step, rg, rev, offset, count, render(got), render(want))
				}
			case 6:
				// Lex ranges over whatever is there (meaningful when scores tie,
				// which the model reproduces by filtering the same way Redis walks).
				lo, _ := ParseLexBound([]byte([]string{"-", "+", "[", "("}[r.IntN(4)] + fmt.Sprint(r.IntN(50))))
				hi, _ := ParseLexBound([]byte([]string{"-", "+", "[", "("}[r.IntN(4)] + fmt.Sprint(r.IntN(50))))
				same := NewZSet()
				var sm zmodel
				for _, e := range m {
					same.Add(e.Member, 0, 0, lim)
					sm.set(string(e.Member), 0)
				}
				var want []ScoredMember
				for _, e := range sm {
					if lexGE(e.Member, lo) && lexLE(e.Member, hi) {
						want = append(want, e)
					}
				}
				if n := same.CountByLex(LexRange{lo, hi}); n != len(want) {
					t.Fatalf("step %d: zlexcount = %d want %d", step, n, len(want))
				}
				rev := r.IntN(2) == 0
				offset, count := r.IntN(3), r.IntN(5)-1
				got := collect(func(fn func(Elem, float64) bool) { same.RangeByLex(LexRange{lo, hi}, rev, offset, count, fn) })
				if rev {
					slices.Reverse(want)
				}
				want = limit(want, offset, count)
				if render(got) != render(want) {
					t.Fatalf("step %d: rangebylex rev=%v limit %d %d\n got %s\nwant %s", step, rev, offset, count, render(got), render(want))
				}
			case 7:
				if r.IntN(5) == 0 && len(m) > 0 {
					n := r.IntN(3) + 1
					highest := r.IntN(2) == 0
					got := z.Pop(n, highest)
					var want []ScoredMember
					for i := 0; i < min(n, len(m)); i++ {
						if highest {
							want = append(want, m[len(m)-1-i])
						} else {
							want = append(want, m[i])
						}
					}
					for _, e := range want {
						m = slices.Delete(m, m.find(string(e.Member)), m.find(string(e.Member))+1)
					}
					if render(got) != render(want) {
						t.Fatalf("step %d: pop", step)
					}
				}
			case 8:
				if r.IntN(8) == 0 && len(m) > 0 {
					start := r.IntN(len(m))
					stop := start + r.IntN(min(3, len(m)-start))
					if n := z.RemoveRangeByRank(start, stop); n != stop-start+1 {
						t.Fatalf("step %d: zremrangebyrank %d", step, n)
					}
					m = slices.Delete(m, start, stop+1)
				}
			case 9:
				if s, ok := z.Score([]byte(member)); ok != (m.find(member) >= 0) || ok && s != m[m.find(member)].Score {
					t.Fatalf("step %d: score %s", step, member)
				}
			}
			if step%25 == 0 {
				checkZSet(t, z, m, step)
			}
		}
		checkZSet(t, z, m, -1)
		checkZSet(t, z.Copy().(*ZSet), m, -2)
	}
}

func lexGE(b []byte, lo LexBound) bool {
	switch {
	case lo.Inf < 0:
		return true
	case lo.Inf > 0:
		return false
	}
	c := bytes.Compare(b, lo.Val)
	return c > 0 || c == 0 && !lo.Ex
}

func lexLE(b []byte, hi LexBound) bool {
	switch {
	case hi.Inf > 0:
		return true
	case hi.Inf < 0:
		return false
	}
	c := bytes.Compare(b, hi.Val)
	return c < 0 || c == 0 && !hi.Ex
}

func limit(ms []ScoredMember, offset, count int) []ScoredMember {
	if offset >= len(ms) {
		return nil
	}
	ms = ms[offset:]
	if count >= 0 && count < len(ms) {
		ms = ms[:count]
	}
	return ms
}

// modelAdd is ZADD's zsetAdd semantics over the model.
func modelAdd(m *zmodel, member string, score float64, flags AddFlags) (AddResult, float64) {
	i := m.find(member)
	if i >= 0 {
		cur := (*m)[i].Score
		if flags&AddNX != 0 {
			return Skipped, cur
		}
		if flags&AddIncr != 0 {
			score += cur
			if math.IsNaN(score) {
				return NaNScore, cur
			}
		}
		if flags&AddLT != 0 && score >= cur || flags&AddGT != 0 && score <= cur {
			return Skipped, cur
		}
		if score == cur {
			return Unchanged, cur
		}
		m.set(member, score)
		return Updated, score
	}
	if flags&AddXX != 0 {
		return Skipped, 0
	}
	m.set(member, score)
	return Added, score
}

func TestZSetThresholds(t *testing.T) {
	z := NewZSet()
	for i := 0; i < 128; i++ {
		z.Add([]byte(fmt.Sprint(i)), float64(i), 0, DefaultZSetLimits)
	}
	if z.Encoding() != "listpack" {
		t.Fatalf("128 members: %s", z.Encoding())
	}
	z.Add([]byte("5"), 99, 0, DefaultZSetLimits) // update: no conversion
	if z.Encoding() != "listpack" {
		t.Fatalf("update converted")
	}
	z.Add([]byte("x"), 1, 0, DefaultZSetLimits)
	if z.Encoding() != "skiplist" {
		t.Fatalf("129 members: %s", z.Encoding())
	}
	z2 := NewZSet()
	z2.Add([]byte(strings.Repeat("m", 64)), 1, 0, DefaultZSetLimits)
	if z2.Encoding() != "listpack" {
		t.Fatalf("64-byte member converted")
	}
	z2.Add([]byte(strings.Repeat("m", 65)), 1, 0, DefaultZSetLimits)
	if z2.Encoding() != "skiplist" {
		t.Fatalf("65-byte member did not convert")
	}
	z3 := NewZSet()
	z3.Add([]byte("a"), 1, 0, Limits{Entries: 0, Value: 64})
	if z3.Encoding() != "skiplist" {
		t.Fatalf("entries 0: %s", z3.Encoding())
	}
	// INCR to NaN is refused and stores nothing.
	z.Add([]byte("inf"), math.Inf(1), 0, DefaultZSetLimits)
	if res, _ := z.Add([]byte("inf"), math.Inf(-1), AddIncr, DefaultZSetLimits); res != NaNScore {
		t.Fatalf("inf + -inf: %v", res)
	}
}

func TestZSetBigRanks(t *testing.T) {
	z := NewZSet()
	const n = 20000
	perm := rand.Perm(n)
	for _, i := range perm {
		z.Add([]byte(fmt.Sprintf("m%06d", i)), float64(i/3), 0, DefaultZSetLimits)
	}
	for i := 0; i < n; i += 997 {
		r, s, ok := z.Rank([]byte(fmt.Sprintf("m%06d", i)), false)
		if !ok || r != i || s != float64(i/3) {
			t.Fatalf("rank of %d: %d", i, r)
		}
	}
	for _, i := range perm[:n/2] {
		z.Remove([]byte(fmt.Sprintf("m%06d", i)))
	}
	want := 0
	for _, i := range perm[n/2:] {
		if i/3 >= 100 && i/3 < 2000 {
			want++
		}
	}
	if got := z.CountByScore(ScoreRange{Min: 100, Max: 2000, MaxEx: true}); got != want {
		t.Fatalf("count after deletes: %d want %d", got, want)
	}
	seen := map[string]bool{}
	for c := z.Scan(0, func(m Elem, _ float64) { seen[m.String()] = true }); c != 0; {
		c = z.Scan(c, func(m Elem, _ float64) { seen[m.String()] = true })
	}
	if len(seen) != n/2 {
		t.Fatalf("scan returned %d of %d", len(seen), n/2)
	}
	got := 0
	z.Random(-100, func(m Elem, s float64) {
		if sc, ok := z.Score(m.Bytes()); !ok || sc != s {
			t.Fatalf("random member %q", m.String())
		}
		got++
	})
	distinct := map[string]bool{}
	z.Random(3000, func(m Elem, _ float64) { distinct[m.String()] = true })
	if got != 100 || len(distinct) != 3000 {
		t.Fatalf("random: %d, distinct %d", got, len(distinct))
	}
}

func TestZSetRandomListpack(t *testing.T) {
	z := NewZSet()
	for i := 0; i < 50; i++ {
		z.Add([]byte(fmt.Sprint("m", i)), float64(i), 0, DefaultZSetLimits)
	}
	n := 0
	z.Random(-500, func(m Elem, s float64) {
		if sc, ok := z.Score(m.Bytes()); !ok || sc != s {
			t.Fatalf("random member %q %v", m.String(), s)
		}
		n++
	})
	distinct := map[string]bool{}
	z.Random(20, func(m Elem, _ float64) { distinct[m.String()] = true })
	if n != 500 || len(distinct) != 20 || z.Encoding() != "listpack" {
		t.Fatalf("random: %d, distinct %d, %s", n, len(distinct), z.Encoding())
	}
}

func TestEmptyAndInvertedRanges(t *testing.T) {
	z := NewZSet()
	for i := 0; i < 10; i++ {
		z.Add([]byte(fmt.Sprint(i)), float64(i), 0, DefaultZSetLimits)
	}
	n := 0
	z.RangeByRank(5, 3, false, func(Elem, float64) bool { n++; return true })
	z.RangeByRank(-1, 3, false, func(Elem, float64) bool { n++; return true })
	z.RangeByScore(ScoreRange{Min: 5, Max: 3}, false, 0, -1, func(Elem, float64) bool { n++; return true })
	z.RangeByScore(ScoreRange{Min: 3, Max: 3, MinEx: true}, true, 0, -1, func(Elem, float64) bool { n++; return true })
	if n != 0 {
		t.Fatalf("inverted ranges returned %d members", n)
	}
	NewZSet().Random(-3, func(Elem, float64) { n++ })
	NewHash().Random(-3, func(Elem, Elem) { n++ })
	NewSet().Random(-3, func(Elem) { n++ })
	if n != 0 || NewSet().Pop() != nil {
		t.Fatalf("empty values returned members")
	}
	if _, ok := NewList().Pop(true); ok {
		t.Fatalf("pop from empty list")
	}
}
