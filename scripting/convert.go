package scripting

import (
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/scripting/lualib"
)

// Conversions between Lua values and replies, as Redis 7.0 documents and
// does them (script_lua.c).

// maxReplyDepth bounds the nesting of a converted value, as Redis's
// luaReplyToRedisReply checks the C stack: deeper tables are replied as an
// error rather than overflowing.
const maxReplyDepth = 1000

// writeReply writes the script result v to w (the caller's protocol is
// w.Proto). scriptResp is the protocol the script set with redis.setresp:
// under 3 a boolean is a RESP3 boolean (:1/:0 to a RESP2 caller), under 2
// true is 1 and false a null.
//
//   - number: integer, truncated toward zero;
//   - string: bulk string;
//   - boolean: see above;
//   - table with a string err field: error reply; with a string ok field:
//     status reply; with a number double field: double; a string
//     big_number: big number; a verbatim_string table {format=, string=}:
//     verbatim string; a map table: map of its pairs; a set table: set of
//     its keys; otherwise an array of t[1], t[2], ... up to the first nil;
//   - anything else (nil, functions, userdata): null.
func writeReply(w *resp.Writer, v lua.LValue, scriptResp int) {
	writeValue(w, v, scriptResp, 0)
}

func writeValue(w *resp.Writer, v lua.LValue, scriptResp, depth int) {
	switch x := v.(type) {
	case lua.LString:
		w.Bulk([]byte(x))
	case lua.LNumber:
		w.Int(lualib.CastInt64(float64(x)))
	case lua.LBool:
		switch {
		case scriptResp == 3:
			w.Bool(bool(x))
		case bool(x):
			w.Int(1)
		default:
			w.Null()
		}
	case *lua.LTable:
		if depth >= maxReplyDepth {
			w.Error("ERR reached lua stack limit")
			return
		}
		writeTable(w, x, scriptResp, depth)
	default:
		w.Null()
	}
}

func writeTable(w *resp.Writer, t *lua.LTable, scriptResp, depth int) {
	if s, ok := t.RawGetString("err").(lua.LString); ok {
		w.Error(string(s))
		return
	}
	if s, ok := t.RawGetString("ok").(lua.LString); ok {
		w.Simple(strings.NewReplacer("\r", " ", "\n", " ").Replace(string(s)))
		return
	}
	if d, ok := t.RawGetString("double").(lua.LNumber); ok {
		w.Double(float64(d))
		return
	}
	if s, ok := t.RawGetString("big_number").(lua.LString); ok {
		n := strings.NewReplacer("\r", " ", "\n", " ").Replace(string(s))
		if w.Proto == 3 {
			w.Raw([]byte("(" + n + "\r\n"))
		} else {
			w.Bulk([]byte(n))
		}
		return
	}
	if vt, ok := t.RawGetString("verbatim_string").(*lua.LTable); ok {
		f, fok := vt.RawGetString("format").(lua.LString)
		s, sok := vt.RawGetString("string").(lua.LString)
		if fok && sok {
			if w.Proto == 3 {
				body := string(f) + ":" + string(s)
				w.Raw([]byte("=" + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n"))
			} else {
				w.Bulk([]byte(s))
			}
			return
		}
	}
	if m, ok := t.RawGetString("map").(*lua.LTable); ok {
		n := 0
		m.ForEach(func(lua.LValue, lua.LValue) { n++ })
		w.Map(n)
		m.ForEach(func(k, v lua.LValue) {
			writeValue(w, k, scriptResp, depth+1)
			writeValue(w, v, scriptResp, depth+1)
		})
		return
	}
	if s, ok := t.RawGetString("set").(*lua.LTable); ok {
		n := 0
		s.ForEach(func(lua.LValue, lua.LValue) { n++ })
		w.Set(n)
		s.ForEach(func(k, _ lua.LValue) { writeValue(w, k, scriptResp, depth+1) })
		return
	}
	n := 0
	for t.RawGetInt(n+1) != lua.LNil {
		n++
	}
	w.Array(n)
	for i := 1; i <= n; i++ {
		writeValue(w, t.RawGetInt(i), scriptResp, depth+1)
	}
}

// replyToLua converts the reply at the start of b (a command's reply as
// the script's client, in protocol 2 or 3) to a Lua value, returning the
// rest of b:
//
//   - integer: number; bulk string: string; status: {ok=s}; error:
//     {err=s}; array: table of the converted elements;
//   - RESP2 null bulk and null array: false;
//   - RESP3: null: nil; boolean: true/false; double: {double=n}; map:
//     {map={k=v,...}}; set: {set={k=true,...}}; big number:
//     {big_number=s}; verbatim: {verbatim_string={format=, string=}};
//     attributes are skipped.
//
// The tables come from tables (see tablePool; nil: new ones).
func replyToLua(L *lua.LState, tables *tablePool, b []byte) (lua.LValue, []byte) {
	if len(b) < 3 {
		return lua.LNil, nil
	}
	i := indexCRLF(b)
	if i < 0 {
		return lua.LNil, nil
	}
	line, rest := b[1:i], b[i+2:]
	switch b[0] {
	case ':':
		n, _ := resp.ParseInt(line)
		return L.NumberValue(lua.LNumber(n)), rest
	case '$':
		n := replyLen(line)
		if n < 0 {
			return lua.LFalse, rest
		}
		if n+2 > len(rest) {
			return lua.LNil, nil
		}
		return L.BytesValue(rest[:n]), rest[n+2:]
	case '+':
		return wrap(L, tables, "ok", L.BytesValue(line)), rest
	case '-':
		return wrap(L, tables, "err", L.BytesValue(line)), rest
	case '*', '~', '%', '>':
		n := replyLen(line)
		if n < 0 {
			return lua.LFalse, rest
		}
		switch b[0] {
		case '%':
			m := tables.table(L, 0, n)
			for j := 0; j < n; j++ {
				var k, v lua.LValue
				k, rest = replyToLua(L, tables, rest)
				v, rest = replyToLua(L, tables, rest)
				if k != lua.LNil {
					m.RawSet(k, v)
				}
			}
			return wrap(L, tables, "map", m), rest
		case '~':
			s := tables.table(L, 0, n)
			for j := 0; j < n; j++ {
				var k lua.LValue
				k, rest = replyToLua(L, tables, rest)
				if k != lua.LNil {
					s.RawSet(k, lua.LTrue)
				}
			}
			return wrap(L, tables, "set", s), rest
		}
		t := tables.table(L, n, 0)
		for j := 1; j <= n; j++ {
			var e lua.LValue
			e, rest = replyToLua(L, tables, rest)
			if e == lua.LNil {
				e = lua.LFalse // an array element that is a RESP3 null
			}
			t.RawSetInt(j, e)
		}
		return t, rest
	case '_':
		return lua.LNil, rest
	case '#':
		return lua.LBool(len(line) == 1 && line[0] == 't'), rest
	case ',':
		f, ok := parseDouble(string(line))
		if !ok {
			return lua.LNil, rest
		}
		return wrap(L, tables, "double", lua.LNumber(f)), rest
	case '(':
		return wrap(L, tables, "big_number", lua.LString(line)), rest
	case '=', '!':
		n := replyLen(line)
		if n < 0 || n+2 > len(rest) {
			return lua.LNil, nil
		}
		body := rest[:n]
		rest = rest[n+2:]
		if b[0] == '!' {
			return wrap(L, tables, "err", lua.LString(body)), rest
		}
		vt := tables.table(L, 0, 2)
		if len(body) >= 4 && body[3] == ':' {
			vt.RawSetString("format", lua.LString(body[:3]))
			body = body[4:]
		}
		vt.RawSetString("string", lua.LString(body))
		return wrap(L, tables, "verbatim_string", vt), rest
	case '|':
		n := replyLen(line)
		for j := 0; j < 2*n; j++ {
			_, rest = replyToLua(L, tables, rest)
		}
		return replyToLua(L, tables, rest)
	}
	return lua.LNil, nil
}

// replyLen is the length or count of a reply header (-1 for a null).
func replyLen(line []byte) int {
	n, _ := resp.ParseInt(line) // without the string copy strconv needs
	return int(n)
}

// wrap returns the table {field = v}, from tables.
func wrap(L *lua.LState, tables *tablePool, field string, v lua.LValue) *lua.LTable {
	t := tables.table(L, 0, 1)
	t.RawSetString(field, v)
	return t
}

// tablePool hands out the tables a run's redis.call replies are converted
// into, and takes them all back when the run ends: the next run refills
// them instead of allocating new ones. Only runs that may refill their
// tables (refills) use the vm's pool, as they refill KEYS and ARGV
// (pushInput): nothing of theirs outlives them.
type tablePool struct {
	tables []*lua.LTable // the first used are out in the running script
	used   int
}

// maxPooledTables bounds the tables a pool keeps (a run that makes more
// gets new ones past it).
const maxPooledTables = 64

// table returns an empty table, the pool's next one or a new one with
// room for acap array elements and hcap fields; p may be nil.
func (p *tablePool) table(L *lua.LState, acap, hcap int) *lua.LTable {
	if p == nil {
		return L.CreateTable(acap, hcap)
	}
	if p.used < len(p.tables) {
		t := p.tables[p.used]
		p.used++
		return t
	}
	t := L.CreateTable(acap, hcap)
	if len(p.tables) < maxPooledTables {
		p.tables = append(p.tables, t)
		p.used++
	}
	return t
}

// release takes back the tables of the run that ended, emptied.
func (p *tablePool) release() {
	for _, t := range p.tables[:p.used] {
		t.Clear()
	}
	p.used = 0
}

func indexCRLF(b []byte) int {
	for i := 0; i+1 < len(b); i++ {
		if b[i] == '\r' && b[i+1] == '\n' {
			return i
		}
	}
	return -1
}

// parseDouble parses a RESP3 double's text ("inf", "-inf", "nan" too).
func parseDouble(s string) (float64, bool) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !isRange(err) {
		return 0, false
	}
	return f, true
}
