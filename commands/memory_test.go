package commands

import (
	"strconv"
	"testing"
	"unsafe"

	"github.com/structd/structd/memtier"
)

// MEMORY USAGE attributes to a key its bytes, its map entry, its Object and
// its payload; a collection's figure grows with its elements; a missing key
// is nil; the lookup counts no keyspace hit or miss, as in Redis.
func TestMemoryUsage(t *testing.T) {
	kt := newKeyTester(t)
	kt.expect("$-1\r\n", "memory", "usage", "missing")

	kt.expect("+OK\r\n", "set", "greeting", "hello world")
	o := kt.ks.DB(0).Peek([]byte("greeting"))
	want := len("greeting") + keyEntryBytes + int(unsafe.Sizeof(memtier.Object{})) + cap(o.Bytes())
	kt.expect(":"+strconv.Itoa(want)+"\r\n", "memory", "usage", "greeting")
	kt.expect(":"+strconv.Itoa(want)+"\r\n", "memory", "usage", "greeting", "SAMPLES", "0", "samples", "7")

	fillHash(kt, "small", 5)
	fillHash(kt, "large", 500)
	small := kt.reply("memory", "usage", "small").Int
	large := kt.reply("memory", "usage", "large").Int
	if small <= int64(want) || large < 500*int64(len("f499v499")) || large <= small {
		t.Errorf("MEMORY USAGE of a string %d, a 5-field hash %d, a 500-field hash %d: want growing figures", want, small, large)
	}

	hits, misses := kt.ks.Stats.KeyspaceHits.Load(), kt.ks.Stats.KeyspaceMisses.Load()
	kt.do("memory", "usage", "large")
	kt.do("memory", "usage", "missing")
	if kt.ks.Stats.KeyspaceHits.Load() != hits || kt.ks.Stats.KeyspaceMisses.Load() != misses {
		t.Error("MEMORY USAGE counted keyspace hits or misses")
	}
}

// SAMPLES is validated as Redis 7.0 does, before the key is looked up.
func TestMemoryUsageSamplesErrors(t *testing.T) {
	kt := newKeyTester(t)
	for _, args := range [][]string{
		{"memory", "usage", "k", "samples"},
		{"memory", "usage", "k", "samples", "-1"},
		{"memory", "usage", "k", "foo", "1"},
		{"memory", "usage", "k", "samples", "5", "extra"},
	} {
		kt.expect("-"+ErrSyntax+"\r\n", args...)
	}
	kt.expect("-"+ErrNotInteger+"\r\n", "memory", "usage", "k", "samples", "x")
}

// clientsServer is a Server whose only answer is its client list: MEMORY
// STATS calls nothing else.
type clientsServer struct {
	Server
	clients []ClientInfo
}

func (s clientsServer) Clients() []ClientInfo { return s.clients }

// MEMORY STATS is a map of Redis's field names whose figures agree with
// each other and with the keyspace.
func TestMemoryStats(t *testing.T) {
	kt := newKeyTester(t)
	for i := 0; i < 100; i++ {
		kt.do("set", "k"+strconv.Itoa(i), "v")
	}
	kt.ctx.Session.DB = 3
	kt.do("set", "in-db-3", "v")
	kt.ctx.Server = clientsServer{clients: []ClientInfo{{TotMem: 1000}, {TotMem: 24}}}
	kt.expect("+OK\r\n", "memory", "purge")

	v := kt.reply("memory", "stats")
	stats := map[string]int64{}
	for i := 0; i+1 < len(v.Elems); i += 2 {
		stats[string(v.Elems[i].Str)] = v.Elems[i+1].Int
	}
	for _, name := range []string{"peak.allocated", "total.allocated", "startup.allocated", "dataset.bytes",
		"allocator.active", "allocator.resident", "peak.percentage", "fragmentation"} {
		if _, ok := stats[name]; !ok {
			t.Errorf("MEMORY STATS has no %s: %q", name, strs(v))
		}
	}
	if stats["keys.count"] != 101 {
		t.Errorf("keys.count = %d, want 101 (every database)", stats["keys.count"])
	}
	if stats["clients.normal"] != 1024 {
		t.Errorf("clients.normal = %d, want the sum of the clients' tot-mem, 1024", stats["clients.normal"])
	}
	if stats["overhead.total"] != stats["startup.allocated"]+1024 {
		t.Errorf("overhead.total = %d, want startup.allocated %d + clients 1024", stats["overhead.total"], stats["startup.allocated"])
	}
	if stats["peak.allocated"] < stats["total.allocated"] {
		t.Errorf("peak.allocated %d below total.allocated %d", stats["peak.allocated"], stats["total.allocated"])
	}
	if got := kt.reply("memory", "doctor"); len(got.Str) == 0 {
		t.Error("MEMORY DOCTOR replied no text")
	}
}
