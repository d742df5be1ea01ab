package commands

import (
	"strconv"
	"sync"
	"testing"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// TestSortPatternsAreAtomic runs SORT ... BY/GET, whose pattern keys are in
// other slots than the sorted key, beside writers of those keys. Run with
// -race: the pattern reads must happen under the keyspace-wide lock that
// Command.Wide asks for, and every reply must see one consistent state (the
// writers keep w_<m> equal to the member's rank in the set).
func TestSortPatternsAreAtomic(t *testing.T) {
	ks := memtier.New(16, memtier.NewManualClock(1_700_000_000_000))
	run := func(w *resp.Writer, args ...string) string {
		c := &Ctx{W: w, Session: &Session{}, KS: ks}
		for _, a := range args {
			c.Args = append(c.Args, []byte(a))
		}
		w.Reset()
		Exec(c, All().Lookup(c.Args[0]))
		return string(w.Buf)
	}
	const members = 8
	setup := &resp.Writer{Proto: 2}
	for i := 0; i < members; i++ {
		m := strconv.Itoa(i)
		run(setup, "zadd", "z", m, m)
		run(setup, "set", "w_"+m, m)
	}
	// Sorted by weight, the GET replies are the weights in order: whatever
	// a writer did, a consistent snapshot gives 0..7 ascending or, after a
	// flip, 7..0.
	ascending := "*8\r\n"
	descending := "*8\r\n"
	for i := 0; i < members; i++ {
		ascending += "$1\r\n" + strconv.Itoa(i) + "\r\n"
		descending += "$1\r\n" + strconv.Itoa(members-1-i) + "\r\n"
	}
	var wg sync.WaitGroup
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &resp.Writer{Proto: 2}
			for round := 0; round < 200; round++ {
				// Rewrite every weight: round even 0..7, odd 7..0, as
				// one command touching every weight key at once.
				args := []string{"mset"}
				for i := 0; i < members; i++ {
					v := i
					if round%2 == 1 {
						v = members - 1 - i
					}
					args = append(args, "w_"+strconv.Itoa(i), strconv.Itoa(v))
				}
				run(w, args...)
			}
		}()
	}
	for g := 0; g < 2; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &resp.Writer{Proto: 2}
			for round := 0; round < 200; round++ {
				got := run(w, "sort", "z", "BY", "w_*", "GET", "w_*")
				if got != ascending {
					t.Errorf("SORT BY/GET saw a torn state: %q", got)
					return
				}
				got = run(w, "sort", "z", "GET", "w_*")
				if got != ascending && got != descending {
					t.Errorf("SORT GET saw a torn state: %q", got)
					return
				}
			}
		}()
	}
	wg.Wait()
}

func TestSortStoreKeepsListOrder(t *testing.T) {
	kt := newKeyTester(t)
	kt.expect(":3\r\n", "zadd", "z", "3", "c", "1", "a", "2", "b")
	kt.expect(":3\r\n", "sort", "z", "ALPHA", "DESC", "STORE", "d")
	kt.expect("*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n", "sort", "d", "BY", "nosort")
	// DESC without sorting walks the list from the tail (redis-server 7.0.15).
	kt.expect("*2\r\n$1\r\nb\r\n$1\r\nc\r\n", "sort", "d", "BY", "nosort", "DESC", "LIMIT", "1", "5")
	kt.expect("+list\r\n", "type", "d")
}

// TestSortList sorts a list built directly (the list commands are another
// family); the replies were read from redis-server 7.0.15 after
// RPUSH l 3 1 2 10 2.
func TestSortList(t *testing.T) {
	kt := newKeyTester(t)
	l := types.NewList()
	for _, v := range []string{"3", "1", "2", "10", "2"} {
		l.Push([]byte(v), false, -2)
	}
	kt.ks.DB(0).Set([]byte("l"), memtier.NewCollection(l))
	bulks := func(vs ...string) string {
		out := "*" + strconv.Itoa(len(vs)) + "\r\n"
		for _, v := range vs {
			out += "$" + strconv.Itoa(len(v)) + "\r\n" + v + "\r\n"
		}
		return out
	}
	for _, tc := range []struct {
		want string
		args []string
	}{
		{bulks("1", "2", "2", "3", "10"), []string{"sort", "l"}},
		{bulks("10", "3", "2", "2", "1"), []string{"sort", "l", "desc"}},
		{bulks("1", "10", "2", "2", "3"), []string{"sort", "l", "alpha"}},
		{bulks("3", "1", "2", "10", "2"), []string{"sort", "l", "by", "nosort"}},
		{bulks("2", "10", "2", "1", "3"), []string{"sort", "l", "by", "nosort", "desc"}},
		{bulks("1", "2"), []string{"sort", "l", "by", "nosort", "limit", "1", "2"}},
		{bulks("10", "2"), []string{"sort", "l", "by", "nosort", "desc", "limit", "1", "2"}},
		{bulks("3", "2"), []string{"sort", "l", "limit", "1", "2", "desc"}},
		{bulks("3", "2", "2"), []string{"sort_ro", "l", "alpha", "desc", "limit", "0", "3"}},
		{":5\r\n", []string{"sort", "l", "store", "l2"}},
		{bulks("1", "2", "2", "3", "10"), []string{"sort", "l2", "by", "nosort"}},
		{"$9\r\nquicklist\r\n", []string{"object", "encoding", "l2"}},
	} {
		kt.expect(tc.want, tc.args...)
	}
}
