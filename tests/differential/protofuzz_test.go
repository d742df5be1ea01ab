package differential

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/structd/structd/internal/resp"
)

// TestRandomProtocol sends both servers the same pseudo-random requests,
// well-formed and broken in every way the parser distinguishes, and compares
// everything they answer up to their close. The seed is fixed so a failure
// reproduces; STRUCTD_PROTO_SEED picks another, STRUCTD_PROTO_N the count.
//
// Requests stay well under 16 KB, so no outcome depends on how a server
// splits its reads, and use only a few harmless commands, so no mutation
// can turn an argument into a command that changes the servers.
func TestRandomProtocol(t *testing.T) {
	needRedis(t)
	seed, n := uint64(1), 1000
	if s, err := strconv.ParseUint(os.Getenv("STRUCTD_PROTO_SEED"), 10, 64); err == nil {
		seed = s
	}
	if v, err := strconv.Atoi(os.Getenv("STRUCTD_PROTO_N")); err == nil {
		n = v
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	failures := 0
	for i := 0; i < n && failures < 5; i++ {
		req := randomRequest(rng)
		resetKeys(t)
		p := openPair(t)
		rv, sv := p.redis.rawExchange(req), p.structd.rawExchange(req)
		p.close()
		if !rv.Equal(sv) {
			failures++
			t.Errorf("request %d (seed %d), as a corpus line:\n!raw %s\n--- redis-server:\n%s\n--- structd:\n%s",
				i, seed, quoteRaw(req), rv.StringMax(maxShown), sv.StringMax(maxShown))
		}
	}
}

// resetKeys deletes the keys safeCommands touch, on both servers: cheaper
// than FLUSHALL before each of many requests.
func resetKeys(t *testing.T) {
	t.Helper()
	for _, c := range []*conn{env.redisAdmin, env.structdAdmin} {
		if v, err := c.doStrings("DEL", "k", "n"); err != nil || v.Kind != resp.KindInt {
			t.Fatalf("DEL k n: %s, %v", v, err)
		}
	}
}

// safeCommands have deterministic replies and no effect beyond the keys k
// and n.
var safeCommands = [][]string{
	{"PING"}, {"PING", "hello world"}, {"ECHO", "a\x00b"}, {"SET", "k", "v"},
	{"GET", "k"}, {"INCR", "n"}, {"APPEND", "k", "\r\n"}, {"STRLEN", "k"},
	{"DEL", "k", "n"}, {"EXISTS", "k"}, {"GETRANGE", "k", "0", "-1"}, {"MGET", "k", "n", "x"},
}

// words are argument values: none of them is a command name.
var words = []string{"v", "a b", "", "1", "-1", "x\"y", "x'y", `\`, "\t", "\x00", "\xff", "9223372036854775808"}

// randomRequest builds one to eight commands, inline or multibulk, then
// perhaps damages the bytes.
func randomRequest(rng *rand.Rand) []byte {
	var b []byte
	for range 1 + rng.IntN(8) {
		args := append([]string(nil), safeCommands[rng.IntN(len(safeCommands))]...)
		if rng.IntN(4) == 0 {
			args = append(args, words[rng.IntN(len(words))])
		}
		if rng.IntN(2) == 0 {
			b = appendMultibulk(b, args, rng)
		} else {
			b = appendInline(b, args, rng)
		}
	}
	if rng.IntN(3) == 0 {
		b = damage(b, rng)
	}
	return b
}

func appendMultibulk(b []byte, args []string, rng *rand.Rand) []byte {
	b = fmt.Appendf(b, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	return b
}

// appendInline quotes each argument one of the ways sdssplitargs reads.
func appendInline(b []byte, args []string, rng *rand.Rand) []byte {
	for i, a := range args {
		if i > 0 {
			b = append(b, " \t"[rng.IntN(2)])
		}
		switch {
		case a != "" && !strings.ContainsAny(a, " \t\r\n\"'\\\x00") && rng.IntN(2) == 0:
			b = append(b, a...)
		case !strings.ContainsAny(a, "'\\\x00") && rng.IntN(2) == 0:
			b = append(b, '\'')
			b = append(b, a...)
			b = append(b, '\'')
		default:
			b = append(b, '"')
			for _, c := range []byte(a) {
				switch {
				case c == '"' || c == '\\':
					b = append(b, '\\', c)
				case c < ' ' || c > '~' || rng.IntN(8) == 0:
					b = fmt.Appendf(b, `\x%02x`, c)
				default:
					b = append(b, c)
				}
			}
			b = append(b, '"')
		}
	}
	if rng.IntN(4) == 0 {
		return append(b, '\n')
	}
	return append(b, '\r', '\n')
}

// damage applies one to three byte-level mutations aimed at the parser:
// framing bytes, lengths, quotes, NUL, truncation.
func damage(b []byte, rng *rand.Rand) []byte {
	special := []string{"\r", "\n", "\r\n", "*", "$", "-", "0", "9", "\"", "'", "\\", "\x00", " ", "\xff", "+", ":"}
	for range 1 + rng.IntN(3) {
		if len(b) == 0 {
			break
		}
		at := rng.IntN(len(b))
		switch rng.IntN(4) {
		case 0: // replace a byte
			b[at] = special[rng.IntN(len(special))][0]
		case 1: // insert bytes
			ins := special[rng.IntN(len(special))]
			b = append(b[:at], append([]byte(ins), b[at:]...)...)
		case 2: // delete a byte
			b = append(b[:at], b[at+1:]...)
		case 3: // truncate
			b = b[:at]
		}
	}
	if len(b) == 0 {
		b = []byte("\r\n")
	}
	return b
}

// quoteRaw writes b as a !raw corpus string.
func quoteRaw(b []byte) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, c := range b {
		switch {
		case c == '"' || c == '\\':
			sb.WriteByte('\\')
			sb.WriteByte(c)
		case c == '\r':
			sb.WriteString(`\r`)
		case c == '\n':
			sb.WriteString(`\n`)
		case c < ' ' || c > '~':
			fmt.Fprintf(&sb, `\x%02x`, c)
		default:
			sb.WriteByte(c)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
