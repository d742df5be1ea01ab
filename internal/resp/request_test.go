package resp

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
)

// parseResult is what a RequestReader made of an input: the commands it
// returned, each rendered with strconv.Quote per argument, and the protocol
// error text that stopped it ("" if none).
type parseResult struct {
	cmds []string
	err  string
}

func (p parseResult) String() string {
	return "cmds=" + strings.Join(p.cmds, " | ") + " err=" + strconv.Quote(p.err)
}

func renderArgs(args [][]byte) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = strconv.Quote(string(a))
	}
	return strings.Join(q, " ")
}

// feed parses data delivered chunk bytes per read (all at once if chunk is
// 0), as a connection would, and checks the buffer stays within what the
// client sent (four times it, plus the initial 16 KB and a page), whatever
// lengths the client declares.
func feed(t testing.TB, data []byte, chunk int, auth bool, maxBulk int64) parseResult {
	rr := RequestReader{MaxBulkLen: maxBulk, Authenticated: auth}
	var res parseResult
	for off := 0; off < len(data); {
		space := rr.Space()
		n := len(data) - off
		if chunk > 0 && n > chunk {
			n = chunk
		}
		n = copy(space, data[off:off+n])
		rr.Commit(n)
		off += n
		if limit := 4*off + 16*1024 + 4096; rr.Capacity() > limit {
			t.Fatalf("query buffer capacity %d after %d bytes received (limit %d)", rr.Capacity(), off, limit)
		}
		for {
			args, err := rr.Next()
			if err != nil {
				var pe *ProtocolError
				if !errors.As(err, &pe) {
					t.Fatalf("Next returned %T %v, want *ProtocolError", err, err)
				}
				res.err = err.Error()
				return res
			}
			if args == nil {
				break
			}
			res.cmds = append(res.cmds, renderArgs(args))
		}
	}
	return res
}

func TestRequestReader(t *testing.T) {
	big := strings.Repeat("x", MaxInlineSize+1)
	tests := []struct {
		name string
		in   string
		cmds []string // each command's arguments, quoted
		err  string   // the reply Redis sends before closing
	}{
		{"multibulk", "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", []string{`"GET" "k"`}, ""},
		{"binary bulk", "*2\r\n$4\r\nECHO\r\n$4\r\na\x00\r\n\r\n", []string{`"ECHO" "a\x00\r\n"`}, ""},
		{"empty bulk", "*2\r\n$4\r\nECHO\r\n$0\r\n\r\n", []string{`"ECHO" ""`}, ""},
		{"trailing bytes not checked", "*1\r\n$4\r\nPINGxx", []string{`"PING"`}, ""},
		{"pipeline", "*1\r\n$4\r\nPING\r\nPING\r\n*1\r\n$4\r\nPING\r\n", []string{`"PING"`, `"PING"`, `"PING"`}, ""},
		{"zero multibulk skipped", "*0\r\nPING\r\n", []string{`"PING"`}, ""},
		{"negative multibulk skipped", "*-1\r\n*-100\r\nPING\r\n", []string{`"PING"`}, ""},
		{"empty lines skipped", "\r\n\n  \r\nPING\r\n", []string{`"PING"`}, ""},
		{"inline lf only", "SET a b\n", []string{`"SET" "a" "b"`}, ""},
		{"inline quotes", "SET \"a b\" 'c d'\r\n", []string{`"SET" "a b" "c d"`}, ""},
		{"inline escapes", `ECHO "\x41\n\r\t\b\a\\\"\q"` + "\r\n", []string{`"ECHO" "A\n\r\t\b\a\\\"q"`}, ""},
		{"inline bad hex kept", `ECHO "\x4g"` + "\r\n", []string{`"ECHO" "x4g"`}, ""},
		{"inline single quote escape", `ECHO 'a\'b\n'` + "\r\n", []string{`"ECHO" "a'b\\n"`}, ""},
		{"inline empty quoted", `ECHO "" ''` + "\r\n", []string{`"ECHO" "" ""`}, ""},
		{"inline vertical tab is data", "ECHO a\v\r\n", []string{`"ECHO" "a\v"`}, ""},
		{"inline lone cr splits", "ECHO a\rb\r\n", []string{`"ECHO" "a" "b"`}, ""},
		{"inline nul waits", "ECHO a\x00b\r\nPING\r\n", nil, ""},
		{"unbalanced double", "PING \"a\r\n", nil, "ERR Protocol error: unbalanced quotes in request"},
		{"unbalanced single", "PING 'a\r\n", nil, "ERR Protocol error: unbalanced quotes in request"},
		{"closing quote then letter", "ECHO \"a\"b\r\n", nil, "ERR Protocol error: unbalanced quotes in request"},
		{"commands before the error run", "PING\r\nECHO 'x\r\n", []string{`"PING"`}, "ERR Protocol error: unbalanced quotes in request"},
		{"too big inline", big, nil, "ERR Protocol error: too big inline request"},
		{"big inline with newline", "ECHO " + big + "\r\n", []string{`"ECHO" "` + big + `"`}, ""},
		{"multibulk not a number", "*x\r\n", nil, "ERR Protocol error: invalid multibulk length"},
		{"multibulk empty", "*\r\n", nil, "ERR Protocol error: invalid multibulk length"},
		{"multibulk plus sign", "*+1\r\n", nil, "ERR Protocol error: invalid multibulk length"},
		{"multibulk leading zero", "*01\r\n", nil, "ERR Protocol error: invalid multibulk length"},
		{"multibulk over int max", "*2147483648\r\n", nil, "ERR Protocol error: invalid multibulk length"},
		{"multibulk int max waits", "*2147483647\r\n", nil, ""},
		{"too big mbulk count", "*" + big, nil, "ERR Protocol error: too big mbulk count string"},
		{"expected dollar", "*1\r\n:1\r\n", nil, "ERR Protocol error: expected '$', got ':'"},
		{"expected dollar raw byte", "*1\r\n\xff\r\n", nil, "ERR Protocol error: expected '$', got '\xff'"},
		{"expected dollar cr", "*1\r\n\r\n", nil, "ERR Protocol error: expected '$', got '\r'"},
		{"expected dollar waits for the line", "*1\r\nx", nil, ""},
		{"bulk negative", "*1\r\n$-1\r\n", nil, "ERR Protocol error: invalid bulk length"},
		{"bulk not a number", "*1\r\n$x\r\n", nil, "ERR Protocol error: invalid bulk length"},
		{"bulk empty", "*1\r\n$\r\n", nil, "ERR Protocol error: invalid bulk length"},
		{"bulk over max", "*1\r\n$1025\r\n", nil, "ERR Protocol error: invalid bulk length"},
		{"bulk at max waits", "*1\r\n$1024\r\n", nil, ""},
		{"too big bulk count", "*1\r\n$" + big, nil, "ERR Protocol error: too big bulk count string"},
		{"header nul waits", "*1\x00\r\n$4\r\nPING\r\n", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := parseResult{cmds: tt.cmds, err: tt.err}
			for _, chunk := range []int{0, 1, 2, 3, 7, 4096} {
				if chunk > 0 && len(tt.in) > MaxInlineSize && tt.err == "" {
					continue // accepted only when the line arrives in one read, as in Redis
				}
				got := feed(t, []byte(tt.in), chunk, true, 1024)
				if got.String() != want.String() {
					t.Fatalf("chunk %d:\n got  %s\n want %s", chunk, got, want)
				}
			}
		})
	}
}

func TestRequestReaderUnauthenticated(t *testing.T) {
	tests := []struct {
		name, in, err string
		ncmds         int
	}{
		{"ten args", "*10\r\n" + strings.Repeat("$1\r\na\r\n", 10), "", 1},
		{"eleven args", "*11\r\n", "ERR Protocol error: unauthenticated multibulk length", 0},
		{"bulk at limit", "*1\r\n$16384\r\n" + strings.Repeat("a", 16384) + "\r\n", "", 1},
		{"bulk over limit", "*1\r\n$16385\r\n", "ERR Protocol error: unauthenticated bulk length", 0},
		{"invalid before unauthenticated", "*1\r\n$2000\r\n", "ERR Protocol error: invalid bulk length", 0},
		{"inline not limited", "ECHO" + strings.Repeat(" a", 20) + "\r\n", "", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			maxBulk := int64(1 << 20)
			if strings.HasPrefix(tt.name, "invalid") {
				maxBulk = 1000
			}
			got := feed(t, []byte(tt.in), 0, false, maxBulk)
			if got.err != tt.err || len(got.cmds) != tt.ncmds {
				t.Fatalf("got %s, want %d commands and error %q", got, tt.ncmds, tt.err)
			}
		})
	}
}

// A declared bulk length is not allocated before its bytes arrive, and a
// large value that does arrive is read with a bounded number of copies.
func TestRequestReaderLargeBulk(t *testing.T) {
	rr := RequestReader{MaxBulkLen: 512 << 20, Authenticated: true}
	header := []byte("*2\r\n$4\r\nECHO\r\n$536870912\r\n")
	rr.Commit(copy(rr.Space(), header))
	if args, err := rr.Next(); args != nil || err != nil {
		t.Fatalf("Next = %v, %v; want incomplete", args, err)
	}
	if c := rr.Capacity(); c > 64*1024 {
		t.Fatalf("declaring 512 MB grew the buffer to %d bytes", c)
	}

	value := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	data := append([]byte("*2\r\n$4\r\nECHO\r\n$1048576\r\n"), value...)
	data = append(data, '\r', '\n')
	rr = RequestReader{MaxBulkLen: 512 << 20, Authenticated: true}
	grows := 0
	for off := 0; off < len(data); {
		before := rr.Capacity()
		space := rr.Space()
		n := copy(space[:min(len(space), 8192)], data[off:])
		rr.Commit(n)
		off += n
		args, err := rr.Next()
		if rr.Capacity() != before {
			grows++
		}
		if err != nil {
			t.Fatal(err)
		}
		if args != nil {
			if off != len(data) || !bytes.Equal(args[1], value) {
				t.Fatalf("got %d-byte argument after %d of %d bytes", len(args[1]), off, len(data))
			}
		}
	}
	if grows > 12 {
		t.Fatalf("buffer grew %d times for a 1 MiB value; want geometric growth", grows)
	}
	if c := rr.Capacity(); c > 4*len(data) {
		t.Fatalf("capacity %d for a %d-byte command", c, len(data))
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		in   string
		want []string // nil: unbalanced quotes
	}{
		{"", []string{}},
		{"   \t ", []string{}},
		{"a b  c", []string{"a", "b", "c"}},
		{`"a b" c`, []string{"a b", "c"}},
		{`"\x00\xff\xFf"`, []string{"\x00\xff\xff"}},
		{`"\x0"`, []string{"x0"}},
		{`"\"\\"`, []string{`"\`}},
		{`'\''`, []string{"'"}},
		{`'\"'`, []string{`\"`}},
		{`a"b"`, []string{`ab`}},
		{`a'b c'`, []string{`ab c`}},
		{`"a"b`, nil},
		{`'a'b`, nil},
		{`"a`, nil},
		{`'a`, nil},
		{`"a\"`, nil},
		{`"a"` + "\v", []string{"a"}},
		{"a\x00b", []string{"a"}},
		{"\"a\x00b\"", nil},
		{"\"a\"\x00b", []string{"a"}},
	}
	for _, tt := range tests {
		got, ok := SplitArgs([]byte(tt.in), nil)
		if tt.want == nil {
			if ok {
				t.Errorf("SplitArgs(%q) = %q, want unbalanced quotes", tt.in, got)
			}
			continue
		}
		if !ok || len(got) != len(tt.want) {
			t.Errorf("SplitArgs(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
			continue
		}
		for i := range got {
			if string(got[i]) != tt.want[i] {
				t.Errorf("SplitArgs(%q)[%d] = %q, want %q", tt.in, i, got[i], tt.want[i])
			}
		}
	}
}

func TestParseInt(t *testing.T) {
	tests := []struct {
		in string
		n  int64
		ok bool
	}{
		{"0", 0, true}, {"1", 1, true}, {"-1", -1, true},
		{"9223372036854775807", 1<<63 - 1, true}, {"-9223372036854775808", -1 << 63, true},
		{"9223372036854775808", 0, false}, {"-9223372036854775809", 0, false},
		{"18446744073709551616", 0, false}, {"", 0, false}, {"-", 0, false}, {"-0", 0, false},
		{"+1", 0, false}, {"01", 0, false}, {" 1", 0, false}, {"1 ", 0, false}, {"1a", 0, false},
		{"000000000000000000001", 0, false},
	}
	for _, tt := range tests {
		n, ok := ParseInt([]byte(tt.in))
		if n != tt.n || ok != tt.ok {
			t.Errorf("ParseInt(%q) = %d, %v; want %d, %v", tt.in, n, ok, tt.n, tt.ok)
		}
	}
}

// protocolErrors are the texts Redis 7.0 replies with before closing a
// connection for a malformed request; "expected '$'" is followed by the byte.
var protocolErrors = []string{
	"ERR Protocol error: too big inline request",
	"ERR Protocol error: unbalanced quotes in request",
	"ERR Protocol error: invalid multibulk length",
	"ERR Protocol error: unauthenticated multibulk length",
	"ERR Protocol error: too big mbulk count string",
	"ERR Protocol error: too big bulk count string",
	"ERR Protocol error: invalid bulk length",
	"ERR Protocol error: unauthenticated bulk length",
}

func isRedisProtocolError(msg string) bool {
	for _, e := range protocolErrors {
		if msg == e {
			return true
		}
	}
	return len(msg) == len("ERR Protocol error: expected '$', got 'x'") &&
		strings.HasPrefix(msg, "ERR Protocol error: expected '$', got '") && strings.HasSuffix(msg, "'")
}

// FuzzRequestReader checks that no input panics the parser, that the result
// does not depend on how the input is split into reads, that every error
// is one of Redis's texts, and (in feed) that memory follows the bytes
// received rather than the lengths declared.
func FuzzRequestReader(f *testing.F) {
	seeds := []string{
		"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
		"PING\r\nSET \"a\\x00\" 'b c'\r\n",
		"*0\r\n*-1\r\n\r\n",
		"*1\r\n$-1\r\n",
		"*1\r\n:1\r\n",
		"*3\r\n$3\r\nSET\r\n$1\r\na\r\n$100\r\nshort",
		"*2147483647\r\n$1\r\na\r\n",
		"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\n",
		"ECHO \"unterminated\r\n",
		"ECHO a\x00b\r\n",
		"*11\r\n",
		"*1\r\n$16385\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s), uint8(0), true)
		f.Add([]byte(s), uint8(3), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8, auth bool) {
		whole := feed(t, data, 0, auth, 1<<16)
		split := feed(t, data, int(chunk), auth, 1<<16)
		// Past MaxInlineSize, whether a line is too big depends on how much
		// of it one read brought, in Redis too.
		if len(data) <= MaxInlineSize && whole.String() != split.String() {
			t.Fatalf("result depends on reads of %d bytes:\n whole %s\n split %s", chunk, whole, split)
		}
		if whole.err != "" && !isRedisProtocolError(whole.err) {
			t.Fatalf("error %q is not one of Redis's protocol errors", whole.err)
		}
	})
}

// FuzzSplitArgs checks SplitArgs never panics and that quoting its output
// the way redis-cli does gives back the same arguments.
func FuzzSplitArgs(f *testing.F) {
	for _, s := range []string{`a b`, `"a\x41\n" 'b\'c'`, `"x`, `"\\"`, "a\x00b", `"a"b`, `'''`, "\t\v\f"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		args, ok := SplitArgs(line, nil)
		if !ok {
			return
		}
		var requoted []byte
		for _, a := range args {
			requoted = appendQuoted(requoted, a)
			requoted = append(requoted, ' ')
		}
		again, ok := SplitArgs(requoted, nil)
		if !ok || len(again) != len(args) {
			t.Fatalf("SplitArgs(%q) = %q, but its quoted form %q splits to %q, %v", line, args, requoted, again, ok)
		}
		for i := range args {
			if !bytes.Equal(args[i], again[i]) {
				t.Fatalf("argument %d: %q became %q through %q", i, args[i], again[i], requoted)
			}
		}
	})
}

// appendQuoted quotes b as redis-cli's sdscatrepr does.
func appendQuoted(dst, b []byte) []byte {
	dst = append(dst, '"')
	for _, c := range b {
		switch {
		case c == '\\' || c == '"':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '\r':
			dst = append(dst, `\r`...)
		case c == '\t':
			dst = append(dst, `\t`...)
		case c == '\a':
			dst = append(dst, `\a`...)
		case c == '\b':
			dst = append(dst, `\b`...)
		case c < ' ' || c > '~':
			dst = append(dst, `\x`...)
			dst = append(dst, "0123456789abcdef"[c>>4], "0123456789abcdef"[c&15])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}
