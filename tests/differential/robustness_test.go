package differential

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
)

// Clients that declare huge bulk lengths and send nothing more cost the
// server what they sent, not what they declared.
func TestHostileDeclaredLengths(t *testing.T) {
	const clients = 8
	const declared = 400 << 20 // under the default proto-max-bulk-len
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var conns []*conn
	defer func() {
		for _, c := range conns {
			c.close()
		}
	}()
	for i := 0; i < clients; i++ {
		c, err := dial(env.structdAddr)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		// The ECHO reply shows the server has read and parsed the request
		// up to the huge header, which comes in the same write.
		req := fmt.Sprintf("*2\r\n$4\r\nECHO\r\n$2\r\n%02d\r\n*2\r\n$3\r\nSET\r\n$%d\r\n", i, declared)
		c.nc.SetDeadline(time.Now().Add(replyTimeout))
		if _, err := c.nc.Write([]byte(req)); err != nil {
			t.Fatal(err)
		}
		if v, err := c.read(); err != nil || string(v.Str) != fmt.Sprintf("%02d", i) {
			t.Fatalf("client %d: ECHO answered %s, %v", i, v, err)
		}
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("%d clients declaring %d MB each made the process allocate %d MB", clients, declared>>20, grew>>20)
	}
	good, err := dial(env.structdAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.close()
	if v, err := good.doStrings("PING"); err != nil || string(v.Str) != "PONG" {
		t.Fatalf("PING beside the hostile clients: %s, %v", v, err)
	}
}

// hostileInputs are malformed or abusive requests; each makes a server
// close the connection or leaves it waiting.
var hostileInputs = [][]byte{
	[]byte("*x\r\n"),
	[]byte("*1\r\n$-1\r\n"),
	[]byte("*1\r\n:1\r\n"),
	[]byte("PING \"unbalanced\r\n"),
	[]byte("*2147483647\r\n$1\r\na\r\n"),
	[]byte("*1\r\n$536870912\r\nabc"),
	[]byte("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nshort"),
	[]byte("ECHO a\x00b\r\n"),
	[]byte("\xff\xfe\xfd\r\n\x00\x01"),
	[]byte("*1\r\n$" + string(make([]byte, 70000))),
}

// Many malformed clients at once do not change what a well-behaved client
// sees: every one of its replies stays correct.
func TestHostileClientsBesideAGoodOne(t *testing.T) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 16; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := net.DialTimeout("tcp", env.structdAddr, time.Second)
				if err != nil {
					continue
				}
				in := hostileInputs[rng.IntN(len(hostileInputs))]
				nc.SetDeadline(time.Now().Add(200 * time.Millisecond))
				nc.Write(in)
				if rng.IntN(2) == 0 {
					io.Copy(io.Discard, nc) // read until the server closes (or the deadline)
				}
				nc.Close()
			}
		}(w)
	}
	defer func() { close(stop); wg.Wait() }()

	good, err := dial(env.structdAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer good.close()
	key := "robustness:counter"
	if _, err := good.doStrings("DEL", key); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 2000; i++ {
		v, err := good.doStrings("INCR", key)
		if err != nil || v.Kind != resp.KindInt || v.Int != int64(i) {
			t.Fatalf("INCR #%d beside hostile clients: %s, %v", i, v, err)
		}
		val := strconv.Itoa(i) + "\x00\r\n"
		if v, err := good.doStrings("SET", "robustness:v", val); err != nil || string(v.Str) != "OK" {
			t.Fatalf("SET #%d: %s, %v", i, v, err)
		}
		if v, err := good.doStrings("GET", "robustness:v"); err != nil || string(v.Str) != val {
			t.Fatalf("GET #%d: %s, %v", i, v, err)
		}
	}
}

// A pipeline of many commands in one write gets every reply, in order,
// however the server splits its reads.
func TestLargePipeline(t *testing.T) {
	const n = 20000
	addrs := []string{env.structdAddr}
	if env.redisAddr != "" {
		addrs = append(addrs, env.redisAddr) // the test's own check
	}
	for _, addr := range addrs {
		c, err := dial(addr)
		if err != nil {
			t.Fatal(err)
		}
		var req []byte
		for i := 0; i < n; i++ {
			req = fmt.Appendf(req, "*2\r\n$4\r\nECHO\r\n$%d\r\n%d\r\n", len(strconv.Itoa(i)), i)
		}
		go c.nc.Write(req) // replies are read concurrently, so neither side blocks
		br := bufio.NewReader(c.nc)
		c.nc.SetDeadline(time.Now().Add(30 * time.Second))
		for i := 0; i < n; i++ {
			v, err := resp.ReadReply(br)
			if err != nil || string(v.Str) != strconv.Itoa(i) {
				t.Fatalf("%s: reply %d = %s, %v", addr, i, v, err)
			}
		}
		c.close()
	}
}
