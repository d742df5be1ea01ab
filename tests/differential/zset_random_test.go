package differential

import (
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestZSetRandomCommands replays seeded random sorted set commands (and
// SORT over sorted sets) on both servers and compares every reply, in
// RESP2 and then RESP3. A low zset-max-listpack-entries makes sets cross
// from listpack to skiplist along the way. The commands avoid what Redis
// leaves unspecified: random picks, scans of hashtables, lex ranges over
// unequal scores, and sums whose result depends on the order of equally
// sized inputs (at most two inputs, weights never zero).
func TestZSetRandomCommands(t *testing.T) {
	needRedis(t)
	flushAll(t)
	p := openPair(t)
	defer p.close()
	for _, c := range []*conn{p.redis, p.structd} {
		if _, err := c.doStrings("CONFIG", "SET", "zset-max-listpack-entries", "12"); err != nil {
			t.Fatal(err)
		}
		defer c.doStrings("CONFIG", "SET", "zset-max-listpack-entries", "128")
	}
	rng := rand.New(rand.NewPCG(20261128, 7))
	const steps = 4000
	for i := 0; i < steps; i++ {
		if i == steps/2 {
			p.redis.doStrings("HELLO", "3")
			p.structd.doStrings("HELLO", "3")
		}
		args := randomZSetCommand(rng)
		bargs := make([][]byte, len(args))
		for j, a := range args {
			bargs[j] = []byte(a)
		}
		rv, sv := command(p.redis, bargs), command(p.structd, bargs)
		if !rv.Equal(sv) {
			t.Fatalf("step %d: %s\n--- redis-server:\n%s\n--- structd:\n%s",
				i, strings.Join(args, " "), rv.StringMax(maxShown), sv.StringMax(maxShown))
		}
	}
}

var (
	randScores  = []string{"-inf", "+inf", "-2", "-1", "0", "0.5", "1", "1.5", "2", "3", "10", "1e3"}
	randBounds  = []string{"-inf", "+inf", "-1", "0", "(0", "1", "(1", "1.5", "(2", "3", "(10", "100"}
	randWeights = []string{"1", "2", "-1", "0.5", "-3"}
	randLex     = []string{"-", "+", "[a", "(a", "[b", "(bb", "[c", "(d", "[", "(", "[m1", "(m5"}
)

func pick(rng *rand.Rand, from []string) string { return from[rng.IntN(len(from))] }

func randMember(rng *rand.Rand) string {
	if rng.IntN(4) == 0 {
		return strconv.Itoa(rng.IntN(6)) // integer-looking members
	}
	return "m" + strconv.Itoa(rng.IntN(24))
}

func randZKey(rng *rand.Rand) string { return "z" + strconv.Itoa(rng.IntN(3)) }

func randLimit(rng *rand.Rand, args []string) []string {
	if rng.IntN(2) == 0 {
		return args
	}
	return append(args, "LIMIT", strconv.Itoa(rng.IntN(6)-1), strconv.Itoa(rng.IntN(7)-2))
}

// randSortOptions appends SORT's options to args, each at random and in
// this order: the GET patterns get (one time in two), DESC (one in two),
// STORE sorted (one in storeOdds), then randLimit's LIMIT.
func randSortOptions(rng *rand.Rand, args, get []string, storeOdds int) []string {
	if rng.IntN(2) == 0 {
		args = append(args, get...)
	}
	if rng.IntN(2) == 0 {
		args = append(args, "DESC")
	}
	if rng.IntN(storeOdds) == 0 {
		args = append(args, "STORE", "sorted")
	}
	return randLimit(rng, args)
}

func randomZSetCommand(rng *rand.Rand) []string {
	k := randZKey(rng)
	switch rng.IntN(35) {
	case 0, 1, 2, 3:
		args := []string{"ZADD", k}
		for _, f := range []string{"NX", "XX", "GT", "LT", "CH"} {
			if rng.IntN(6) == 0 {
				args = append(args, f)
			}
		}
		if rng.IntN(8) == 0 {
			return append(args, "INCR", pick(rng, randScores), randMember(rng))
		}
		for n := 1 + rng.IntN(5); n > 0; n-- {
			args = append(args, pick(rng, randScores), randMember(rng))
		}
		return args
	case 4:
		return []string{"ZINCRBY", k, pick(rng, randScores), randMember(rng)}
	case 5:
		return []string{"ZREM", k, randMember(rng), randMember(rng)}
	case 6:
		args := []string{"ZRANGE", k, strconv.Itoa(rng.IntN(10) - 5), strconv.Itoa(rng.IntN(10) - 5)}
		if rng.IntN(2) == 0 {
			args = append(args, "REV")
		}
		if rng.IntN(2) == 0 {
			args = append(args, "WITHSCORES")
		}
		return args
	case 7, 8:
		args := []string{"ZRANGE", k, pick(rng, randBounds), pick(rng, randBounds), "BYSCORE"}
		if rng.IntN(2) == 0 {
			args = append(args, "REV")
		}
		if rng.IntN(2) == 0 {
			args = append(args, "WITHSCORES")
		}
		return randLimit(rng, args)
	case 9:
		cmd := "ZRANGEBYSCORE"
		if rng.IntN(2) == 0 {
			cmd = "ZREVRANGEBYSCORE"
		}
		return randLimit(rng, []string{cmd, k, pick(rng, randBounds), pick(rng, randBounds), "WITHSCORES"})
	case 10:
		return []string{"ZCOUNT", k, pick(rng, randBounds), pick(rng, randBounds)}
	case 11:
		cmd := "ZRANK"
		if rng.IntN(2) == 0 {
			cmd = "ZREVRANK"
		}
		return []string{cmd, k, randMember(rng)}
	case 12:
		return []string{"ZMSCORE", k, randMember(rng), randMember(rng)}
	case 13:
		return []string{"ZREMRANGEBYRANK", k, strconv.Itoa(rng.IntN(6) - 3), strconv.Itoa(rng.IntN(6) - 3)}
	case 14:
		return []string{"ZREMRANGEBYSCORE", k, pick(rng, randBounds), pick(rng, randBounds)}
	case 15:
		cmd := "ZPOPMIN"
		if rng.IntN(2) == 0 {
			cmd = "ZPOPMAX"
		}
		return []string{cmd, k, strconv.Itoa(rng.IntN(4))}
	case 16, 17:
		ops := []string{"ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "ZUNION", "ZINTER", "ZDIFF"}
		op := pick(rng, ops)
		var args []string
		if strings.HasSuffix(op, "STORE") {
			args = []string{op, randZKey(rng), "2", randZKey(rng), randZKey(rng)}
		} else {
			args = []string{op, "2", randZKey(rng), randZKey(rng)}
		}
		if !strings.HasPrefix(op, "ZDIFF") {
			if rng.IntN(2) == 0 {
				args = append(args, "WEIGHTS", pick(rng, randWeights), pick(rng, randWeights))
			}
			if rng.IntN(2) == 0 {
				args = append(args, "AGGREGATE", pick(rng, []string{"SUM", "MIN", "MAX"}))
			}
		}
		if !strings.HasSuffix(op, "STORE") && rng.IntN(2) == 0 {
			args = append(args, "WITHSCORES")
		}
		return args
	case 18:
		return []string{"ZINTERCARD", "2", randZKey(rng), randZKey(rng), "LIMIT", strconv.Itoa(rng.IntN(3))}
	case 19:
		args := []string{"ZRANGESTORE", randZKey(rng), k, pick(rng, randBounds), pick(rng, randBounds), "BYSCORE"}
		if rng.IntN(2) == 0 {
			args = append(args, "REV")
		}
		return randLimit(rng, args)
	case 20:
		// Lexicographic commands on a set whose scores are all equal.
		return []string{"ZADD", "lex", "0", pick(rng, []string{"a", "b", "bb", "c", "d", "m1", "m5", ""}), "0", randMember(rng)}
	case 21:
		cmd := pick(rng, []string{"ZRANGEBYLEX", "ZREVRANGEBYLEX"})
		return randLimit(rng, []string{cmd, "lex", pick(rng, randLex), pick(rng, randLex)})
	case 22:
		cmd := pick(rng, []string{"ZLEXCOUNT", "ZREMRANGEBYLEX"})
		if cmd == "ZREMRANGEBYLEX" && rng.IntN(3) != 0 {
			cmd = "ZLEXCOUNT"
		}
		return []string{cmd, "lex", pick(rng, randLex), pick(rng, randLex)}
	case 23:
		args := []string{"SORT", k}
		if rng.IntN(2) == 0 {
			args = append(args, "ALPHA")
		}
		if rng.IntN(3) == 0 {
			args = append(args, "BY", "nosort")
		}
		if rng.IntN(2) == 0 {
			args = append(args, "DESC")
		}
		return randLimit(rng, args)
	case 24:
		return []string{"OBJECT", "ENCODING", k}
	case 25:
		// Plain sets join the set operations with score 1.
		return []string{"SADD", "s", randMember(rng), randMember(rng)}
	case 26:
		op := pick(rng, []string{"ZUNION", "ZINTER", "ZDIFF", "ZINTERCARD"})
		srcs := []string{"s", k}
		if rng.IntN(2) == 0 {
			srcs[0], srcs[1] = srcs[1], srcs[0]
		}
		args := append([]string{op, "2"}, srcs...)
		if op != "ZINTERCARD" && rng.IntN(2) == 0 {
			args = append(args, "WITHSCORES")
		}
		return args
	case 27:
		return []string{"ZMPOP", "2", randZKey(rng), randZKey(rng), pick(rng, []string{"MIN", "MAX"}), "COUNT", strconv.Itoa(1 + rng.IntN(3))}
	case 28:
		// Sort weights; numeric ties are broken by member, so SORT BY is
		// deterministic without ALPHA.
		return []string{"SET", "w_" + randMember(rng), pick(rng, randScores)}
	case 29:
		args := []string{"SORT", k, "BY", "w_*"}
		return randSortOptions(rng, args, []string{"GET", "#", "GET", "w_*"}, 3)
	case 30:
		return []string{"RPUSH", "l", randMember(rng), randMember(rng)}
	case 31:
		return []string{"HSET", "h_" + randMember(rng), "w", pick(rng, randScores), "n", randMember(rng)}
	case 32, 33:
		// SORT over a list or a set, by hash fields or string keys; BY
		// nosort only on the list (a set's own order is unspecified) and
		// ALPHA only without BY (ties would keep each server's order).
		src := pick(rng, []string{"l", "s", k})
		args := []string{"SORT", src}
		switch rng.IntN(4) {
		case 0:
			args = append(args, "BY", "h_*->w")
		case 1:
			args = append(args, "BY", "w_*")
		case 2:
			args = append(args, "ALPHA")
		default:
			if src == "l" {
				args = append(args, "BY", "nosort")
			}
		}
		return randSortOptions(rng, args, []string{"GET", "h_*->n", "GET", "#"}, 4)
	default:
		if rng.IntN(2) == 0 {
			return []string{"ZCARD", k}
		}
		return []string{"ZSCORE", k, randMember(rng)}
	}
}
