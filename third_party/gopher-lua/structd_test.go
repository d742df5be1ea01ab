package lua

import (
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

// StructD's fork: the tests of what it adds (FORK.md).

func TestAllocatorBoxesStringsAndNumbers(t *testing.T) {
	L := NewState()
	defer L.Close()
	var values []LValue
	var want []string
	buf := []byte("x")
	for i := 0; i < 3000; i++ { // past many blocks of each kind
		s := strings.Repeat(strconv.Itoa(i), i%100)
		if i%500 == 0 {
			s = strings.Repeat("y", stringBlockMax+1) // its own allocation
		}
		buf = append(buf[:0], s...)
		switch i % 3 {
		case 0:
			values = append(values, L.BytesValue(buf))
		case 1:
			values = append(values, L.StringValue(s))
		default:
			values = append(values, L.NumberValue(LNumber(i)+0.5))
			s = strconv.Itoa(i) + ".5"
		}
		for j := range buf {
			buf[j] = '!' // BytesValue copied
		}
		want = append(want, s)
	}
	runtime.GC()
	for i, v := range values {
		if got := LVAsString(v); got != want[i] {
			t.Fatalf("value %d is %q, want %q", i, got, want[i])
		}
	}
	errorIfNotEqual(t, LString(""), L.BytesValue(nil))
	L.PushNumber(7)
	errorIfNotEqual(t, LNumber(7), L.Get(-1))
}

func TestArithmeticOnNumericStrings(t *testing.T) {
	L := NewState()
	defer L.Close()
	errorIfScriptFail(t, L, `
		assert("10" * 2 == 20)
		assert(2 - " 3 " == -1)
		assert("0x10" + 0 == 16)
		assert("1e2" / "4" == 25)
		assert(("7" % 4) == 3)
		local mt = {__add = function(a, b) return "meta" end}
		assert(setmetatable({}, mt) + "1" == "meta")
		local ok, err = pcall(function() return "abc" + 1 end)
		assert(not ok and string.find(err, "cannot perform add operation between string and number", 1, true), err)
	`)
}

func TestTableClear(t *testing.T) {
	L := NewState()
	defer L.Close()
	tb := L.NewTable()
	for i := 1; i <= 10; i++ {
		tb.Append(LNumber(i))
	}
	tb.RawSetString("k", LTrue)
	tb.RawSet(LTrue, LTrue)
	L.SetMetatable(tb, L.NewTable())
	tb.Clear()
	errorIfNotEqual(t, 0, tb.Len())
	errorIfNotEqual(t, LNil, tb.Metatable)
	k, _ := tb.Next(LNil)
	errorIfNotEqual(t, LNil, k)
	tb.Append(LString("a"))
	errorIfNotEqual(t, 1, tb.Len())
	errorIfNotEqual(t, LString("a"), tb.RawGetInt(1))
	errorIfNotEqual(t, LNil, tb.RawGetInt(2))
	for i := 1; i <= 1000; i++ { // a large array is not kept
		tb.Append(LNumber(i))
	}
	tb.Clear()
	errorIfNotEqual(t, 0, cap(tb.array))
}

// pendingCtx counts the calls of Done and is done once stop is closed.
type pendingCtx struct {
	context.Context
	pending atomic.Bool
	calls   atomic.Int64
	stop    chan struct{}
}

func (c *pendingCtx) Pending() *atomic.Bool { return &c.pending }
func (c *pendingCtx) Done() <-chan struct{} { c.calls.Add(1); return c.stop }
func (c *pendingCtx) Err() error            { return context.Canceled }

func TestPendingContext(t *testing.T) {
	L := NewState()
	defer L.Close()
	ctx := &pendingCtx{Context: context.Background(), stop: make(chan struct{})}
	L.SetContext(ctx)
	errorIfScriptFail(t, L, `local n = 0 for i = 1, 1000 do n = n + i end assert(n == 500500)`)
	errorIfNotEqual(t, int64(0), ctx.calls.Load()) // the flag is clear: Done is not asked
	ctx.pending.Store(true)
	errorIfScriptFail(t, L, `local n = 1`)
	errorIfFalse(t, ctx.calls.Load() > 0, "Done was not asked while the flag was set")
	close(ctx.stop)
	err := L.DoString(`while true do end`)
	errorIfFalse(t, err != nil && strings.Contains(err.Error(), context.Canceled.Error()), "a done context did not stop the script: %v", err)
	L.RemoveContext()
	errorIfScriptFail(t, L, `local n = 1`)
}

func TestFieldCache(t *testing.T) {
	L := NewState()
	defer L.Close()
	errorIfScriptFail(t, L, `
		x = 1
		local function g() return x end
		assert(g() == 1 and g() == 1)
		x = 2
		assert(g() == 2)
		x = nil
		assert(g() == nil)
		setmetatable(_G, {__index = {x = 'meta'}})
		assert(g() == 'meta')
		x = 3
		assert(g() == 3)
		setmetatable(_G, nil)
		x = nil

		local real = {a = 1}
		local p = setmetatable({}, {__index = real})
		local function f() return p.a end
		assert(f() == 1 and f() == 1)
		real.a = 2
		assert(f() == 2)
		getmetatable(p).__index = {a = 3}
		assert(f() == 3)
		setmetatable(p, {__index = {a = 4}})
		assert(f() == 4)
		p.a = 5
		assert(f() == 5)
		p.a = nil
		assert(f() == 4)
		getmetatable(p).__index = function(t, k) return k .. '!' end
		assert(f() == 'a!')
		setmetatable(p, nil)
		assert(f() == nil)

		-- one proto, two environments
		local function mk() return function() return y end end
		local c1, c2 = mk(), mk()
		setfenv(c1, {y = 'one'})
		setfenv(c2, {y = 'two'})
		assert(c1() == 'one' and c2() == 'two' and c1() == 'one' and c2() == 'two')
	`)
	// A field of a table with fields of its own is not cached: the
	// cache keeps no table a script made alive.
	fn, err := L.LoadString(`local o = setmetatable({own = 1}, {__index = {a = 1}}) return o.a`)
	errorIfNotNil(t, err)
	L.Push(fn)
	L.Call(0, 1)
	errorIfNotEqual(t, LNumber(1), L.Get(-1))
	for _, c := range fn.Proto.fieldCache {
		errorIfFalse(t, c.t0 == nil || c.t0 == L.G.Global, "the cache keeps a table of the script: %+v", c)
	}
}

func TestSmallTablesGrow(t *testing.T) {
	for acap := 0; acap <= 6; acap++ {
		tb := newLTable(acap, 0)
		for i := 1; i <= 20; i++ {
			tb.Append(LNumber(i))
		}
		errorIfNotEqual(t, 20, tb.Len())
		for i := 1; i <= 20; i++ {
			errorIfNotEqual(t, LNumber(i), tb.RawGetInt(i))
		}
		errorIfNotEqual(t, LNil, tb.Metatable)
	}
}
