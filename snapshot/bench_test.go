package snapshot

import (
	"math/rand/v2"
	"runtime"
	"strconv"
	"testing"

	"github.com/structd/structd/memtier"
)

// BenchmarkFullCheckpoint times a checkpoint of every key of a keyspace
// of 200k strings of 256 bytes, all dirty, and reports what it allocates:
// allocation is what grows the process's memory during a checkpoint (the
// garbage collector lets the heap reach twice the live data before it
// collects), so invariant 5's "buffers only" shows here as bytes per key.
func BenchmarkFullCheckpoint(b *testing.B) {
	const keys = 200_000
	ks, c, log := newTestKeyspace(b)
	value := make([]byte, 256)
	for i := range value {
		value[i] = 'a' + byte(i%26)
	}
	rewriteAll := func() {
		for i := range keys {
			key := strconv.AppendInt([]byte("key:"), int64(i), 10)
			slots := []int{memtier.SlotOf(key)}
			ks.LockSlots(slots)
			ks.PrepareWrite([][]byte{key}, []int{0})
			ks.DB(0).SetString(key, value)
			log.append("")
			ks.UnlockSlots(slots)
		}
	}
	// A concurrent client overwrites random keys during each checkpoint,
	// as the benchmark of issue 4 does: its writes front-run the walker.
	overwrite := func(stop <-chan struct{}, done chan<- int) {
		n := 0
		for rng := rand.New(rand.NewPCG(1, 1)); ; n++ {
			select {
			case <-stop:
				done <- n
				return
			default:
			}
			key := strconv.AppendInt([]byte("key:"), int64(rng.IntN(keys)), 10)
			slots := []int{memtier.SlotOf(key)}
			ks.LockSlots(slots)
			ks.PrepareWrite([][]byte{key}, []int{0})
			ks.DB(0).SetString(key, value)
			ks.UnlockSlots(slots)
		}
	}
	var before, after runtime.MemStats
	var allocated, mallocs uint64
	overwrites := 0
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		rewriteAll()
		runtime.GC()
		runtime.ReadMemStats(&before)
		stop, done := make(chan struct{}), make(chan int)
		go overwrite(stop, done)
		b.StartTimer()
		if _, err := c.Run(); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		runtime.ReadMemStats(&after)
		close(stop)
		overwrites += <-done
		allocated += after.TotalAlloc - before.TotalAlloc
		mallocs += after.Mallocs - before.Mallocs
		b.StartTimer()
	}
	b.ReportMetric(float64(allocated)/float64(b.N)/keys, "alloc-B/key")
	b.ReportMetric(float64(mallocs)/float64(b.N)/keys, "allocs/key")
	b.ReportMetric(float64(overwrites)/float64(b.N), "overwrites/op")
}
