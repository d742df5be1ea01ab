package commands

import (
	"slices"
	"strconv"
	"testing"
)

// SPOP with a count takes one of three paths (the whole set, one by one,
// or rebuilding the set from the members left): in each, the members
// popped and the members left must split the set exactly, in both
// encodings.
func TestSPopCountSplitsTheSet(t *testing.T) {
	for _, members := range []func(i int) string{
		func(i int) string { return strconv.Itoa(i) },       // intset
		func(i int) string { return "m" + strconv.Itoa(i) }, // hashtable
	} {
		for _, count := range []int{1, 3, 10, 17, 19, 20, 50} {
			kt := newKeyTester(t)
			args := []string{"sadd", "s"}
			for i := 0; i < 20; i++ {
				args = append(args, members(i))
			}
			kt.do(args...)
			popped := strs(kt.reply("spop", "s", strconv.Itoa(count)))
			left := strs(kt.reply("smembers", "s"))
			if want := min(count, 20); len(popped) != want {
				t.Fatalf("count %d: popped %d", count, len(popped))
			}
			all := append(popped, left...)
			slices.Sort(all)
			var want []string
			for i := 0; i < 20; i++ {
				want = append(want, members(i))
			}
			slices.Sort(want)
			if !slices.Equal(all, want) {
				t.Fatalf("count %d: popped %v and left %v", count, popped, left)
			}
			if exists := kt.do("exists", "s"); (len(left) == 0) != (exists == ":0\r\n") {
				t.Fatalf("count %d: %d left, EXISTS %q", count, len(left), exists)
			}
		}
	}
}

// SRANDMEMBER with a positive count gives distinct members; with a negative
// one, members that may repeat.
func TestSRandMemberPicks(t *testing.T) {
	for _, n := range []int{10, 1000} { // intset, hashtable
		kt := newKeyTester(t)
		args := []string{"sadd", "s"}
		for i := 0; i < n; i++ {
			args = append(args, strconv.Itoa(i*3))
		}
		kt.do(args...)
		for _, count := range []int{1, n / 3, n - 1, n, n + 5} {
			picks := strs(kt.reply("srandmember", "s", strconv.Itoa(count)))
			if len(picks) != min(count, n) {
				t.Fatalf("n=%d count=%d: %d picks", n, count, len(picks))
			}
			slices.Sort(picks)
			if len(slices.Compact(picks)) != len(picks) {
				t.Fatalf("n=%d count=%d: repeated picks", n, count)
			}
		}
		for _, m := range strs(kt.reply("srandmember", "s", "-40")) {
			if kt.do("sismember", "s", m) != ":1\r\n" {
				t.Fatalf("n=%d: picked %q, not a member", n, m)
			}
		}
	}
}
