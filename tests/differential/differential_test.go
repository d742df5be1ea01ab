package differential

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/scripting"
	"github.com/structd/structd/server"
)

// env holds the two servers every test in this package talks to, started
// once by TestMain.
var env struct {
	noRedis      string // why tests that need redis-server skip ("" = it runs)
	structd      *server.Server
	redisAddr    string
	structdAddr  string
	redisAdmin   *conn // FLUSHALL between cases
	structdAdmin *conn
}

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

// noPanics fails the run if any command panicked (the server survives a
// panic by closing that client, but each one is a bug).
func noPanics(code int) int {
	if n := env.structd.HandlerPanics(); n > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d command(s) panicked in StructD (see the server log)\n", n)
		return 1
	}
	return code
}

// runMain starts StructD in this process and, when it is on PATH,
// redis-server as a child; tests that compare with Redis skip without it.
func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "structd-differential-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	sd, err := startStructD(filepath.Join(dir, "structd"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "start structd:", err)
		return 1
	}
	defer sd.Close()
	env.structd, env.structdAddr = sd, sd.Addr()
	if env.structdAdmin, err = dial(env.structdAddr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.structdAdmin.close()

	if _, err := exec.LookPath("redis-server"); err != nil {
		env.noRedis = "redis-server is not on PATH; install it (apt-get install redis-server) to run the differential tests"
		return noPanics(m.Run())
	}
	redisDir := filepath.Join(dir, "redis")
	if err := os.Mkdir(redisDir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	rs, err := startRedis(redisDir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer rs.Stop()
	env.redisAddr = rs.Addr
	if env.redisAdmin, err = dial(env.redisAddr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer env.redisAdmin.close()
	return noPanics(m.Run())
}

// needRedis skips t when redis-server is missing.
func needRedis(t *testing.T) {
	t.Helper()
	if env.noRedis != "" {
		t.Skip(env.noRedis)
	}
}

// TestCorpus checks the corpus parses (unique case names per file, known
// directives, balanced quotes) and reports its size. It needs no server.
func TestCorpus(t *testing.T) {
	cases, err := LoadCorpus("testdata")
	if err != nil {
		t.Fatal(err)
	}
	perFile := map[string]int{}
	var files []string
	for _, c := range cases {
		if perFile[c.File] == 0 {
			files = append(files, c.File)
		}
		perFile[c.File]++
	}
	for _, f := range files {
		t.Logf("%-12s %4d cases", f, perFile[f])
	}
	t.Logf("total: %d cases in %d files", len(cases), len(files))
}

// TestDifferential replays every corpus case against both servers:
// TestDifferential/<file>/<case>.
// slowUnderRace are the corpus cases (file/name) that the race detector
// slows past the client's deadline, with why; plain `go test` runs them.
var slowUnderRace = map[string]string{
	// gopher-lua builds the traceback of a stack overflow by walking the
	// call stack once per frame: 20000 frames take about a second plain
	// and longer than the busy threshold under -race, and the clients of
	// the next cases would get BUSY while it runs.
	"scripting/sandbox deep recursion error": "20000-deep recursion to a stack overflow",
}

func TestDifferential(t *testing.T) {
	needRedis(t)
	cases, err := LoadCorpus("testdata")
	if err != nil {
		t.Fatal(err)
	}
	byFile := map[string][]Case{}
	var files []string
	for _, c := range cases {
		if byFile[c.File] == nil {
			files = append(files, c.File)
		}
		byFile[c.File] = append(byFile[c.File], c)
	}
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			for _, c := range byFile[f] {
				t.Run(c.Name, func(t *testing.T) {
					if why, slow := slowUnderRace[f+"/"+c.Name]; slow && raceDetector {
						t.Skip("skipped under -race: " + why)
					}
					runCase(t, c)
				})
			}
		})
	}
}

// pair is one case's connections, one to each server.
type pair struct{ redis, structd *conn }

func openPair(t *testing.T) *pair {
	t.Helper()
	r, err := dial(env.redisAddr)
	if err != nil {
		t.Fatalf("connect to redis-server: %v", err)
	}
	s, err := dial(env.structdAddr)
	if err != nil {
		r.close()
		t.Fatalf("connect to structd: %v", err)
	}
	return &pair{r, s}
}

func (p *pair) close() { p.redis.close(); p.structd.close() }

// flushAll empties both servers before a case.
func flushAll(t *testing.T) {
	t.Helper()
	for _, s := range []struct {
		name string
		c    *conn
	}{{"redis-server", env.redisAdmin}, {"structd", env.structdAdmin}} {
		v, err := s.c.doStrings("FLUSHALL")
		if err != nil || v.Kind != resp.KindSimple || string(v.Str) != "OK" {
			t.Fatalf("FLUSHALL on %s before the case: %s %v", s.name, v, err)
		}
	}
}

// runCase replays c on both servers and fails at the first reply that
// differs. The steps after a difference still run, uncompared, so a case
// that changes CONFIG reaches the lines that restore it.
func runCase(t *testing.T, c Case) {
	flushAll(t)
	p := openPair(t)
	defer func() { p.close() }()
	var failure string
	defer func() {
		if failure != "" {
			t.Fatal(failure)
		}
	}()
	for _, st := range c.Steps {
		var rv, sv resp.Value
		same := func(a, b resp.Value) bool { return a.Equal(b) }
		switch st.Kind {
		case StepSleep:
			time.Sleep(time.Duration(st.Millis) * time.Millisecond)
			continue
		case StepReconnect:
			p.close()
			p = openPair(t)
			continue
		case StepRaw:
			rv, sv = p.redis.rawExchange(st.Raw), p.structd.rawExchange(st.Raw)
			p.close()
			p = openPair(t)
		case StepScan:
			rv, sv = scanAll(p.redis, st.Args), scanAll(p.structd, st.Args)
		default:
			rv, sv = command(p.redis, st.Args), command(p.structd, st.Args)
			if strings.EqualFold(string(st.Args[0]), "hello") {
				rv, sv = maskHelloID(rv), maskHelloID(sv)
			}
			switch st.Kind {
			case StepSort:
				rv, sv = sortElems(rv), sortElems(sv)
			case StepType:
				same = sameShape
			}
		}
		sv = dropScriptStack(rv, sv)
		if failure == "" && !same(rv, sv) {
			failure = fmt.Sprintf("%s.txt:%d: %s\n--- redis-server:\n%s\n--- structd:\n%s",
				c.File, st.Line, st.Text, rv.StringMax(maxShown), sv.StringMax(maxShown))
		}
	}
}

// dropScriptStack removes from StructD's error reply the Lua traceback
// that StructD appends to script errors and Redis does not have
// (scripting.StackMarker and what follows it, at the end): only when both
// replies are errors and StructD's is Redis's followed by that suffix,
// at the top or at the same place of two aggregates (EXEC's replies).
func dropScriptStack(rv, sv resp.Value) resp.Value {
	if rv.Kind == sv.Kind && len(rv.Elems) == len(sv.Elems) && len(sv.Elems) > 0 {
		elems := make([]resp.Value, len(sv.Elems))
		for i := range sv.Elems {
			elems[i] = dropScriptStack(rv.Elems[i], sv.Elems[i])
		}
		sv.Elems = elems
		return sv
	}
	if rv.Kind != resp.KindError || sv.Kind != resp.KindError || !bytes.HasPrefix(sv.Str, rv.Str) ||
		!bytes.HasPrefix(sv.Str[len(rv.Str):], []byte(scripting.StackMarker)) {
		return sv
	}
	sv.Str = sv.Str[:len(rv.Str)]
	return sv
}

// maskHelloID zeroes the "id" field of a HELLO reply: client ids count
// connections, which differ between the two servers. The field must still be
// there and be an integer.
func maskHelloID(v resp.Value) resp.Value {
	if v.Kind != resp.KindMap && v.Kind != resp.KindArray {
		return v
	}
	v.Elems = append([]resp.Value(nil), v.Elems...)
	for i := 0; i+1 < len(v.Elems); i += 2 {
		if k := v.Elems[i]; k.Kind == resp.KindBulk && string(k.Str) == "id" && v.Elems[i+1].Kind == resp.KindInt {
			v.Elems[i+1].Int = 0
		}
	}
	return v
}

// maxShown is how much of each string a failure message shows.
const maxShown = 200

// command runs one command; an I/O failure becomes a pseudo-reply so both
// servers failing the same way (after QUIT, say) compare equal.
func command(c *conn, args [][]byte) resp.Value {
	v, err := c.do(args...)
	if err != nil {
		return endMarker("(connection error: " + ioErrorText(err) + ")")
	}
	return v
}

func ioErrorText(err error) string {
	if isReset(err) {
		return "reset"
	}
	return err.Error()
}

// sortElems orders an aggregate's elements (a map's pairs) by their wire
// encoding; other replies are returned unchanged.
func sortElems(v resp.Value) resp.Value {
	switch v.Kind {
	case resp.KindArray, resp.KindSet, resp.KindPush:
		v.Elems = sortedGroups(v.Elems, 1)
	case resp.KindMap:
		v.Elems = sortedGroups(v.Elems, 2)
	}
	return v
}

// sortedGroups sorts elems in runs of size n (a map's key and value stay
// together) by their encoding, and drops nothing.
func sortedGroups(elems []resp.Value, n int) []resp.Value {
	type group struct {
		key  []byte
		vals []resp.Value
	}
	var groups []group
	for i := 0; i < len(elems); i += n {
		g := group{vals: elems[i:min(i+n, len(elems))]}
		for _, e := range g.vals {
			g.key = e.AppendRESP(g.key)
		}
		groups = append(groups, g)
	}
	sort.SliceStable(groups, func(i, j int) bool { return bytes.Compare(groups[i].key, groups[j].key) < 0 })
	out := make([]resp.Value, 0, len(elems))
	for _, g := range groups {
		out = append(out, g.vals...)
	}
	return out
}

// sameShape compares RESP type, null form and aggregate length only.
func sameShape(a, b resp.Value) bool {
	return a.Kind == b.Kind && a.Null == b.Null && len(a.Elems) == len(b.Elems)
}

// maxScanCalls bounds a !scan iteration: a cursor that never returns to 0
// is a failure, not a hang.
const maxScanCalls = 100000

// scanAll iterates a SCAN-family command from its cursor back to 0 and
// returns the sorted, deduplicated union of what it returned: keys or
// members, or field/value (member/score) pairs for HSCAN and ZSCAN. A reply
// that is not a cursor and an array ends the iteration and is returned
// itself, so errors compare exactly.
func scanAll(c *conn, args [][]byte) resp.Value {
	args = append([][]byte(nil), args...)
	at := scanCursorIndex(args)
	group := 1
	if name := strings.ToLower(string(args[0])); name == "hscan" || name == "zscan" {
		group = 2
	}
	union := map[string][]resp.Value{}
	for calls := 0; ; calls++ {
		if calls == maxScanCalls {
			return endMarker(fmt.Sprintf("(cursor not back to 0 after %d calls)", maxScanCalls))
		}
		v := command(c, args)
		if v.Kind != resp.KindArray || len(v.Elems) != 2 || v.Elems[0].Kind != resp.KindBulk || v.Elems[1].Kind != resp.KindArray {
			return v
		}
		items := v.Elems[1].Elems
		for i := 0; i < len(items); i += group {
			g := items[i:min(i+group, len(items))]
			var key []byte
			for _, e := range g {
				key = e.AppendRESP(key)
			}
			union[string(key)] = g
		}
		if string(v.Elems[0].Str) == "0" {
			break
		}
		args[at] = v.Elems[0].Str
	}
	keys := make([]string, 0, len(union))
	for k := range union {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := resp.Value{Kind: resp.KindArray}
	for _, k := range keys {
		out.Elems = append(out.Elems, union[k]...)
	}
	return out
}
