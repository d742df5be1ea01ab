// Package hotpath measures the per-command cost of a write with persistence
// on, without the network: commands.Exec of SET over redis-benchmark's key
// space (-r 100000) with memtier tracking dirty keys and every effect
// appended to a real AOF, as the server runs it. Run with
//
//	go test -bench . -benchmem ./bench/hotpath
//
// and compare against the same benchmark before a change (benchstat).
package hotpath

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// emptyStore is a disk tier holding nothing: a fresh server's.
type emptyStore struct{}

func (emptyStore) Load(int, []byte) (*memtier.Object, int64, error) { return nil, 0, nil }
func (emptyStore) LoadSlot(int, int, func([]byte, *memtier.Object, int64) bool) error {
	return nil
}
func (emptyStore) Probe(int, []byte) (memtier.Type, int64, bool, error) { return 0, 0, false, nil }
func (emptyStore) SlotKeys(int, int, func([]byte, int64) bool) error    { return nil }
func (emptyStore) SlotCounts(int, func(int, int64, int64) bool) error   { return nil }

// aofLog is the server's EffectLog over an aof.Writer (server/persist.go).
type aofLog struct{ w *aof.Writer }

func (l aofLog) LogEffects(effects []commands.Effect) (aof.Pos, error) {
	if len(effects) == 1 {
		return l.w.Append(effects[0].DB, effects[0].Args)
	}
	return l.w.AppendBatch(effects)
}

const keySpace = 100000 // redis-benchmark -r 100000

// setArgs are SET commands over redis-benchmark's random keys, in random
// order.
func setArgs() [][][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	all := make([][][]byte, 1<<16)
	for i := range all {
		key := fmt.Appendf(nil, "key:%012d", r.IntN(keySpace))
		all[i] = [][]byte{[]byte("SET"), key, []byte("xxx")}
	}
	return all
}

// newCtx returns a connection's Ctx over ks, logging to log if not nil.
func newCtx(ks *memtier.Keyspace, log commands.EffectLog) *commands.Ctx {
	c := &commands.Ctx{W: &resp.Writer{Proto: 2}, Session: &commands.Session{Authenticated: true}, KS: ks}
	if log != nil {
		c.Log = log
	}
	return c
}

// setup returns a keyspace with persistence as mode says: "memory" (no
// tracking, no log), "tracking" (dirty keys, no log), or an appendfsync
// mode (tracking and the AOF in a temporary directory).
func setup(b *testing.B, mode string) (*memtier.Keyspace, commands.EffectLog) {
	ks := memtier.New(16, memtier.NewManualClock(1_700_000_000_000))
	if mode == "memory" {
		return ks, nil
	}
	if err := ks.AttachStore(emptyStore{}); err != nil {
		b.Fatal(err)
	}
	if mode == "tracking" {
		return ks, nil
	}
	sync, ok := aof.ParseSyncMode(mode)
	if !ok {
		b.Fatalf("bad mode %q", mode)
	}
	w, err := aof.Open(aof.Options{Dir: b.TempDir(), Sync: sync})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { w.Close() })
	return ks, aofLog{w}
}

// BenchmarkSet runs SET through Exec on one goroutine, as one connection's
// pipeline runs it, with the replies' log positions collected as the
// connection does (it does not wait for them: see BenchmarkSetParallel).
func BenchmarkSet(b *testing.B) {
	for _, mode := range []string{"memory", "tracking", "everysec", "no"} {
		b.Run(mode, func(b *testing.B) {
			ks, log := setup(b, mode)
			c := newCtx(ks, log)
			cmd := commands.All().Lookup([]byte("set"))
			all := setArgs()
			for _, args := range all { // every key exists, as in a long run
				c.Args = args
				commands.Exec(c, cmd)
			}
			c.W.Reset()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				c.Args = all[i&(len(all)-1)]
				commands.Exec(c, cmd)
				if i++; i&15 == 0 {
					c.W.Reset() // a pipeline of 16, as -P 16
					c.LogPos, c.LogErr = aof.Pos{}, nil
				}
			}
		})
	}
}

// BenchmarkSetParallel is BenchmarkSet from GOMAXPROCS goroutines, each a
// connection, sharing the keyspace and the log (lock contention).
func BenchmarkSetParallel(b *testing.B) {
	for _, mode := range []string{"tracking", "everysec"} {
		b.Run(mode, func(b *testing.B) {
			ks, log := setup(b, mode)
			cmd := commands.All().Lookup([]byte("set"))
			all := setArgs()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				c := newCtx(ks, log)
				i := rand.IntN(len(all))
				for pb.Next() {
					c.Args = all[i&(len(all)-1)]
					commands.Exec(c, cmd)
					if i++; i&15 == 0 {
						c.W.Reset()
						c.LogPos, c.LogErr = aof.Pos{}, nil
					}
				}
			})
		})
	}
}
