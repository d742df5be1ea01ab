package resp

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readOne(t *testing.T, wire string) Value {
	t.Helper()
	br := bufio.NewReaderSize(strings.NewReader(wire), 16)
	v, err := ReadReply(br)
	if err != nil {
		t.Fatalf("ReadReply(%q): %v", wire, err)
	}
	if rest, _ := io.ReadAll(br); len(rest) != 0 {
		t.Fatalf("ReadReply(%q) left %q unread", wire, rest)
	}
	return v
}

// Every reply the Writer produces reads back with its RESP type, and
// encodes back to the same bytes.
func TestReadReplyWriterRoundTrip(t *testing.T) {
	for _, proto := range []int{2, 3} {
		w := Writer{Proto: proto}
		w.Simple("OK")
		w.Error("ERR bad\r\nthing")
		w.Int(-42)
		w.Bulk([]byte("a\x00\r\nb"))
		w.Bulk(nil)
		w.Null()
		w.NullArray()
		w.Map(1)
		w.BulkString("k")
		w.Double(1.5)
		w.Set(2)
		w.Bool(true)
		w.Bool(false)
		w.Push(1)
		w.Verbatim("# Server\r\nredis_version:7.0.15\r\n")
		w.Array(0)
		w.Double(-1.0 / 3)

		want := []string{
			`(simple) "OK"`, `(error) "ERR bad  thing"`, "(integer) -42", `"a\x00\r\nb"`, `""`,
			map[int]string{2: "(nil bulk)", 3: "(null)"}[proto],
			map[int]string{2: "(nil array)", 3: "(null)"}[proto],
			map[int]string{2: "(array of 2)\n1) \"k\"\n2) \"1.5\"", 3: "(map of 1)\n1# \"k\" => (double) \"1.5\""}[proto],
			map[int]string{2: "(array of 2)\n1) (integer) 1\n2) (integer) 0", 3: "(set of 2)\n1) (bool) true\n2) (bool) false"}[proto],
			map[int]string{2: "(array of 1)\n1) \"# Server\\r\\nredis_version:7.0.15\\r\\n\"",
				3: "(push of 1)\n1) (verbatim txt) \"# Server\\r\\nredis_version:7.0.15\\r\\n\""}[proto],
			"(empty array)",
			map[int]string{2: `"-0.33333333333333331"`, 3: `(double) "-0.33333333333333331"`}[proto],
		}
		br := bufio.NewReader(bytes.NewReader(w.Buf))
		var reencoded []byte
		for i, s := range want {
			v, err := ReadReply(br)
			if err != nil {
				t.Fatalf("RESP%d reply %d: %v", proto, i, err)
			}
			if v.String() != s {
				t.Errorf("RESP%d reply %d:\n got  %s\n want %s", proto, i, v, s)
			}
			reencoded = v.AppendRESP(reencoded)
		}
		if !bytes.Equal(reencoded, w.Buf) {
			t.Errorf("RESP%d re-encoding differs:\n got  %q\n want %q", proto, reencoded, w.Buf)
		}
	}
}

func TestReadReplyTypes(t *testing.T) {
	tests := []struct{ wire, want string }{
		{"(12345678901234567890123\r\n", `(big number) "12345678901234567890123"`},
		{",inf\r\n", `(double) "inf"`},
		{",-inf\r\n", `(double) "-inf"`},
		{"!10\r\nERR a\r\nb c\r\n", `(blob error) "ERR a\r\nb c"`},
		{"=7\r\nmkd:a b\r\n", `(verbatim mkd) "a b"`},
		{"|1\r\n+key\r\n:1\r\n+OK\r\n", "(attributes) (map of 1)\n1# (simple) \"key\" => (integer) 1\n(simple) \"OK\""},
		{"*2\r\n*1\r\n:1\r\n%0\r\n", "(array of 2)\n1) (array of 1)\n   1) (integer) 1\n2) (empty map)"},
		{"~0\r\n", "(empty set)"},
		{">2\r\n$7\r\nmessage\r\n_\r\n", "(push of 2)\n1) \"message\"\n2) (null)"},
	}
	for _, tt := range tests {
		v := readOne(t, tt.wire)
		if v.String() != tt.want {
			t.Errorf("ReadReply(%q):\n got  %s\n want %s", tt.wire, v, tt.want)
		}
		if got := string(v.AppendRESP(nil)); got != tt.wire {
			t.Errorf("AppendRESP of %q = %q", tt.wire, got)
		}
	}
}

func TestReadReplyMalformed(t *testing.T) {
	for _, wire := range []string{
		"", "\r\n", "OK\r\n", "+OK\n", ":1.5\r\n", ":\r\n", "$-2\r\n", "$3\r\nab\r\n", "$2\r\nabcd",
		"*-2\r\n", "%-1\r\n", "*2\r\n:1\r\n", "#x\r\n", "_x\r\n", ",abc\r\n", "(1a\r\n",
		"=3\r\ntxt\r\n", "$1\r\na", "?\r\n", "!-1\r\n",
	} {
		br := bufio.NewReader(strings.NewReader(wire))
		if v, err := ReadReply(br); err == nil {
			t.Errorf("ReadReply(%q) = %s, want an error", wire, v)
		}
	}
}

// A peer that declares huge lengths and sends little costs what it sent.
func TestReadReplyDeclaredLengths(t *testing.T) {
	for _, wire := range []string{"$4000000000\r\nabc", "*2147483647\r\n:1\r\n", "%1000000000\r\n"} {
		br := bufio.NewReader(strings.NewReader(wire))
		if _, err := ReadReply(br); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("ReadReply(%q) error = %v, want unexpected EOF", wire, err)
		}
	}
	deep := strings.Repeat("*1\r\n", MaxReplyDepth+2) + ":1\r\n"
	if _, err := ReadReply(bufio.NewReader(strings.NewReader(deep))); !errors.Is(err, ErrReplyTooLarge) {
		t.Errorf("nesting beyond MaxReplyDepth: error = %v, want ErrReplyTooLarge", err)
	}
}

func TestValueEqual(t *testing.T) {
	a := readOne(t, "*2\r\n$1\r\na\r\n:1\r\n")
	if !a.Equal(readOne(t, "*2\r\n$1\r\na\r\n:1\r\n")) {
		t.Error("identical arrays differ")
	}
	for _, other := range []string{"*2\r\n+a\r\n:1\r\n", "~2\r\n$1\r\na\r\n:1\r\n", "*1\r\n$1\r\na\r\n", "*2\r\n$1\r\na\r\n:2\r\n"} {
		if a.Equal(readOne(t, other)) {
			t.Errorf("%q equals %q", "*2\r\n$1\r\na\r\n:1\r\n", other)
		}
	}
	if readOne(t, "$-1\r\n").Equal(readOne(t, "*-1\r\n")) || readOne(t, "$-1\r\n").Equal(readOne(t, "_\r\n")) {
		t.Error("RESP2 null bulk, null array and RESP3 null must differ")
	}
}

// FuzzReadReply checks that ReadReply never panics and that whatever it
// accepts encodes back to a reply that reads as the same value.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"+OK\r\n", "-ERR x\r\n", ":1\r\n", "$1\r\na\r\n", "$-1\r\n", "*-1\r\n", "_\r\n",
		"*2\r\n$1\r\na\r\n%1\r\n:1\r\n#t\r\n", ",1.5\r\n", "(123\r\n", "=7\r\ntxt:abc\r\n",
		"|1\r\n+a\r\n+b\r\n~1\r\n>0\r\n", "!3\r\nERR\r\n", "$5000000000\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ReadReply(bufio.NewReader(bytes.NewReader(data)))
		if err != nil {
			return
		}
		wire := v.AppendRESP(nil)
		again, err := ReadReply(bufio.NewReader(bytes.NewReader(wire)))
		if err != nil || !again.Equal(v) {
			t.Fatalf("%q read as %s, encoded as %q, read back as %s (%v)", data, v, wire, again, err)
		}
	})
}
