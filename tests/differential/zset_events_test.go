package differential

import "testing"

// zsetEventScript exercises every sorted set write and SORT ... STORE,
// including calls that change nothing (they must emit nothing), calls that
// empty a key (an extra "del") and stores that delete their destination.
var zsetEventScript = [][]string{
	{"ZADD", "z", "1", "a", "2", "b", "3", "c"},
	{"ZADD", "z", "1", "a"},
	{"ZADD", "z", "NX", "5", "a"},
	{"ZADD", "z", "XX", "5", "nomember"},
	{"ZADD", "z", "XX", "CH", "5", "a"},
	{"ZADD", "z", "GT", "1", "a"},
	{"ZADD", "z", "INCR", "1", "a"},
	{"ZADD", "z", "NX", "INCR", "1", "a"},
	{"ZINCRBY", "z", "0", "b"},
	{"ZINCRBY", "z", "2", "b"},
	{"ZADD", "inf", "inf", "m"},
	{"ZINCRBY", "inf", "-inf", "m"},
	{"ZADD", "z", "x", "bad"},
	{"ZREM", "z", "nomember"},
	{"ZREM", "z", "a"},
	{"ZREMRANGEBYSCORE", "z", "10", "20"},
	{"ZREMRANGEBYSCORE", "z", "-inf", "2"},
	{"ZADD", "z", "1", "a", "2", "b", "3", "d", "4", "e"},
	{"ZREMRANGEBYRANK", "z", "9", "10"},
	{"ZREMRANGEBYRANK", "z", "0", "0"},
	{"ZADD", "lex", "0", "a", "0", "b", "0", "c"},
	{"ZREMRANGEBYLEX", "lex", "[x", "[y"},
	{"ZREMRANGEBYLEX", "lex", "-", "(c"},
	{"ZREMRANGEBYLEX", "lex", "-", "+"},
	{"ZPOPMIN", "z"},
	{"ZPOPMAX", "z", "0"},
	{"ZPOPMAX", "z", "2"},
	{"ZPOPMIN", "nokey"},
	{"ZADD", "z", "1", "a", "2", "b"},
	{"ZPOPMIN", "z", "5"},
	{"ZADD", "m1", "1", "a", "2", "b"},
	{"ZMPOP", "2", "nokey", "m1", "MAX", "COUNT", "1"},
	{"ZMPOP", "1", "m1", "MIN", "COUNT", "9"},
	{"ZMPOP", "1", "m1", "MIN"},
	{"ZADD", "s1", "1", "a", "2", "b"},
	{"ZADD", "s2", "3", "b", "4", "c"},
	{"ZUNIONSTORE", "dst", "2", "s1", "s2"},
	{"ZINTERSTORE", "dst", "2", "s1", "s2"},
	{"ZINTERSTORE", "dst", "2", "s1", "nokey"},
	{"ZINTERSTORE", "dst", "2", "s1", "nokey"},
	{"ZDIFFSTORE", "dst", "2", "s1", "s2"},
	{"ZDIFFSTORE", "dst", "2", "s1", "s1"},
	{"ZRANGESTORE", "dst", "s1", "0", "-1"},
	{"ZRANGESTORE", "dst", "s1", "5", "9"},
	{"ZRANGESTORE", "dst", "nokey", "0", "-1"},
	{"ZADD", "n", "3", "3", "1", "1", "2", "2"},
	{"SORT", "n", "STORE", "sorted"},
	{"SORT", "n", "LIMIT", "9", "1", "STORE", "sorted"},
	{"SORT", "n", "LIMIT", "9", "1", "STORE", "sorted"},
	{"SORT", "nokey", "STORE", "n"},
}

// TestZSetEvents runs zsetEventScript on both servers with keyspace
// notifications on and compares the keyevent messages, as
// TestCollectionEvents does for hashes and sets.
func TestZSetEvents(t *testing.T) {
	compareEvents(t, zsetEventScript, 30)
}

// zsetReadScript mixes sorted set reads (which count keyspace hits and
// misses, as Redis's lookupKeyRead) with writes (which do not), and SORT,
// whose BY and GET patterns count a lookup per member.
var zsetReadScript = [][]string{
	{"ZADD", "z", "1", "a", "2", "b"}, {"ZADD", "t", "2", "b", "3", "c"}, {"SADD", "s", "a"},
	{"ZCARD", "z"}, {"ZCARD", "nokey"}, {"ZSCORE", "z", "a"}, {"ZSCORE", "nokey", "a"},
	{"ZMSCORE", "z", "a", "x"}, {"ZMSCORE", "nokey", "a"}, {"ZRANK", "z", "b"}, {"ZREVRANK", "nokey", "b"},
	{"ZCOUNT", "z", "-inf", "+inf"}, {"ZCOUNT", "z", "x", "1"}, {"ZLEXCOUNT", "z", "-", "+"},
	{"ZRANGE", "z", "0", "-1"}, {"ZRANGE", "nokey", "0", "-1"}, {"ZRANGEBYSCORE", "z", "0", "1"},
	{"ZREVRANGEBYLEX", "z", "+", "-"}, {"ZRANDMEMBER", "z"}, {"ZRANDMEMBER", "nokey", "2"},
	{"ZSCAN", "z", "0"}, {"ZSCAN", "nokey", "0"},
	{"ZUNION", "3", "z", "t", "nokey"}, {"ZINTER", "2", "z", "s"}, {"ZDIFF", "2", "z", "t"}, {"ZINTERCARD", "2", "z", "t"},
	{"ZUNIONSTORE", "d", "2", "z", "nokey"}, {"ZINTERSTORE", "d", "2", "z", "t"}, {"ZDIFFSTORE", "d", "2", "z", "t"},
	{"ZRANGESTORE", "d", "z", "0", "-1"}, {"ZRANGESTORE", "d", "nokey", "0", "-1"},
	{"ZADD", "z", "3", "c"}, {"ZINCRBY", "z", "1", "a"}, {"ZREM", "z", "c"}, {"ZREM", "nokey", "c"},
	{"ZREMRANGEBYRANK", "nokey", "0", "1"}, {"ZREMRANGEBYSCORE", "t", "5", "6"}, {"ZREMRANGEBYLEX", "t", "-", "(a"},
	{"ZPOPMIN", "t"}, {"ZPOPMAX", "nokey"}, {"ZMPOP", "2", "nokey", "t", "MIN"},
	{"SET", "w_a", "2"}, {"SORT", "z"}, {"SORT", "nokey"}, {"SORT", "z", "BY", "w_*", "GET", "#", "GET", "w_*"},
	{"SORT_RO", "z", "BY", "nosort"}, {"SORT", "z", "ALPHA", "STORE", "d"},
}

// TestZSetKeyspaceStats compares, command by command, how the sorted set
// commands and SORT count keyspace hits and misses.
func TestZSetKeyspaceStats(t *testing.T) {
	compareKeyspaceStats(t, zsetReadScript)
}
