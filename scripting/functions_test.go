package scripting_test

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/structd/structd/internal/redisproc"
	"github.com/structd/structd/internal/resp"
)

// raw sends a command and returns its bulk string reply as it is.
func (c *client) raw(args ...string) string {
	c.t.Helper()
	b := fmt.Appendf(nil, "*%d\r\n", len(args))
	for _, a := range args {
		b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatal(err)
	}
	v, err := resp.ReadReply(c.br)
	if err != nil || v.Kind != resp.KindBulk {
		c.t.Fatalf("%q: %v %v", args, v, err)
	}
	return string(v.Str)
}

const restoredLib = "#!lua name=restored\nredis.register_function('rf', function(keys, args) return 'restored ' .. keys[1] .. ' ' .. args[1] end)"

// TestFunctionDumpRestoresIntoRedis checks StructD's FUNCTION DUMP payload
// is Redis's format: redis-server 7.0 restores it, and StructD restores
// redis-server's dump (compressed or not) of the same library.
func TestFunctionDumpRestoresIntoRedis(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server is not on PATH")
	}
	rp, err := redisproc.Start("redis-server", t.TempDir(), "--save", "", "--appendonly", "no")
	if err != nil {
		t.Fatal(err)
	}
	defer rp.Stop()
	nc, err := net.Dial("tcp", rp.Addr)
	if err != nil {
		t.Fatal(err)
	}
	redis := &client{t: t, nc: nc, br: bufio.NewReader(nc)}
	defer nc.Close()

	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	sd := dial(t, s)
	want := `"restored k a"`

	sd.expect(`"restored"`, "FUNCTION", "LOAD", restoredLib)
	sd.expect(`"other"`, "FUNCTION", "LOAD", "#!lua name=other\nredis.register_function('of', function() return 2 end)")
	dump := sd.raw("FUNCTION", "DUMP")
	redis.expect(`(simple) "OK"`, "FUNCTION", "RESTORE", dump)
	redis.expect(want, "FCALL", "rf", "1", "k", "a")
	redis.expect("(integer) 2", "FCALL", "of", "0")

	for _, compression := range []string{"yes", "no"} {
		redis.expect(`(simple) "OK"`, "CONFIG", "SET", "rdbcompression", compression)
		dump := redis.raw("FUNCTION", "DUMP")
		sd.expect(`(simple) "OK"`, "FUNCTION", "FLUSH")
		sd.expect(`(simple) "OK"`, "FUNCTION", "RESTORE", dump)
		sd.expect(want, "FCALL", "rf", "1", "k", "a")
		sd.expect("(integer) 2", "FCALL", "of", "0")
	}
	// A payload cut or changed anywhere is refused whole.
	bad := []byte(dump)
	bad[5] ^= 1
	for _, p := range []string{string(bad), dump[:len(dump)-1], dump[1:]} {
		redis.expect(`(error) "ERR DUMP payload version or checksum are wrong"`, "FUNCTION", "RESTORE", p)
		sd.expect(`(error) "ERR DUMP payload version or checksum are wrong"`, "FUNCTION", "RESTORE", p)
	}
}

// TestFunctionLoadTimeout checks a library whose code runs forever is
// stopped after the load timeout, and the server goes on.
func TestFunctionLoadTimeout(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	c.expect(`(error) "ERR Error registering functions: ERR FUNCTION LOAD timeout"`,
		"FUNCTION", "LOAD", "#!lua name=spin\nredis.register_function('f', function() return 1 end)\nwhile true do end")
	c.expect(`(empty array)`, "FUNCTION", "LIST")
	c.expect(`"lib"`, "FUNCTION", "LOAD", "#!lua name=lib\nredis.register_function('f', function() return 1 end)")
	c.expect("(integer) 1", "FCALL", "f", "0")
}

// TestFunctionsApartFromScripts checks functions and scripts do not share
// a Lua state: SCRIPT FLUSH keeps the functions and their upvalues, a
// library's load sees only its API, and a function neither KEYS nor CALL.
func TestFunctionsApartFromScripts(t *testing.T) {
	s := startServer(t, t.TempDir(), "appendonly no", `save ""`)
	defer s.Close()
	c := dial(t, s)
	c.expect(`"counter"`, "FUNCTION", "LOAD", "#!lua name=counter\nlocal n = 0\n"+
		"redis.register_function('bump', function() n = n + 1 return n end)\n"+
		"redis.register_function('globals', function() return {type(redis.call), type(cjson), type(rawget(_G, 'KEYS')), type(rawget(_G, 'CALL'))} end)")
	c.expect("(integer) 1", "FCALL", "bump", "0")
	c.expect(`(simple) "OK"`, "SCRIPT", "FLUSH")
	c.expect("(integer) 2", "FCALL", "bump", "0")
	c.expect("(array of 4)\n1) \"function\"\n2) \"table\"\n3) \"nil\"\n4) \"nil\"", "FCALL", "globals", "0")
	got := c.do("FUNCTION", "LOAD", "#!lua name=peek\nlocal t = cjson\nredis.register_function('f', function() return 1 end)")
	if !strings.Contains(got, "Script attempted to access nonexistent global variable 'cjson'") {
		t.Errorf("cjson at load: %s", got)
	}
	c.expect(`(simple) "OK"`, "FUNCTION", "FLUSH")
	c.expect(`(error) "ERR Function not found"`, "FCALL", "bump", "0")
}
