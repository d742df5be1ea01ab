package server

import (
	"strconv"
	"strings"
	"testing"

	"github.com/structd/structd/internal/resp"
)

// slowEntries is SLOWLOG GET -1 as [id, args joined by spaces, addr, name]
// per entry, newest first.
func slowEntries(t *testing.T, c *conn) [][4]string {
	t.Helper()
	c.send("SLOWLOG", "GET", "-1")
	v := c.read()
	if v.Kind != resp.KindArray {
		t.Fatalf("SLOWLOG GET -1: %s", show(v))
	}
	var out [][4]string
	for _, e := range v.Elems {
		if len(e.Elems) != 6 || e.Elems[1].Int <= 0 || e.Elems[2].Int < 0 {
			t.Fatalf("slow log entry %s", show(e))
		}
		var args []string
		for _, a := range e.Elems[3].Elems {
			args = append(args, string(a.Str))
		}
		out = append(out, [4]string{strconv.FormatInt(e.Elems[0].Int, 10), strings.Join(args, " "), string(e.Elems[4].Str), string(e.Elems[5].Str)})
	}
	return out
}

func TestSlowLog(t *testing.T) {
	s := startServer(t, "slowlog-log-slower-than 0", "slowlog-max-len 5")
	c := dial(t, s)
	addr := c.nc.LocalAddr().String()
	c.expect("+OK", "SLOWLOG", "RESET")

	many := []string{"DEL"}
	for i := range 40 {
		many = append(many, strconv.Itoa(i))
	}
	c.do(many...)
	c.expect("+OK", "SET", "big", strings.Repeat("x", 200))
	c.do("AUTH", "secret")
	c.expect("+OK", "CONFIG", "SET", "masterauth", "hidden", "slowlog-max-len", "5")
	c.expect("+OK", "CLIENT", "SETNAME", "named")
	got := slowEntries(t, c)
	want := [][4]string{
		{"5", "CLIENT SETNAME named", addr, "named"},
		{"4", "CONFIG SET masterauth (redacted) slowlog-max-len 5", addr, ""},
		{"3", "AUTH (redacted)", addr, ""},
		{"2", "SET big " + strings.Repeat("x", 128) + "... (72 more bytes)", addr, ""},
		{"1", "DEL 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 ... (10 more arguments)", addr, ""},
	}
	if len(got) != len(want) {
		t.Fatalf("SLOWLOG GET -1: %d entries %v, want %v (slowlog-max-len 5 keeps the newest)", len(got), got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("entry %d: %q, want %q", i, got[i], want[i])
		}
	}
	// The SLOWLOG GET itself was logged after it ran; the oldest went.
	c.expect(":5", "SLOWLOG", "LEN")
	if v := c.do("SLOWLOG", "GET", "1"); !strings.Contains(v, "SLOWLOG") {
		t.Fatalf("SLOWLOG GET 1: %s", v)
	}

	// EXEC is not logged, the commands it ran are; HELLO's password is
	// redacted with its user.
	c.expect("+OK", "SLOWLOG", "RESET")
	c.expect("+OK", "MULTI")
	c.expect("+QUEUED", "SET", "a", "1")
	c.do("EXEC")
	c.send("HELLO", "2", "AUTH", "default", "pw")
	c.read()
	got = slowEntries(t, c)
	if len(got) != 4 || got[0][1] != "HELLO 2 AUTH (redacted) (redacted)" || got[1][1] != "SET a 1" ||
		got[2][1] != "MULTI" || got[3][1] != "SLOWLOG RESET" {
		t.Fatalf("after MULTI/SET/EXEC and HELLO: %v", got)
	}

	// A negative threshold logs nothing; IDs are never reused. The CONFIG
	// SET that turns logging on is logged, as it ends after the change.
	c.expect("+OK", "CONFIG", "SET", "slowlog-log-slower-than", "-1")
	c.expect("+OK", "SLOWLOG", "RESET")
	c.expect("+OK", "SET", "b", "1")
	c.expect(":0", "SLOWLOG", "LEN")
	c.expect("+OK", "CONFIG", "SET", "slowlog-log-slower-than", "0")
	c.expect("+OK", "SET", "c", "1")
	if got := slowEntries(t, c); len(got) != 2 || got[0][0] != "15" || got[0][1] != "SET c 1" ||
		got[1][1] != "CONFIG SET slowlog-log-slower-than 0" {
		t.Fatalf("after re-enabling: %v", got)
	}
	c.expect("-ERR count should be greater than or equal to -1", "SLOWLOG", "GET", "-2")
}
