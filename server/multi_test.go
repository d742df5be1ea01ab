package server

import (
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// Transactions across real connections: WATCH sees other clients' writes,
// expiry and flushes; EXEC is atomic with respect to other clients.

// startServerClock is startServer with a manual keyspace clock.
func startServerClock(t *testing.T, clock memtier.Clock) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.Port = 0
	cfg.Dir = t.TempDir()
	s, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// execTx runs MULTI, the commands and EXEC on c and returns EXEC's reply.
func execTx(t *testing.T, c *conn, cmds ...[]string) resp.Value {
	t.Helper()
	return runTx(t, c, "MULTI", cmds...)
}

// runTx is execTx with multi (MULTI or TXN.MULTI) opening the transaction.
func runTx(t *testing.T, c *conn, multi string, cmds ...[]string) resp.Value {
	t.Helper()
	c.expect("+OK", multi)
	for _, cmd := range cmds {
		c.expect("+QUEUED", cmd...)
	}
	c.send("EXEC")
	return c.read()
}

func isNullArray(v resp.Value) bool {
	return (v.Kind == resp.KindArray && v.Null) || v.Kind == resp.KindNull
}

func TestWatchOtherClient(t *testing.T) {
	s := startServer(t)
	a, b := dial(t, s), dial(t, s)

	a.expect("+OK", "SET", "k", "1")
	a.expect("+OK", "WATCH", "k")
	b.expect("+OK", "SET", "k", "2")
	if v := execTx(t, a, []string{"SET", "k", "mine"}); !isNullArray(v) {
		t.Fatalf("EXEC after another client's write: got %s, want a null array", v)
	}
	a.expect("$2", "GET", "k")

	// A write to another key leaves the transaction alone.
	a.expect("+OK", "WATCH", "k")
	b.expect("+OK", "SET", "other", "x")
	if v := execTx(t, a, []string{"SET", "k", "mine"}); v.Kind != resp.KindArray || len(v.Elems) != 1 {
		t.Fatalf("EXEC after an unrelated write: got %s", v)
	}
	a.expect("$mine", "GET", "k")

	// The same key name in another database is another key.
	a.expect("+OK", "WATCH", "k")
	b.expect("+OK", "SELECT", "1")
	b.expect("+OK", "SET", "k", "elsewhere")
	if v := execTx(t, a, []string{"GET", "k"}); v.Kind != resp.KindArray || len(v.Elems) != 1 {
		t.Fatalf("EXEC after a write in another db: got %s", v)
	}

	// FLUSHALL and SWAPDB by another client touch watched keys that exist.
	a.expect("+OK", "WATCH", "k")
	b.expect("+OK", "FLUSHALL")
	if v := execTx(t, a, []string{"PING"}); !isNullArray(v) {
		t.Fatalf("EXEC after FLUSHALL: got %s", v)
	}
	b.expect("+OK", "SET", "k", "db1") // b is on db 1
	a.expect("+OK", "WATCH", "k")
	b.expect("+OK", "SWAPDB", "0", "1")
	if v := execTx(t, a, []string{"PING"}); !isNullArray(v) {
		t.Fatalf("EXEC after SWAPDB: got %s", v)
	}
}

// TestWatchDisconnectReleases checks a departing client's watches leave
// the registry: later writes see nobody watching.
func TestWatchDisconnectReleases(t *testing.T) {
	s := startServer(t)
	for i := range 20 {
		c := dial(t, s)
		c.expect("+OK", "WATCH", "k"+strconv.Itoa(i), "shared")
		c.nc.Close()
	}
	admin := dial(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for s.ks.WatchedKeys() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d keys still watched after every watcher left", s.ks.WatchedKeys())
		}
		admin.expect("+PONG", "PING")
		time.Sleep(time.Millisecond)
	}
}

func TestWatchExpiry(t *testing.T) {
	clock := memtier.NewManualClock(1_000_000)
	s := startServerClock(t, clock)
	a := dial(t, s)

	// Live at WATCH, expired at EXEC (not reclaimed yet): EXEC fails.
	a.expect("+OK", "SET", "k", "v", "PX", "100")
	a.expect("+OK", "WATCH", "k")
	clock.Advance(200 * time.Millisecond)
	if v := execTx(t, a, []string{"PING"}); !isNullArray(v) {
		t.Fatalf("EXEC after the watched key expired: got %s", v)
	}

	// Live at WATCH, reclaimed by active expiry before EXEC: EXEC fails.
	a.expect("+OK", "SET", "k", "v", "PX", "100")
	a.expect("+OK", "WATCH", "k")
	clock.Advance(200 * time.Millisecond)
	admin := dial(t, s)
	deadline := time.Now().Add(10 * time.Second)
	for admin.do("DBSIZE") != ":0" { // the server cron's active expiry
		if time.Now().After(deadline) {
			t.Fatal("active expiry never reclaimed the key")
		}
		time.Sleep(time.Millisecond)
	}
	if v := execTx(t, a, []string{"PING"}); !isNullArray(v) {
		t.Fatalf("EXEC after the watched key was reclaimed: got %s", v)
	}

	// Already expired at WATCH: its reclamation is no change.
	a.expect("+OK", "SET", "k", "v", "PX", "100")
	clock.Advance(200 * time.Millisecond)
	a.expect("+OK", "WATCH", "k")
	a.expect("(nil)", "GET", "k") // lazy reclamation
	if v := execTx(t, a, []string{"PING"}); v.Kind != resp.KindArray || v.Null || len(v.Elems) != 1 {
		t.Fatalf("EXEC on a key already expired at WATCH: got %s", v)
	}

	// A TTL still in the future at EXEC is no change.
	a.expect("+OK", "SET", "k", "v", "PX", "1000")
	a.expect("+OK", "WATCH", "k")
	clock.Advance(10 * time.Millisecond)
	if v := execTx(t, a, []string{"PING"}); v.Kind != resp.KindArray || v.Null {
		t.Fatalf("EXEC on a live key: got %s", v)
	}
}

// TestWatchRace has clients race check-and-set increments through
// WATCH/MULTI/EXEC: every EXEC that succeeds must have seen the value it
// replaced, so the final count equals the successful transactions.
func TestWatchRace(t *testing.T) {
	s := startServer(t)
	const clients, rounds = 8, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	succeeded := 0
	for range clients {
		c := dial(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range rounds {
				c.send("WATCH", "counter")
				c.read()
				c.send("GET", "counter")
				cur := 0
				if v := c.read(); !v.Null {
					cur, _ = strconv.Atoi(string(v.Str))
				}
				c.send("MULTI")
				c.read()
				c.send("SET", "counter", strconv.Itoa(cur+1))
				c.read()
				c.send("EXEC")
				if v := c.read(); !isNullArray(v) {
					mu.Lock()
					succeeded++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	admin := dial(t, s)
	admin.expect("$"+strconv.Itoa(succeeded), "GET", "counter")
	if succeeded == 0 {
		t.Fatal("no transaction succeeded")
	}
}

// TestExecAtomic runs transactions of consecutive INCRs while other
// clients INCR the same key: the replies inside one EXEC must be
// consecutive, since no other command runs in between.
func TestExecAtomic(t *testing.T) {
	s := startServer(t)
	const incrs = 20
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		c := dial(t, s)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.send("INCR", "n")
				c.read()
			}
		}()
	}
	a := dial(t, s)
	cmds := make([][]string, incrs)
	for i := range cmds {
		cmds[i] = []string{"INCR", "n"}
	}
	for range 100 {
		v := execTx(t, a, cmds...)
		if v.Kind != resp.KindArray || len(v.Elems) != incrs {
			close(stop)
			t.Fatalf("EXEC: got %s", v)
		}
		for i := 1; i < incrs; i++ {
			if v.Elems[i].Int != v.Elems[0].Int+int64(i) {
				close(stop)
				wg.Wait()
				t.Fatalf("another client's INCR ran inside EXEC: %s", v)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// TestExecServesBlockedClients checks a client blocked on a key the
// transaction fills is served after EXEC, seeing the transaction's end
// state, and that BLPOP inside MULTI does not block.
func TestExecServesBlockedClients(t *testing.T) {
	s := startServer(t)
	waiter, a := dial(t, s), dial(t, s)
	waiter.send("BLPOP", "q", "0")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(a.do("INFO", "clients"), "blocked_clients:1") {
		if time.Now().After(deadline) {
			t.Fatal("BLPOP never blocked")
		}
		time.Sleep(time.Millisecond)
	}
	v := execTx(t, a, []string{"RPUSH", "q", "a", "b"}, []string{"LLEN", "q"}, []string{"BLPOP", "empty", "0"})
	if got := strings.Join(leaves(v), " "); got != "2 2" || len(v.Elems) != 3 || !v.Elems[2].Null {
		t.Fatalf("EXEC: got %q, want the pushes, the length before serving and BLPOP's nil", got)
	}
	if got := strings.Join(leaves(waiter.read()), " "); got != "q a" {
		t.Fatalf("blocked client: got %q", got)
	}
	a.expect(":1", "LLEN", "q")
}

// TestExecWaitsOutPauseWrite: CLIENT PAUSE WRITE holds an EXEC whose
// queue writes, not one that only reads.
func TestExecWaitsOutPauseWrite(t *testing.T) {
	s := startServer(t)
	admin, a := dial(t, s), dial(t, s)
	admin.expect("+OK", "CLIENT", "PAUSE", "100000", "WRITE")
	if v := execTx(t, a, []string{"GET", "k"}); v.Kind != resp.KindArray || len(v.Elems) != 1 {
		t.Fatalf("read-only EXEC during PAUSE WRITE: %s", v)
	}
	a.expect("+OK", "MULTI")
	a.expect("+QUEUED", "SET", "k", "v")
	a.send("EXEC")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(admin.do("INFO", "clients"), "blocked_clients:1") {
		if time.Now().After(deadline) {
			t.Fatal("EXEC of a write was not held by the pause")
		}
		time.Sleep(time.Millisecond)
	}
	admin.expect("(nil)", "GET", "k")
	admin.expect("+OK", "CLIENT", "UNPAUSE")
	if v := a.read(); v.Kind != resp.KindArray || len(v.Elems) != 1 {
		t.Fatalf("EXEC after UNPAUSE: %s", v)
	}
	admin.expect("$v", "GET", "k")
}
