package types

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"strings"
	"testing"
)

func checkHash(t *testing.T, h *Hash, model map[string]string, step int) {
	t.Helper()
	if h.Len() != len(model) {
		t.Fatalf("step %d: len %d want %d", step, h.Len(), len(model))
	}
	got := map[string]string{}
	h.Each(func(f, v Elem) bool {
		if _, dup := got[f.String()]; dup {
			t.Fatalf("step %d: field %q twice", step, f.String())
		}
		got[f.String()] = v.String()
		return true
	})
	if !maps.Equal(got, model) {
		t.Fatalf("step %d: contents differ\n got %v\nwant %v", step, got, model)
	}
	for f, v := range model {
		e, ok := h.Get([]byte(f))
		if !ok || e.String() != v || h.StrLen([]byte(f)) != len(v) {
			t.Fatalf("step %d: get %q = %q %v", step, f, e.String(), ok)
		}
	}
}

func TestHashRandomized(t *testing.T) {
	lim := Limits{Entries: 16, Value: 20}
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 20; round++ {
		h := NewHash()
		model := map[string]string{}
		converted := false
		for step := 0; step < 1500; step++ {
			f := fmt.Sprint(r.IntN(40))
			if r.IntN(3) == 0 {
				f = "f" + f
			}
			switch r.IntN(5) {
			case 0, 1, 2:
				v := randElem(r)
				if r.IntN(10) > 0 {
					v = v[:min(len(v), 20)]
				}
				_, existed := model[f]
				wasLP := h.Encoding() == "listpack"
				if isNew := h.Set([]byte(f), []byte(v), lim); isNew == existed {
					t.Fatalf("step %d: set %q reported new=%v", step, f, isNew)
				}
				model[f] = v
				if wasLP {
					wantHT := len(f) > lim.Value || len(v) > lim.Value || len(model) > lim.Entries
					if (h.Encoding() == "hashtable") != wantHT {
						t.Fatalf("step %d: encoding %s after set (len %d, vlen %d)", step, h.Encoding(), len(model), len(v))
					}
				}
			case 3:
				_, existed := model[f]
				if h.Delete([]byte(f)) != existed {
					t.Fatalf("step %d: delete %q", step, f)
				}
				delete(model, f)
			case 4:
				_, existed := model[f]
				if h.Exists([]byte(f)) != existed {
					t.Fatalf("step %d: exists %q", step, f)
				}
			}
			if converted && h.Encoding() != "hashtable" {
				t.Fatalf("step %d: converted back", step)
			}
			converted = h.Encoding() == "hashtable"
			if step%50 == 0 {
				checkHash(t, h, model, step)
			}
		}
		checkHash(t, h, model, -1)
		checkHash(t, h.Copy().(*Hash), model, -2)
	}
}

func TestHashThresholds(t *testing.T) {
	cases := []struct {
		name   string
		fields int
		vlen   int
		flen   int
		want   string
	}{
		{"at entry limit", 512, 10, 5, "listpack"},
		{"past entry limit", 513, 10, 5, "hashtable"},
		{"value at limit", 1, 64, 5, "listpack"},
		{"value past limit", 1, 65, 5, "hashtable"},
		{"field past limit", 1, 1, 65, "hashtable"},
	}
	for _, c := range cases {
		h := NewHash()
		for i := 0; i < c.fields; i++ {
			f := fmt.Sprintf("%0*d", c.flen, i)
			h.Set([]byte(f), []byte(strings.Repeat("v", c.vlen)), DefaultHashLimits)
		}
		if h.Encoding() != c.want {
			t.Errorf("%s: encoding %s want %s", c.name, h.Encoding(), c.want)
		}
	}
	// HSET converts on an over-long argument before storing anything, and
	// deleting never converts back.
	h := NewHash()
	h.Set([]byte("a"), []byte("1"), DefaultHashLimits)
	h.ConvertIfTooLong([][]byte{[]byte("b"), []byte(strings.Repeat("x", 65))}, DefaultHashLimits)
	if h.Encoding() != "hashtable" {
		t.Fatalf("ConvertIfTooLong did not convert")
	}
	h.Delete([]byte("a"))
	h.Set([]byte("a"), []byte("1"), DefaultHashLimits)
	if h.Encoding() != "hashtable" {
		t.Fatalf("converted back")
	}
}

func TestHashListpackOrder(t *testing.T) {
	h := NewHash()
	for _, kv := range [][2]string{{"z", "1"}, {"a", "2"}, {"m", "3"}, {"a", "4"}} {
		h.Set([]byte(kv[0]), []byte(kv[1]), DefaultHashLimits)
	}
	var got []string
	h.Each(func(f, v Elem) bool { got = append(got, f.String()+"="+v.String()); return true })
	if strings.Join(got, " ") != "z=1 a=4 m=3" {
		t.Fatalf("order %v", got)
	}
}

// TestHashScanGuarantee interleaves an HSCAN with inserts and deletes that
// resize the table: every field present for the whole scan must come back.
func TestHashScanGuarantee(t *testing.T) {
	for round := 0; round < 10; round++ {
		h := NewHash()
		lim := Limits{Entries: 0, Value: 64}
		for i := 0; i < 2000; i++ {
			h.Set([]byte(fmt.Sprint("stable", i)), []byte("v"), lim)
		}
		seen := map[string]bool{}
		cursor := uint64(0)
		churn := 0
		for {
			cursor = h.Scan(cursor, func(f, _ Elem) { seen[f.String()] = true })
			if cursor == 0 {
				break
			}
			// Grow then shrink the table while the scan runs.
			if round%2 == 0 && churn < 6000 {
				for j := 0; j < 40; j++ {
					h.Set([]byte(fmt.Sprint("churn", churn)), []byte("x"), lim)
					churn++
				}
			} else if churn < 1900 {
				for j := 0; j < 40; j++ {
					h.Delete([]byte(fmt.Sprint("stable", 2000-1-churn)))
					churn++
				}
			}
		}
		limit := 2000
		if round%2 == 1 {
			limit = 2000 - churn
		}
		for i := 0; i < limit; i++ {
			if !seen[fmt.Sprint("stable", i)] {
				t.Fatalf("round %d: stable%d never returned", round, i)
			}
		}
	}
}

func TestHashRandom(t *testing.T) {
	for _, lim := range []Limits{DefaultHashLimits, {Entries: 0, Value: 64}} {
		h := NewHash()
		for i := 0; i < 100; i++ {
			h.Set([]byte(fmt.Sprint("f", i)), []byte(fmt.Sprint(i)), lim)
		}
		for _, count := range []int{1, 5, 40, 99, 100, 150} {
			seen := map[string]bool{}
			h.Random(count, func(f, v Elem) {
				if seen[f.String()] {
					t.Fatalf("%s count %d: %q twice", h.Encoding(), count, f.String())
				}
				if "f"+v.String() != f.String() {
					t.Fatalf("pair mismatch %q %q", f.String(), v.String())
				}
				seen[f.String()] = true
			})
			if len(seen) != min(count, 100) {
				t.Fatalf("%s count %d: got %d", h.Encoding(), count, len(seen))
			}
		}
		n := 0
		h.Random(-300, func(f, v Elem) {
			n++
			if !h.Exists(f.Bytes()) {
				t.Fatalf("random returned absent %q", f.String())
			}
		})
		if n != 300 {
			t.Fatalf("negative count gave %d", n)
		}
	}
}
