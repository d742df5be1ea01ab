package differential

import (
	"fmt"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"

	"github.com/structd/structd/internal/resp"
)

// TestRandomLuaExpressions runs seeded random Lua expressions (arithmetic,
// comparisons, concatenation, and/or/not over locals, upvalues, calls,
// table fields, nil and false) through EVAL on both servers, each in one
// of several statement shapes (a new local, an existing local, a multiple
// assignment, a table constructor, a return, a branch, a loop, a field),
// and compares the replies: the result's type and tostring, or the error
// text (without StructD's traceback). It found gopher-lua compiling
// "r = f() and 2" and "a, b = b, a" wrong, reading "010" as octal and
// computing % with fmod.
func TestRandomLuaExpressions(t *testing.T) {
	compareRandomScripts(t, 11, func(rng *rand.Rand) (string, string) {
		stmt := fmt.Sprintf(luaShapes[rng.IntN(len(luaShapes))], randomLuaValue(rng, 3))
		return stmt, luaPrelude + stmt + " return {type(r), tostring(r)}"
	})
}

// compareRandomScripts runs 24 seeds of 250 scripts from gen (which
// returns what to show of a script on failure, and the script) through
// EVAL on both servers and requires equal replies, StructD's traceback
// aside, after the normalize functions. stream seeds the generator apart
// from other tests'.
func compareRandomScripts(t *testing.T, stream uint64, gen func(*rand.Rand) (label, script string), normalize ...func(resp.Value) resp.Value) {
	needRedis(t)
	p := openPair(t)
	defer p.close()
	defer func() {
		p.redis.doStrings("SCRIPT", "FLUSH")
		p.structd.doStrings("SCRIPT", "FLUSH")
	}()
	for seed := uint64(1); seed <= 24; seed++ {
		rng := rand.New(rand.NewPCG(seed, stream))
		for step := 0; step < 250; step++ {
			label, script := gen(rng)
			args := [][]byte{[]byte("EVAL"), []byte(script), []byte("0")}
			r, s := command(p.redis, args), command(p.structd, args)
			for _, norm := range normalize {
				r, s = norm(r), norm(s)
			}
			if s = dropScriptStack(r, s); !r.Equal(s) {
				t.Fatalf("seed %d step %d: %s\n--- redis-server:\n%s\n--- structd:\n%s", seed, step, label, r, s)
			}
		}
	}
}

// luaPrelude defines what the random expressions use: functions returning
// each kind of value, locals of each type, a table, an upvalue.
const luaPrelude = "local function f0() return false end local function f1() return 1 end " +
	"local function fn() return nil end local function fs() return 'x' end " +
	"local n1, n2, l0 = 4, -2.5, false local s1 = 'hello' local t = {a = 2} " +
	"local u1 = 6 local function g(x) return x * u1 end "

// luaShapes are the statements an expression is tried in; each leaves it
// (or what it decided) in r.
var luaShapes = []string{
	"local r = %s",
	"local r = 'init' r = %s",
	"local r, q = 'i', 'j' r, q = %s, q",
	"local r = ({%s})[1]",
	"local r = (function() return %s end)()",
	"local r = 'init' if %s then r = 'T' else r = 'F' end",
	"local r = 0 for i = 1, 2 do r = %s end",
	"local t2 = {} t2.k = %s local r = t2.k",
	"local r = 'init' while %s do r = 'loop' break end",
}

var (
	luaNumbers = []string{"1", "2", "0", "-3", "2.5", "n1", "n2", "t.a", "f1()", "u1", "#s1", "('7' + 0)", "('010' * 1)", "g(3)"}
	luaStrings = []string{"'a'", "s1", "'10'", "tostring(n1)", "fs()"}
	luaAny     = append(append(append([]string(nil), luaNumbers...), luaStrings...), "nil", "false", "true", "f0()", "fn()", "t.z", "l0")
)

// randomLuaNumber is an arithmetic expression of depth at most d.
func randomLuaNumber(rng *rand.Rand, d int) string {
	if d == 0 || rng.Float64() < 0.35 {
		return luaNumbers[rng.IntN(len(luaNumbers))]
	}
	switch op := []string{"+", "-", "*", "%", "^", "/"}[rng.IntN(6)]; op {
	case "%", "/":
		return fmt.Sprintf("(%s %s (%s))", randomLuaNumber(rng, d-1), op, []string{"2", "3", "-2", "0.5"}[rng.IntN(4)])
	case "^":
		return fmt.Sprintf("(%s ^ %s)", randomLuaNumber(rng, d-1), []string{"2", "0.5", "0"}[rng.IntN(3)])
	default:
		return fmt.Sprintf("(%s %s %s)", randomLuaNumber(rng, d-1), op, randomLuaNumber(rng, d-1))
	}
}

// randomLuaValue is an expression of any type of depth at most d.
func randomLuaValue(rng *rand.Rand, d int) string {
	r := rng.Float64()
	switch {
	case d == 0 || r < 0.25:
		return luaAny[rng.IntN(len(luaAny))]
	case r < 0.45:
		return randomLuaNumber(rng, d)
	case r < 0.55:
		operand := func() string {
			pool := append(luaStrings[:len(luaStrings):len(luaStrings)], luaNumbers[:3]...)
			return pool[rng.IntN(len(pool))]
		}
		return fmt.Sprintf("(%s .. %s)", operand(), operand())
	case r < 0.7:
		op := []string{"<", "<=", ">", ">=", "==", "~="}[rng.IntN(6)]
		return fmt.Sprintf("(%s %s %s)", randomLuaNumber(rng, d-1), op, randomLuaNumber(rng, d-1))
	case r < 0.8:
		return "(not " + randomLuaValue(rng, d-1) + ")"
	default:
		op := []string{"and", "or"}[rng.IntN(2)]
		e := randomLuaValue(rng, d-1) + " " + op + " " + randomLuaValue(rng, d-1)
		if rng.IntN(5) < 3 {
			return "(" + e + ")"
		}
		return strings.TrimSpace(e)
	}
}

// TestRandomLuaLibraryCalls calls the string, math, table and base
// functions scripts use with seeded random arguments (positions past either
// end, negative and fractional counts, patterns with captures and anchors,
// format specs, numeric strings in other bases) on both servers and
// compares what each returns, or the error it raises, as text. It found
// string.find panicking on a start past the end, string.byte and unpack
// pushing without Lua's stack limit, and gsub's limit and format's %c
// differing from Lua 5.1.
func TestRandomLuaLibraryCalls(t *testing.T) {
	compareRandomScripts(t, 13, func(rng *rand.Rand) (string, string) {
		call := randomLuaCall(rng)
		return call, "local s = 'Hello World' local n = 7 " +
			"local r = {pcall(function() return " + call + " end)} " +
			"local out = {} for i = 1, 6 do out[i] = type(r[i]) .. ':' .. tostring(r[i]) end return out"
	})
}

// randomLuaCall is one library call with random arguments.
func randomLuaCall(rng *rand.Rand) string {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	str := func() string {
		return pick("'hello world'", "'a,b,,c'", "''", "'%d'", "'x'", "'ABC'", "'  pad  '", "'a.b'", "'\\0z'", "'10'", "'3.5'", "s")
	}
	num := func() string { return pick("0", "1", "2", "-1", "-2", "3", "10", "100", "2.5", "-0.5", "1e3", "n") }
	pat := func() string {
		return pick("'o'", "'l+'", "'%a+'", "'(%w+)'", "'^h'", "'d$'", "'.'", "'%s'", "'[aeiou]'", "'(o)(r)'", "'%d+'", "''", "'b*'", "'%.'", "'[^,]*'", "'()'")
	}
	list := func(elems ...string) string {
		n := rng.IntN(5)
		out := make([]string, n)
		for i := range out {
			out[i] = pick(elems...)
		}
		return strings.Join(out, ", ")
	}
	switch rng.IntN(24) {
	case 0:
		return fmt.Sprintf("string.sub(%s, %s, %s)", str(), num(), num())
	case 1:
		return fmt.Sprintf("string.find(%s, %s, %s)", str(), pat(), num())
	case 2:
		return fmt.Sprintf("string.find(%s, %s, %s, true)", str(), pat(), num())
	case 3:
		return fmt.Sprintf("string.match(%s, %s, %s)", str(), pat(), num())
	case 4:
		return fmt.Sprintf("string.gsub(%s, %s, %s)", str(), pat(),
			pick("'-'", "'%0%0'", "'<%1>'", "''", "{o='0'}", "function(x) return x:upper() end", "function() return nil end", "function() return false end"))
	case 5:
		return fmt.Sprintf("string.gsub(%s, %s, '#', %s)", str(), pat(), num())
	case 6:
		return fmt.Sprintf("string.rep(%s, %s)", str(), pick("0", "1", "3", "-1", "2.7"))
	case 7:
		return fmt.Sprintf("string.byte(%s, %s, %s)", str(), num(), num())
	case 8:
		return "string.char(" + list("65", "97", "0", "255", "48") + ")"
	case 9:
		return fmt.Sprintf("string.%s(%s)", pick("upper", "lower", "len", "reverse"), str())
	case 10:
		return fmt.Sprintf("string.format(%s, %s)",
			pick("'%d'", "'%5.2f'", "'%s'", "'%q'", "'%x'", "'%5s|%-5s'", "'%g'", "'%e'", "'%%'", "'%c'", "'%i'", "'%o'", "'%X'", "'%.3s'", "'%10.4f'", "'%+d'", "'% d'", "'%#x'", "'%05d'", "'[%5c]'"),
			pick(num(), str()))
	case 11:
		return "tostring(" + pick(num(), "1/3", "2^53", "2^63", "-2^63", "1e15", "1e16", "123456789012", "0.1", "-0.0", "1e-7", "1e300*1e10") + ")"
	case 12:
		return "tonumber(" + pick(str(), "'0x10'", "' 5 '", "'1e2'", "'5e'", "'.5'", "'0x'", "'1 2'", "'-0x1p4'", "'infinity'", "'  -7.  '", "'010'", "'0b1'") + ")"
	case 13:
		return fmt.Sprintf("tonumber(%s, %s)", pick("'ff'", "'10'", "'zz'", "'-11'", "' 7 '", "'1.5'", "'8'", "'ffffffffffffffffffff'"), pick("2", "8", "10", "16", "36"))
	case 14:
		return fmt.Sprintf("table.concat({%s}, %s)", list("1", "'a'", "2.5", "'b'"), pick("','", "''", "'--'"))
	case 15:
		return fmt.Sprintf("table.concat({1, 2, 3, 4}, ',', %s, %s)", pick("1", "2", "3", "5"), pick("0", "2", "4", "3"))
	case 16:
		return "select(" + pick("1", "2", "3", "4", "'#'", "-1", "-3") + ", 'a', 'b', 'c')"
	case 17:
		// Not the transcendental functions: Go's and glibc's may differ in
		// the last bit, which %.14g can show.
		return fmt.Sprintf("math.%s(%s)", pick("floor", "ceil", "abs", "sqrt", "modf", "frexp"), num())
	case 18:
		return fmt.Sprintf("math.%s(%s, %s)", pick("max", "min", "fmod", "mod", "ldexp"), num(), num())
	case 19:
		return fmt.Sprintf("unpack({%s}, %s, %s)", list("1", "'a'", "2"), pick("1", "2", "0", "-1"), pick("1", "3", "5", "2"))
	case 20:
		return "#" + str() + " .. " + num()
	case 21:
		return fmt.Sprintf("(%s):rep(2) .. (%s):sub(%s)", str(), str(), num())
	case 22:
		return "select('#', string.match(" + str() + ", " + pat() + "))"
	default:
		return fmt.Sprintf("table.concat({string.find(%s, %s)}, ',')", str(), pat())
	}
}

// TestRandomLuaPrograms runs seeded random small programs (assignments,
// multiple assignments, table writes, if/else, numeric and ipairs loops,
// while and repeat, nested blocks with shadowing locals, vararg closures)
// over a few locals and a table, and compares the final state each server
// reports, or the error. Error texts are compared without the variable's
// name ("local 'c'"): StructD finds it in gopher-lua's bytecode, which
// differs from Lua's, so the two may name different operands. It found
// "c = (n or x) and c * 2" clobbering c before reading it.
func TestRandomLuaPrograms(t *testing.T) {
	prelude := "local a, b, c = 1, 2, nil local t = {5, 6} local n = 0 " +
		"local function f(x) return x end local function g() return 3, 4 end "
	// z shows -0 as 0: Lua folds "(2 and -1) * 0" into its constant 0,
	// gopher-lua computes -0 at run time.
	state := " local function z(v) if v == 0 then return '0' end return tostring(v) end" +
		" return {z(a), z(b), z(c), z(n), #t, z(t[1]), z(t[2]), z(t[3]), z(t.x)}"
	compareRandomScripts(t, 17, func(rng *rand.Rand) (string, string) {
		body := randomLuaBlock(rng, 3)
		return body, prelude + body + state
	}, unnamedOperand)
}

// operandName is the variable a runtime error names in Lua 5.1's words.
var operandName = regexp.MustCompile(`(local|global|field|upvalue|method) '[^']*' \(a (\w+) value\)`)

// unnamedOperand drops the variable's name from an error reply.
func unnamedOperand(v resp.Value) resp.Value {
	if v.Kind == resp.KindError {
		v.Str = operandName.ReplaceAll(v.Str, []byte("a $2 value"))
	}
	return v
}

// randomLuaBlock is one to three random statements nested at most d deep.
func randomLuaBlock(rng *rand.Rand, d int) string {
	n := 1 + rng.IntN(3)
	stmts := make([]string, n)
	for i := range stmts {
		stmts[i] = randomLuaStatement(rng, d)
	}
	return strings.Join(stmts, " ")
}

func randomLuaStatement(rng *rand.Rand, d int) string {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	v := func() string { return pick("a", "b", "c") }
	e := func() string { return randomLuaProgramExpr(rng, 2) }
	// Loop bounds stay small: loops that grow t by its length nest.
	count := func() string {
		return pick("1", "2", "3", "0", "-1", "math.min(#t, 3)", "math.min(n, 3)", "(a and 2 or 1)")
	}
	r := rng.Float64()
	if d == 0 || r < 0.3 {
		switch k := rng.Float64(); {
		case k < 0.5:
			return v() + " = " + e()
		case k < 0.65:
			return v() + ", " + v() + " = " + e() + ", " + e()
		case k < 0.8:
			// Never nil at an integer key: a hole makes #t any border,
			// and gopher-lua's tables size their array part unlike Lua's.
			return "t[" + pick("1", "2", "#t+1") + "] = (" + e() + " or 0)"
		case k < 0.85:
			return "t.x = " + e()
		case k < 0.9:
			return "table.insert(t, " + e() + ")"
		default:
			return "n = n + 1"
		}
	}
	switch {
	case r < 0.45:
		return "if " + e() + " then " + randomLuaBlock(rng, d-1) + " else " + randomLuaBlock(rng, d-1) + " end"
	case r < 0.6:
		return "for i = " + count() + ", " + count() + " do " + randomLuaBlock(rng, d-1) + " end"
	case r < 0.7:
		return "for k, v in ipairs(t) do if k > 4 then break end " + randomLuaBlock(rng, d-1) + " end"
	case r < 0.8:
		return "do local " + v() + " = " + e() + " " + randomLuaBlock(rng, d-1) + " end"
	case r < 0.88:
		return "local cnt = 0 while " + e() + " and cnt < 3 do cnt = cnt + 1 " + randomLuaBlock(rng, d-1) + " end"
	case r < 0.94:
		return "repeat " + randomLuaBlock(rng, d-1) + " until " + e() + " or true"
	default:
		return "local h = function(...) local x, y = ... " + randomLuaBlock(rng, d-1) + " return x end " +
			v() + " = h(" + e() + ", " + e() + ")"
	}
}

// randomLuaProgramExpr is an expression over the programs' variables.
func randomLuaProgramExpr(rng *rand.Rand, d int) string {
	atoms := []string{"a", "b", "c", "1", "2", "0", "-1", "t[1]", "t.x", "#t", "f(a)", "g()", "(a or 0)", "select('#', a, b)", "n"}
	if d == 0 || rng.Float64() < 0.4 {
		return atoms[rng.IntN(len(atoms))]
	}
	x, y := randomLuaProgramExpr(rng, d-1), randomLuaProgramExpr(rng, d-1)
	switch r := rng.Float64(); {
	case r < 0.5:
		return "(" + x + " " + []string{"+", "-", "*"}[rng.IntN(3)] + " " + y + ")"
	case r < 0.7:
		return "(" + x + " " + []string{"and", "or"}[rng.IntN(2)] + " " + y + ")"
	case r < 0.85:
		return "(" + x + " " + []string{"<", "==", "~="}[rng.IntN(3)] + " " + y + ")"
	default:
		return "(not " + x + ")"
	}
}
