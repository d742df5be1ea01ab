package commands

import (
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/structd/structd/memtier/types"
)

// The differential corpus (tests/differential/testdata/zset.txt) compares
// every sorted set command with redis-server; these tests cover what it
// cannot reach: key extraction on hostile arguments, the pop reply shapes
// the blocking commands will use, and the change counter.

func argv(s string) [][]byte {
	var out [][]byte
	for _, f := range strings.Fields(s) {
		out = append(out, []byte(f))
	}
	return out
}

func TestZSetKeyPositions(t *testing.T) {
	for _, tc := range []struct {
		cmd, args string
		want      []int
	}{
		{"zunion", "zunion 2 a b WEIGHTS 1 2", []int{2, 3}},
		{"zunion", "zunion 5 a b", []int{2, 3}},
		{"zunion", "zunion 0 a", nil},
		{"zunion", "zunion -3 a", nil},
		{"zunion", "zunion x a", nil},
		{"zunion", "zunion 9223372036854775807 a", []int{2}},
		{"zunionstore", "zunionstore d 2 a b", []int{1, 3, 4}},
		{"zunionstore", "zunionstore d", []int{1}},
		{"zdiffstore", "zdiffstore d x a", []int{1}},
		{"zmpop", "zmpop 2 a b MIN COUNT 1", []int{2, 3}},
		{"zintercard", "zintercard 1 a LIMIT 5", []int{2}},
		{"zrangestore", "zrangestore d s 0 -1", []int{1, 2}},
		{"sort", "sort k", []int{1}},
		{"sort", "sort k STORE d", []int{1, 3}},
		{"sort", "sort k STORE d1 LIMIT 0 1 STORE d2", []int{1, 8}},
		{"sort", "sort k GET store BY store STORE d", []int{1, 7}},
		{"sort", "sort k STORE", []int{1}},
		{"sort", "sort k STORE limit STORE d", []int{1, 5}},
		{"sort", "sort k STORE d FOO STORE e", []int{1, 3}},
		{"sort", "sort k LIMIT", []int{1}},
		{"sort_ro", "sort_ro k STORE d", []int{1}},
	} {
		cmd := All().Lookup([]byte(tc.cmd))
		if got := cmd.KeyPositions(argv(tc.args)); !slices.Equal(got, tc.want) {
			t.Errorf("%s: keys %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestSortWideOnlyWithPatterns(t *testing.T) {
	sort := All().Lookup([]byte("sort"))
	for args, want := range map[string]bool{
		"sort k":                      false,
		"sort k ALPHA LIMIT 0 1":      false,
		"sort k STORE d":              false,
		"sort k BY w_*":               true,
		"sort k by nosort":            false,
		"sort k GET #":                false,
		"sort k GET nostar":           false,
		"sort k ALPHA get h_*->f":     true,
		"sort k GET # GET o_*":        true,
		"sort by":                     false, // "by" is the key here
		"sort k STORE d GET x_* DESC": true,
		"sort k BY":                   false,
	} {
		if got := sort.Wide(argv(args)); got != want {
			t.Errorf("%s: wide %v, want %v", args, got, want)
		}
	}
}

// The expectations were read from redis-server 7.0.15 (ZADD for scores,
// ZCOUNT for bounds, SORT BY for sort weights).
func TestScoreParsing(t *testing.T) {
	for _, tc := range []struct {
		in          string
		score, bond bool // accepted by ZADD, by ZCOUNT
	}{
		{"1", true, true}, {"-1.5", true, true}, {"0x10", true, true},
		{"inf", true, true}, {"-infinity", true, true}, {"+inf", true, true},
		{"1e400", false, true}, {"1e-400", false, true}, {"1e-310", true, true},
		{" 1", false, true}, {"1 ", false, false}, {"", false, true},
		{"nan", false, false}, {"1_0", false, false}, {"0x", false, false},
		{"abc", false, false}, {"1\x00x", false, true}, {".5", true, true},
	} {
		if _, ok := parseScore([]byte(tc.in)); ok != tc.score {
			t.Errorf("parseScore(%q) ok %v, want %v", tc.in, ok, tc.score)
		}
		if _, _, ok := parseScoreBound([]byte(tc.in)); ok != tc.bond {
			t.Errorf("parseScoreBound(%q) ok %v, want %v", tc.in, ok, tc.bond)
		}
	}
	if f, ex, ok := parseScoreBound([]byte("(0x10")); !ok || !ex || f != 16 {
		t.Errorf(`parseScoreBound("(0x10") = %v %v %v`, f, ex, ok)
	}
	if f, _, ok := parseScoreBound([]byte("1e400")); !ok || !math.IsInf(f, 1) {
		t.Errorf(`parseScoreBound("1e400") = %v %v`, f, ok)
	}
	for in, want := range map[string]bool{"": true, " 2": true, "2 ": false, "1e400": false, "1e-400": false, "-inf": true, "nan": false} {
		if _, ok := parseSortScore([]byte(in)); ok != want {
			t.Errorf("parseSortScore(%q) ok %v, want %v", in, ok, want)
		}
	}
}

// TestZPopShapes checks zpopGeneric's reply layouts, including the one
// BZPOPMIN/BZPOPMAX use (key, member, score), which only the blocking
// commands reach.
func TestZPopShapes(t *testing.T) {
	for _, tc := range []struct {
		shape zpopShape
		proto int
		want  string
	}{
		{zpopFlat, 2, "*4\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"},
		{zpopPairs, 3, "*2\r\n*2\r\n$1\r\na\r\n,1\r\n*2\r\n$1\r\nb\r\n,2.5\r\n"},
		{zpopKeyFlat, 2, "*5\r\n$1\r\nz\r\n$1\r\na\r\n$1\r\n1\r\n$1\r\nb\r\n$3\r\n2.5\r\n"},
		{zpopKeyFlat, 3, "*5\r\n$1\r\nz\r\n$1\r\na\r\n,1\r\n$1\r\nb\r\n,2.5\r\n"},
		{zpopKeyPairs, 2, "*2\r\n$1\r\nz\r\n*2\r\n*2\r\n$1\r\na\r\n$1\r\n1\r\n*2\r\n$1\r\nb\r\n$3\r\n2.5\r\n"},
	} {
		kt := newKeyTester(t)
		kt.expect(":3\r\n", "zadd", "z", "1", "a", "2.5", "b", "3", "c")
		c := &kt.ctx
		c.W.Reset()
		c.W.Proto = tc.proto
		c.DB = kt.ks.DB(0)
		z := c.DB.Peek([]byte("z")).Payload().(*types.ZSet)
		zpopGeneric(c, []byte("z"), z, false, 2, tc.shape)
		if got := string(c.W.Buf); got != tc.want {
			t.Errorf("shape %d RESP%d: %q, want %q", tc.shape, tc.proto, got, tc.want)
		}
		if z.Len() != 1 {
			t.Errorf("shape %d: %d members left, want 1", tc.shape, z.Len())
		}
	}
	// Popping the last member deletes the key.
	kt := newKeyTester(t)
	kt.expect(":1\r\n", "zadd", "z", "1", "a")
	kt.expect("*2\r\n$1\r\na\r\n$1\r\n1\r\n", "zpopmax", "z", "5")
	kt.expect(":0\r\n", "exists", "z")
}

// TestZSetChanges checks that writes count a change only when Redis's
// would (server.dirty): a no-op ZADD, ZREM of a missing member or an empty
// range removal changes nothing.
func TestZSetChanges(t *testing.T) {
	kt := newKeyTester(t)
	dirty := func() int64 { return kt.ks.Stats.Dirty.Load() }
	for _, tc := range []struct {
		args    []string
		changed bool
	}{
		{[]string{"zadd", "z", "1", "a", "2", "b"}, true},
		{[]string{"zadd", "z", "1", "a"}, false},
		{[]string{"zadd", "z", "NX", "5", "a"}, false},
		{[]string{"zadd", "z", "XX", "1", "nope"}, false},
		{[]string{"zadd", "z", "GT", "0", "a"}, false},
		{[]string{"zincrby", "z", "0", "a"}, false},
		{[]string{"zincrby", "z", "1", "a"}, true},
		{[]string{"zrem", "z", "nope"}, false},
		{[]string{"zremrangebyscore", "z", "10", "20"}, false},
		{[]string{"zremrangebyrank", "z", "5", "9"}, false},
		{[]string{"zremrangebylex", "z", "[x", "[y"}, false},
		{[]string{"zrangestore", "d", "nokey", "0", "-1"}, false},
		{[]string{"zunionstore", "d", "1", "nokey"}, false},
		{[]string{"zpopmin", "nokey"}, false},
		{[]string{"zrangestore", "d", "z", "0", "-1"}, true},
		{[]string{"zrangestore", "d", "nokey", "0", "-1"}, true}, // deletes d
		{[]string{"zrem", "z", "a"}, true},
		{[]string{"zpopmin", "z"}, true},
		{[]string{"sort", "nokey", "STORE", "d"}, false},
	} {
		before := dirty()
		kt.do(tc.args...)
		if got := dirty() != before; got != tc.changed {
			t.Errorf("%q: changed %v, want %v", tc.args, got, tc.changed)
		}
	}
}

// TestZRangeLimitsDoNotOverflow runs LIMIT and rank extremes through the
// ranges of both encodings.
func TestZRangeLimitsDoNotOverflow(t *testing.T) {
	for _, entries := range []string{"128", "1"} {
		kt := newKeyTester(t)
		z := types.NewZSet()
		lim := types.Limits{Entries: 128, Value: 64}
		if entries == "1" {
			lim.Entries = 1
		}
		for _, m := range []string{"a", "b", "c"} {
			z.Add([]byte(m), 1, 0, lim)
		}
		storeZSet(&Ctx{DB: kt.ks.DB(0)}, []byte("z"), z)
		kt.expect("*0\r\n", "zrangebyscore", "z", "-inf", "+inf", "LIMIT", "9223372036854775807", "9223372036854775807")
		kt.expect("*1\r\n$1\r\nc\r\n", "zrangebyscore", "z", "-inf", "+inf", "LIMIT", "2", "9223372036854775807")
		kt.expect("*3\r\n$1\r\nc\r\n$1\r\nb\r\n$1\r\na\r\n", "zrevrange", "z", "-9223372036854775808", "9223372036854775807")
		kt.expect("*0\r\n", "zrangebylex", "z", "-", "+", "LIMIT", "-9223372036854775808", "-1")
		kt.expect(":0\r\n", "zremrangebyrank", "z", "9223372036854775807", "-9223372036854775808")
	}
}

// TestZRandMemberRepeatsAreBounded checks that a huge negative count stops
// at maxRandomReplyBytes and closes the connection after the reply, as
// HRANDFIELD does, instead of writing until memory runs out.
func TestZRandMemberRepeatsAreBounded(t *testing.T) {
	defer func(old int) { maxRandomReplyBytes = old }(maxRandomReplyBytes)
	maxRandomReplyBytes = 4096
	kt := newKeyTester(t)
	kt.expect(":2\r\n", "zadd", "z", "1", "a", "2", "b")
	got := kt.do("zrandmember", "z", "-4611686018427387903", "WITHSCORES")
	if !strings.HasPrefix(got, "*9223372036854775806\r\n") {
		t.Fatalf("reply starts %q", got[:min(len(got), 40)])
	}
	if len(got) > 2*maxRandomReplyBytes {
		t.Errorf("reply of %d bytes, want it cut near %d", len(got), maxRandomReplyBytes)
	}
	if !kt.ctx.Session.CloseAfterReply {
		t.Error("the connection is not closed after the cut reply")
	}
}

// TestZRankWithScore checks Redis 7.2's WITHSCORE option of ZRANK and
// ZREVRANK (the differential reference, 7.0.15, predates it): replies
// as Redis 7.2 documents them, in RESP2 and RESP3.
func TestZRankWithScore(t *testing.T) {
	kt := newKeyTester(t)
	kt.do("zadd", "z", "1", "a", "2.5", "b", "3", "c")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"zrank", "z", "b", "withscore"}, "*2\r\n:1\r\n$3\r\n2.5\r\n"},
		{[]string{"zrevrank", "z", "b", "WITHSCORE"}, "*2\r\n:1\r\n$3\r\n2.5\r\n"},
		{[]string{"zrevrank", "z", "c", "withscore"}, "*2\r\n:0\r\n$1\r\n3\r\n"},
		{[]string{"zrank", "z", "x", "withscore"}, "*-1\r\n"},
		{[]string{"zrank", "nokey", "a", "withscore"}, "*-1\r\n"},
		{[]string{"zrank", "z", "x"}, "$-1\r\n"},
		{[]string{"zrank", "z", "a", "withscores"}, "-ERR syntax error\r\n"},
		{[]string{"zrank", "z", "a", "withscore", "x"}, "-ERR wrong number of arguments for 'zrank' command\r\n"},
	} {
		if got := kt.do(tc.args...); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.args, got, tc.want)
		}
	}
	kt.ctx.W.Proto = 3
	if got, want := kt.do("zrank", "z", "b", "withscore"), "*2\r\n:1\r\n,2.5\r\n"; got != want {
		t.Errorf("RESP3: got %q, want %q", got, want)
	}
	if got, want := kt.do("zrank", "z", "x", "withscore"), "_\r\n"; got != want {
		t.Errorf("RESP3 missing member: got %q, want %q", got, want)
	}
	kt.do("set", "s", "v")
	if got := kt.do("zrank", "s", "a", "withscore"); got != "-"+ErrWrongType+"\r\n" {
		t.Errorf("wrong type: got %q", got)
	}
}
