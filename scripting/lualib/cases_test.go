package lualib

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/internal/redisproc"
)

// The files testdata/*.cases hold Lua snippets and the replies redis-server
// 7.0.15 gave to `EVAL <snippet> 0` (RESP2), recorded by
// TestRecordRedisReplies. Each case is
//
//	== name
//	<Lua, one or more lines>
//	-> <reply>
//
// where a reply is a quoted string, an integer, nil, "(error) <message>" or
// a bracketed list of replies.

type luaCase struct {
	file, name, script, want string
}

func loadCases(t *testing.T) []luaCase {
	t.Helper()
	paths, err := filepath.Glob("testdata/*.cases")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no case files: %v", err)
	}
	var cases []luaCase
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var cur *luaCase
		for _, line := range strings.Split(strings.TrimRight(string(data), "\n"), "\n") {
			switch {
			case strings.HasPrefix(line, "== "):
				cases = append(cases, luaCase{file: path, name: strings.TrimPrefix(line, "== ")})
				cur = &cases[len(cases)-1]
			case cur == nil:
				t.Fatalf("%s: text before the first case: %q", path, line)
			case strings.HasPrefix(line, "-> "):
				cur.want = strings.TrimPrefix(line, "-> ")
			default:
				cur.script += line + "\n"
			}
		}
	}
	return cases
}

// testStateOptions lets a script hold Redis's 8000 values per C call; with
// gopher-lua's default registry (5120 slots) those fail "registry overflow".
var testStateOptions = lua.Options{RegistrySize: 1024 * 20, RegistryMaxSize: 1024 * 256}

// runScript runs script as Redis runs an EVAL body, in a fresh state with
// the libraries open, and renders its first result as Redis would reply.
func runScript(script string) string {
	L := lua.NewState(testStateOptions)
	defer L.Close()
	Open(L)
	fn, err := L.Load(strings.NewReader(script), "user_script")
	if err != nil {
		return "(error) " + err.Error()
	}
	L.Push(fn)
	if err := L.PCall(0, 1, nil); err != nil {
		var lerr *lua.ApiError
		if errors.As(err, &lerr) {
			return "(error) " + lua.LVAsString(lerr.Object)
		}
		return "(error) " + err.Error()
	}
	return renderLua(L.Get(-1))
}

// renderLua converts a Lua value to a reply the way Redis does under RESP2
// (numbers truncated to integers, false as nil, tables as arrays up to the
// first nil, {err=...} as an error) and renders it.
func renderLua(v lua.LValue) string {
	switch x := v.(type) {
	case lua.LString:
		return strconv.Quote(string(x))
	case lua.LNumber:
		return strconv.FormatInt(CastInt64(float64(x)), 10)
	case lua.LBool:
		if x {
			return "1"
		}
		return "nil"
	case *lua.LTable:
		if e, ok := x.RawGetString("err").(lua.LString); ok {
			return "(error) " + string(e)
		}
		if s, ok := x.RawGetString("ok").(lua.LString); ok {
			return strconv.Quote(string(s))
		}
		var parts []string
		for i := 1; ; i++ {
			e := x.RawGetInt(i)
			if e == lua.LNil {
				break
			}
			parts = append(parts, renderLua(e))
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return "nil"
}

// scriptSuffix is what Redis 7 appends to a script's error reply.
var scriptSuffix = regexp.MustCompile(` script: [0-9a-f]{40}, on @user_script:\d+\.$`)

// renderRedis renders a go-redis reply like renderLua.
func renderRedis(v any, err error) string {
	if err == redis.Nil {
		return "nil"
	}
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "ERR ")
		return "(error) " + scriptSuffix.ReplaceAllString(msg, "")
	}
	switch x := v.(type) {
	case string:
		return strconv.Quote(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case nil:
		return "nil"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = renderRedis(e, nil)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case redis.Error:
		return renderRedis(nil, x)
	}
	return fmt.Sprintf("(unexpected %T) %v", v, v)
}

// orderDiffers ends the name of a case whose reply is a JSON object that
// StructD writes with its keys in another order than Redis.
const orderDiffers = "(key order differs)"

// sameJSON reports whether two rendered replies are quoted JSON texts of
// equal values.
func sameJSON(t *testing.T, a, b string) bool {
	var va, vb any
	for _, p := range []struct {
		s string
		v *any
	}{{a, &va}, {b, &vb}} {
		text, err := strconv.Unquote(p.s)
		if err != nil {
			t.Fatalf("reply %s is not a string", p.s)
		}
		if err := json.Unmarshal([]byte(text), p.v); err != nil {
			t.Fatalf("reply %s is not JSON: %v", p.s, err)
		}
	}
	return reflect.DeepEqual(va, vb)
}

func TestRedisCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) < 150 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.file)+"/"+c.name, func(t *testing.T) {
			if c.want == "" {
				t.Fatalf("no recorded reply: run LUALIB_RECORD=1 go test -run TestRecordRedisReplies")
			}
			got := runScript(c.script)
			if strings.HasSuffix(c.name, orderDiffers) {
				// A known difference (see the package doc): the same JSON
				// object, its keys in another order.
				if !sameJSON(t, got, c.want) || got == c.want {
					t.Errorf("script:\n%s got  %s\n want the same object as %s in another order", c.script, got, c.want)
				}
				return
			}
			if got != c.want {
				t.Errorf("script:\n%s got  %s\n want %s", c.script, got, c.want)
			}
		})
	}
}

// cjsonDefaults restores the cjson settings a case may change: in Redis they
// live as long as the server, in StructD's tests each case has a fresh state.
const cjsonDefaults = `cjson.encode_sparse_array(false, 2, 10) cjson.encode_max_depth(1000)
cjson.decode_max_depth(1000) cjson.encode_number_precision(14) cjson.encode_keep_buffer(true)
cjson.encode_invalid_numbers(false) cjson.decode_invalid_numbers(true)`

// TestRecordRedisReplies rewrites testdata/*.cases with redis-server's
// replies. It runs only with LUALIB_RECORD=1 and a redis-server on PATH.
func TestRecordRedisReplies(t *testing.T) {
	if os.Getenv("LUALIB_RECORD") == "" {
		t.Skip("set LUALIB_RECORD=1 to record replies from redis-server")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(err)
	}
	p, err := redisproc.Start(bin, t.TempDir(), "--save", "", "--appendonly", "no")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	rdb := redis.NewClient(&redis.Options{Addr: p.Addr, Protocol: 2})
	defer rdb.Close()
	ctx := context.Background()
	out := map[string]*strings.Builder{}
	for _, c := range loadCases(t) {
		if err := rdb.Eval(ctx, cjsonDefaults, nil).Err(); err != redis.Nil {
			t.Fatalf("reset cjson: %v", err)
		}
		v, err := rdb.Eval(ctx, c.script, nil).Result()
		b := out[c.file]
		if b == nil {
			b = &strings.Builder{}
			out[c.file] = b
		}
		fmt.Fprintf(b, "== %s\n%s-> %s\n", c.name, c.script, renderRedis(v, err))
	}
	for file, b := range out {
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
