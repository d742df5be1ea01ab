package differential

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// TestRandomHashAndSetCommands replays seeded random sequences of hash and
// set commands on both servers and compares every reply (unordered ones
// sorted) and OBJECT ENCODING after each write. Low thresholds make values
// cross the listpack/intset conversions often; the elements mix integers
// of every listpack and intset width, strings, binary and oversized ones.
func TestRandomHashAndSetCommands(t *testing.T) {
	needRedis(t)
	p := openPair(t)
	defer p.close()
	config := [][]string{
		{"CONFIG", "SET", "hash-max-listpack-entries", "6", "hash-max-listpack-value", "16", "set-max-intset-entries", "6"},
	}
	restore := []string{"CONFIG", "SET", "hash-max-listpack-entries", "512", "hash-max-listpack-value", "64", "set-max-intset-entries", "512"}
	defer func() {
		p.redis.doStrings(restore...)
		p.structd.doStrings(restore...)
	}()
	for _, cmd := range config {
		p.redis.doStrings(cmd...)
		p.structd.doStrings(cmd...)
	}
	for seed := uint64(1); seed <= 20; seed++ {
		flushAll(t)
		rng := rand.New(rand.NewPCG(seed, 7))
		for step := 0; step < 400; step++ {
			args, unordered := randomCollectionCommand(rng)
			r := command(p.redis, toBytes(args))
			s := command(p.structd, toBytes(args))
			if unordered {
				r, s = sortElems(r), sortElems(s)
			}
			if !r.Equal(s) {
				t.Fatalf("seed %d step %d: %q\n--- redis-server:\n%s\n--- structd:\n%s", seed, step, args, r, s)
			}
			key := args[1] // the key written (SMOVE: its destination)
			if args[0] == "SMOVE" {
				key = args[2]
			}
			enc := []string{"OBJECT", "ENCODING", key}
			if r, s := command(p.redis, toBytes(enc)), command(p.structd, toBytes(enc)); !r.Equal(s) {
				t.Fatalf("seed %d step %d: after %q, OBJECT ENCODING %s: redis-server %s, structd %s", seed, step, args, key, r, s)
			}
		}
	}
}

func toBytes(args []string) [][]byte {
	out := make([][]byte, len(args))
	for i, a := range args {
		out[i] = []byte(a)
	}
	return out
}

// randomElement picks a field, member or value: small and large integers
// (every intset and listpack integer width), numbers that are not
// canonical, strings, binary, empty and over the 16-byte value limit.
func randomElement(rng *rand.Rand) string {
	switch rng.IntN(10) {
	case 0, 1, 2:
		return strconv.Itoa(rng.IntN(20))
	case 3:
		return strconv.FormatInt([]int64{-1, 127, -128, 4095, -4096, 32767, -32768, 1 << 31, -1 << 31, 1<<40 + 3, -1 << 63, 1<<63 - 1}[rng.IntN(12)], 10)
	case 4:
		return []string{"01", "+1", " 2", "-0", "1.5", "9223372036854775808"}[rng.IntN(6)]
	case 5:
		return []string{"", "\x00", "a\r\nb", "\xff\xfe"}[rng.IntN(4)]
	case 6:
		return strings.Repeat("L", 15+rng.IntN(4))
	default:
		return string(rune('a' + rng.IntN(12)))
	}
}

// randomCollectionCommand returns a command over keys h0..h2 and s0..s2
// (sometimes the string key str, for WRONGTYPE), and whether its reply is
// unordered.
func randomCollectionCommand(rng *rand.Rand) ([]string, bool) {
	hk := func() string {
		if rng.IntN(20) == 0 {
			return "str"
		}
		return "h" + strconv.Itoa(rng.IntN(3))
	}
	sk := func() string {
		if rng.IntN(20) == 0 {
			return "str"
		}
		return "s" + strconv.Itoa(rng.IntN(3))
	}
	el := func() string { return randomElement(rng) }
	els := func(prefix ...string) []string {
		for n := 1 + rng.IntN(4); n > 0; n-- {
			prefix = append(prefix, el())
		}
		return prefix
	}
	keys := func(first string) []string {
		out := []string{first}
		for n := rng.IntN(3); n > 0; n-- {
			out = append(out, sk())
		}
		return out
	}
	switch rng.IntN(26) {
	case 0:
		args := []string{"HSET", hk()}
		for n := 1 + rng.IntN(4); n > 0; n-- {
			args = append(args, el(), el())
		}
		return args, false
	case 1:
		return []string{"HSETNX", hk(), el(), el()}, false
	case 2:
		return []string{"HGET", hk(), el()}, false
	case 3:
		return els("HMGET", hk()), false
	case 4:
		return els("HDEL", hk()), false
	case 5:
		return []string{"HINCRBY", hk(), el(), strconv.Itoa(rng.IntN(200) - 100)}, false
	case 6:
		return []string{"HINCRBYFLOAT", hk(), el(), []string{"1.5", "-0.25", "1e3", "0.1"}[rng.IntN(4)]}, false
	case 7:
		return []string{[]string{"HGETALL", "HKEYS", "HVALS"}[rng.IntN(3)], hk()}, true
	case 8:
		if rng.IntN(3) == 0 {
			return []string{"HLEN", hk()}, false
		}
		return []string{[]string{"HEXISTS", "HSTRLEN"}[rng.IntN(2)], hk(), el()}, false
	case 9, 10:
		return els("SADD", sk()), false
	case 11:
		return els("SREM", sk()), false
	case 12:
		return []string{"SISMEMBER", sk(), el()}, false
	case 13:
		return els("SMISMEMBER", sk()), false
	case 14:
		return []string{"SCARD", sk()}, false
	case 15:
		return []string{"SMEMBERS", sk()}, true
	case 16:
		return []string{"SMOVE", sk(), sk(), el()}, false
	case 17:
		return append([]string{"SINTER"}, keys(sk())...), true
	case 18:
		return append([]string{"SUNION"}, keys(sk())...), true
	case 19:
		return append([]string{"SDIFF"}, keys(sk())...), true
	case 20:
		op := []string{"SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"}[rng.IntN(3)]
		return append([]string{op, sk()}, keys(sk())...), false
	case 21:
		k := keys(sk())
		return append([]string{"SINTERCARD", strconv.Itoa(len(k))}, k...), false
	case 22:
		// Pops that leave no choice: the whole set.
		return []string{"SPOP", sk(), "100"}, true
	case 23:
		return []string{"HRANDFIELD", hk(), "100", "WITHVALUES"}, true
	case 24:
		return []string{"SRANDMEMBER", sk(), "100"}, true
	default:
		return []string{"SET", "str", fmt.Sprint(rng.IntN(5))}, false
	}
}
