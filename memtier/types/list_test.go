package types

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// checkList compares l with the model and checks the node invariants.
func checkList(t *testing.T, l *List, model []string, fill int, step int) {
	t.Helper()
	if l.Len() != len(model) {
		t.Fatalf("step %d: len %d want %d", step, l.Len(), len(model))
	}
	sum := 0
	for i := 0; i < l.nn; i++ {
		nd := l.node(i)
		if nd.n == 0 {
			t.Fatalf("step %d: empty node %d", step, i)
		}
		cnt := 0
		for pos := 0; pos < len(nd.lp); pos += lpEntrySize(nd.lp, pos) {
			cnt++
		}
		if cnt != nd.n {
			t.Fatalf("step %d: node %d says %d entries, holds %d", step, i, nd.n, cnt)
		}
		sum += nd.n
	}
	if sum != l.Len() {
		t.Fatalf("step %d: node counts %d, len %d", step, sum, l.Len())
	}
	for i := 1; i < l.nn; i++ {
		if l.node(i-1).seq >= l.node(i).seq {
			t.Fatalf("step %d: chunk numbers %#x then %#x", step, l.node(i-1).seq, l.node(i).seq)
		}
	}
	var fwd, back []string
	l.Each(false, func(i int, e Elem) bool {
		if i != len(fwd) {
			t.Fatalf("step %d: index %d at position %d", step, i, len(fwd))
		}
		fwd = append(fwd, e.String())
		return true
	})
	l.Each(true, func(i int, e Elem) bool {
		if i != len(model)-1-len(back) {
			t.Fatalf("step %d: reverse index %d", step, i)
		}
		back = append(back, e.String())
		return true
	})
	slices.Reverse(back)
	if !slices.Equal(fwd, model) || !slices.Equal(back, model) {
		t.Fatalf("step %d:\n got %v\nback %v\nwant %v", step, fwd, back, model)
	}
}

func randElem(r *rand.Rand) string {
	switch r.IntN(4) {
	case 0:
		return fmt.Sprint(r.IntN(20) - 5)
	case 1:
		return fmt.Sprint(r.Int64() - r.Int64())
	case 2:
		return strings.Repeat(string(rune('a'+r.IntN(3))), r.IntN(5))
	}
	return strings.Repeat("v", r.IntN(300))
}

func TestListRandomized(t *testing.T) {
	for _, fill := range []int{-2, -1, 1, 3, 16} {
		r := rand.New(rand.NewPCG(uint64(fill+10), 7))
		l := NewList()
		var model []string
		// The list is written into a model of the disk tier now and then:
		// its chunks always equal the nodes, and most writes are of the
		// changes only.
		var d chunkDisk
		deltas, wholes := 0, 0
		for step := 0; step < 6000; step++ {
			v := randElem(r)
			switch op := r.IntN(12); op {
			case 0, 1:
				l.Push([]byte(v), true, fill)
				model = append([]string{v}, model...)
			case 2, 3:
				l.Push([]byte(v), false, fill)
				model = append(model, v)
			case 4:
				got, ok := l.Pop(op%2 == 0)
				if ok != (len(model) > 0) || ok && string(got) != model[0] {
					t.Fatalf("step %d: lpop %q %v", step, got, ok)
				}
				if ok {
					model = model[1:]
				}
			case 5:
				got, ok := l.Pop(false)
				if ok != (len(model) > 0) || ok && string(got) != model[len(model)-1] {
					t.Fatalf("step %d: rpop %q %v", step, got, ok)
				}
				if ok {
					model = model[:len(model)-1]
				}
			case 6:
				if len(model) > 0 {
					i := r.IntN(len(model))
					e, ok := l.Index(i)
					if !ok || e.String() != model[i] {
						t.Fatalf("step %d: index %d: %q", step, i, e.String())
					}
					l.Set(i, []byte(v), fill)
					model[i] = v
				}
			case 7:
				i := r.IntN(len(model) + 1)
				l.Insert(i, []byte(v), fill)
				model = slices.Insert(model, i, v)
			case 8:
				if len(model) > 0 {
					pivot := model[r.IntN(len(model))]
					after := r.IntN(2) == 0
					n := l.InsertPivot([]byte(pivot), []byte(v), after, fill)
					at := slices.Index(model, pivot)
					if after {
						at++
					}
					model = slices.Insert(model, at, v)
					if n != len(model) {
						t.Fatalf("step %d: linsert returned %d", step, n)
					}
				}
				if l.InsertPivot([]byte("absent-pivot"), []byte(v), false, fill) != -1 {
					t.Fatalf("absent pivot")
				}
			case 9:
				count := r.IntN(5) - 2
				target := randElem(r)
				if len(model) > 0 && r.IntN(2) == 0 {
					target = model[r.IntN(len(model))]
				}
				got := l.Remove([]byte(target), count)
				want := modelRemove(&model, target, count)
				if got != want {
					t.Fatalf("step %d: lrem %q %d = %d want %d", step, target, count, got, want)
				}
			case 10:
				if r.IntN(20) == 0 && len(model) > 0 {
					start, stop := r.IntN(len(model)), r.IntN(len(model))
					l.Trim(start, stop)
					if start > stop {
						model = nil
					} else {
						model = append([]string(nil), model[start:stop+1]...)
					}
				}
			case 11:
				if len(model) > 0 {
					start := r.IntN(len(model))
					stop := start + r.IntN(len(model)-start)
					var got []string
					l.Range(start, stop, func(e Elem) bool { got = append(got, e.String()); return true })
					if !slices.Equal(got, model[start:stop+1]) {
						t.Fatalf("step %d: range %d..%d", step, start, stop)
					}
				}
			}
			if step%97 == 0 || len(model) < 5 {
				checkList(t, l, model, fill, step)
			}
			if step%7 == 0 {
				d.write(l)
				d.check(t, l, model, step)
				if d.whole {
					wholes++
				} else {
					deltas++
				}
			}
			if step%500 == 0 {
				c := l.Copy().(*List)
				checkList(t, c, model, fill, step)
			}
		}
		checkList(t, l, model, fill, -1)
		t.Logf("fill %d: %d writes of the changes, %d whole", fill, deltas, wholes)
		if deltas < 10*wholes {
			t.Errorf("fill %d: %d writes of the changes, %d whole", fill, deltas, wholes)
		}
	}
}

func modelRemove(model *[]string, v string, count int) int {
	m := *model
	removed := 0
	if count >= 0 {
		out := m[:0:0]
		for _, e := range m {
			if e == v && (count == 0 || removed < count) {
				removed++
				continue
			}
			out = append(out, e)
		}
		*model = out
		return removed
	}
	keep := make([]bool, len(m))
	for i := len(m) - 1; i >= 0; i-- {
		keep[i] = true
		if m[i] == v && removed < -count {
			keep[i] = false
			removed++
		}
	}
	var out []string
	for i, e := range m {
		if keep[i] {
			out = append(out, e)
		}
	}
	*model = out
	return removed
}

func TestListNodeSizes(t *testing.T) {
	l := NewList()
	for i := 0; i < 10000; i++ {
		l.Push([]byte("element-of-sixteen"), i%2 == 0, DefaultListFill)
	}
	for i := 0; i < l.nn; i++ {
		if len(l.node(i).lp) > 8192 {
			t.Fatalf("node %d is %d bytes", i, len(l.node(i).lp))
		}
	}
	if l.nn > 30 {
		t.Fatalf("%d nodes for 10000 x 20 bytes: nodes are not being filled", l.nn)
	}
	if l.Encoding() != "quicklist" {
		t.Fatalf("encoding %s", l.Encoding())
	}
}
