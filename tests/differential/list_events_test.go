package differential

import "testing"

// listEventScript exercises every list write and the blocking pops that
// find data at once, including calls that change nothing (no event) and
// the ones that empty a key (an extra "del").
var listEventScript = [][]string{
	{"LPUSH", "l", "a", "b"}, {"RPUSH", "l", "c"}, {"LPUSHX", "l", "x"}, {"RPUSHX", "l", "y"},
	{"LPUSHX", "nokey", "x"}, {"RPUSHX", "nokey", "x"},
	{"LPOP", "l"}, {"RPOP", "l"}, {"LPOP", "l", "0"}, {"RPOP", "l", "1"}, {"LPOP", "nokey"},
	{"LSET", "l", "0", "z"}, {"LSET", "l", "9", "z"},
	{"LINSERT", "l", "BEFORE", "z", "w"}, {"LINSERT", "l", "AFTER", "nopivot", "w"},
	{"LREM", "l", "0", "nothing"}, {"LREM", "l", "1", "w"},
	{"LTRIM", "l", "0", "-1"}, {"LTRIM", "nokey", "0", "1"},
	{"RPUSH", "m", "1", "2", "3"},
	{"LMOVE", "m", "n", "LEFT", "RIGHT"}, {"RPOPLPUSH", "m", "m"}, {"LMOVE", "nokey", "n", "LEFT", "LEFT"},
	{"LMPOP", "2", "nokey", "m", "RIGHT", "COUNT", "5"},
	{"LMPOP", "1", "nokey", "LEFT"},
	{"LREM", "n", "0", "1"},
	{"RPUSH", "l", "p", "q", "r"}, {"LTRIM", "l", "5", "10"},
	{"RPUSH", "b", "1", "2", "3", "4"},
	{"BLPOP", "nokey", "b", "0"}, {"BRPOP", "b", "0"},
	{"BLMOVE", "b", "c", "LEFT", "LEFT", "0"}, {"BRPOPLPUSH", "b", "c", "0"},
	{"BLMPOP", "0", "1", "c", "LEFT", "COUNT", "9"},
	{"ZADD", "z", "1", "a", "2", "b", "3", "c"},
	{"BZPOPMIN", "z", "0"}, {"BZPOPMAX", "z", "0"}, {"BZMPOP", "0", "1", "z", "MIN", "COUNT", "3"},
	{"MULTI"}, {"BLPOP", "nokey", "0"}, {"RPUSH", "t", "v"}, {"BLPOP", "t", "0"}, {"EXEC"},
}

// TestListEvents compares the keyevent messages of listEventScript.
func TestListEvents(t *testing.T) {
	compareEvents(t, listEventScript, 30)
}

// listReadScript mixes list reads and writes on keys that exist and that
// do not, for TestListKeyspaceStats.
var listReadScript = [][]string{
	{"RPUSH", "l", "a", "b", "c"},
	{"LLEN", "l"}, {"LLEN", "nokey"}, {"LRANGE", "l", "0", "-1"}, {"LRANGE", "nokey", "0", "-1"},
	{"LINDEX", "l", "0"}, {"LINDEX", "nokey", "0"}, {"LPOS", "l", "b"}, {"LPOS", "nokey", "b"},
	{"LSET", "l", "0", "x"}, {"LSET", "nokey", "0", "x"}, {"LINSERT", "l", "BEFORE", "x", "y"},
	{"LREM", "nokey", "0", "a"}, {"LTRIM", "nokey", "0", "1"}, {"LPOP", "nokey"}, {"RPOP", "l"},
	{"LMOVE", "l", "m", "LEFT", "LEFT"}, {"LMOVE", "nokey", "m", "LEFT", "LEFT"},
	{"LMPOP", "2", "nokey", "l", "LEFT"}, {"LPUSHX", "nokey", "a"}, {"RPUSHX", "l", "a"},
	{"BLPOP", "nokey", "l", "0"}, {"BLMOVE", "m", "l", "LEFT", "LEFT", "0"}, {"BLMPOP", "0", "2", "nokey", "l", "LEFT"},
	{"ZADD", "z", "1", "a", "2", "b"}, {"BZPOPMIN", "nokey", "z", "0"}, {"BZMPOP", "0", "2", "nokey", "z", "MAX"},
	{"LLEN", "z"},
}

// TestListKeyspaceStats compares, command by command, how list commands
// count keyspace hits and misses (reads count them, writes do not).
func TestListKeyspaceStats(t *testing.T) {
	compareKeyspaceStats(t, listReadScript)
}
