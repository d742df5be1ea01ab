package server

import (
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"

	"github.com/structd/structd/commands"
)

// memWatch samples the process's memory while a checkpoint runs, so the
// log can say what a checkpoint really cost in memory: the resident set
// (what the benchmark of issue 4 measures) and, apart, the Go heap's
// objects and the memory the Go runtime holds, which tell a checkpoint's
// own allocations from the garbage collector's pacing.
//
// It also holds the process to invariant 5's memory target (a checkpoint
// costs buffers only, < 1% of the data). A checkpoint allocates almost
// nothing per key, but clients keep writing while it runs, and the
// garbage collector, left to GOGC, lets their garbage grow the heap up to
// the live data again before it collects: the process would grow by far
// more than the checkpoint's buffers. So while the checkpoint runs, the
// heap's objects are limited (through debug.SetMemoryLimit) to what they
// were when the checkpoint started, plus checkpointMemoryBudget, plus
// however much the live data grew since (new keys are data, not
// overhead). The
// collector then runs more often instead of growing the process; its CPU
// under a limit is capped by the runtime (50%).
//
// The live data's growth is known only at the end of each collection, so
// keys added since the last one are counted at the dataset's average size
// per key: without that, clients adding keys made the collector run every
// checkpointMemoryBudget of new data, each time marking the whole heap.
//
// The runtime keeps runtimeLimitHeadroom percent of a limit from the heap
// (its pacing margin), which on a heap of a few hundred MiB is most of
// the budget: the collector then ran through every checkpoint of the SET
// benchmark, and its assists held clients to a few thousand commands per
// 250 ms window (bench/persistence/README.md, runs 15-17). The limit adds
// that margin back, but never more than the budget: on heaps over about
// 500 MiB the margin outgrows what is added, and the collector runs
// through the checkpoint, which keeps the process inside the target
// there (memory first, as StructD promises).
type memWatch struct {
	stop chan struct{}
	done sync.WaitGroup

	base, peak memSample
	limits     bool // this watch owns the memory limit
}

// runtimeLimitHeadroom is the percentage of a memory limit the runtime
// keeps from the heap's goal (memoryLimitHeapGoalHeadroomPercent in
// runtime/mgcpacer.go).
const runtimeLimitHeadroom = 3

// checkpointMemoryBudget is how far the heap may grow beyond the live
// data's growth while a checkpoint runs: 1/1000 of what the Go runtime
// held at the start, at least 16 MiB, which covers what a checkpoint
// allocates for its bookkeeping (per-slot tables: an incremental
// checkpoint must not pay for a collection of the whole heap). The heap overshoots it by what clients allocate while a
// collection runs; the resident set grows by more than the heap where
// pages the runtime mapped but never touched get used. Measured with 1M
// keys of 256 bytes under unpaced overwrites (INFO persistence
// checkpoint_peak_extra_memory): 1/400 and 8 MiB gave 9-12 MB, this
// 0.7-5 MB.
func checkpointMemoryBudget(held uint64) uint64 { return max(held/1000, 16<<20) }

// memSample is one reading; a figure the platform cannot give is 0.
type memSample struct {
	rss       uint64 // VmRSS
	heap      uint64 // bytes in live and not yet swept heap objects
	goRuntime uint64 // every byte the Go runtime maps, less what it returned
	live      uint64 // the heap's live bytes at the end of the last cycle
	gcCycles  uint64 // collections completed
}

var memMetrics = []string{
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/released:bytes",
	"/gc/heap/live:bytes",
	"/gc/cycles/total:gc-cycles",
}

func readMem(samples []metrics.Sample) memSample {
	metrics.Read(samples)
	return memSample{
		rss:       commands.ProcessRSS(os.Getpid()),
		heap:      samples[0].Value.Uint64(),
		goRuntime: samples[1].Value.Uint64() - samples[2].Value.Uint64(),
		live:      samples[3].Value.Uint64(),
		gcCycles:  samples[4].Value.Uint64(),
	}
}

// memoryLimit is the process-wide memory limit's owner: the first
// checkpoint running (tests run several servers in one process) sets and
// adjusts it, and puts back the setting it found.
var memoryLimit struct {
	sync.Mutex
	owned bool
}

// minKeysForEstimate is the fewest keys whose average size estimates the
// size of new keys: below it the heap's fixed part outweighs the data.
const minKeysForEstimate = 10000

// watchMemory starts sampling every period until Stop, and bounds the Go
// runtime's memory as the type's comment says, unless another watch in
// the process already does. keys is the keyspace's key count.
func watchMemory(period time.Duration, keys func() int64) *memWatch {
	m := &memWatch{stop: make(chan struct{})}
	samples := make([]metrics.Sample, len(memMetrics))
	for i, name := range memMetrics {
		samples[i].Name = name
	}
	m.base = readMem(samples)
	m.peak = m.base
	var saved int64
	memoryLimit.Lock()
	if !memoryLimit.owned {
		memoryLimit.owned, m.limits = true, true
	}
	memoryLimit.Unlock()
	budget := checkpointMemoryBudget(m.base.goRuntime)
	live := newLiveGrowth(m.base, keys())
	setLimit := func(s memSample) {
		// The limit counts all the runtime's memory, but what grows the
		// process is the heap's objects moving into pages never touched
		// (the runtime maps ahead of use): bound the objects, and leave
		// the rest of the runtime's memory as it is now.
		objects := m.base.heap + budget + live.estimate(s, keys())
		objects += min(objects*runtimeLimitHeadroom/(100-runtimeLimitHeadroom), budget)
		other := s.goRuntime - min(s.goRuntime, s.heap)
		debug.SetMemoryLimit(int64(min(other+objects, math.MaxInt64)))
	}
	if m.limits {
		saved = debug.SetMemoryLimit(-1)
		setLimit(m.base)
	}
	m.done.Add(1)
	go func() {
		defer m.done.Done()
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-m.stop:
				if m.limits {
					debug.SetMemoryLimit(saved)
					memoryLimit.Lock()
					memoryLimit.owned = false
					memoryLimit.Unlock()
				}
				return
			case <-tick.C:
			}
			s := readMem(samples)
			m.peak.rss = max(m.peak.rss, s.rss)
			m.peak.heap = max(m.peak.heap, s.heap)
			m.peak.goRuntime = max(m.peak.goRuntime, s.goRuntime)
			if m.limits {
				setLimit(s)
			}
		}
	}()
	return m
}

// liveGrowth estimates how much the live data grew since a checkpoint
// started: as measured by the last collection, plus the keys added since
// at the average size per key at the start.
type liveGrowth struct {
	base     uint64 // live bytes at the start
	perKey   uint64 // 0 for a keyspace too small to say
	keysAtGC int64  // the key count when the last collection was seen to end
	cycles   uint64 // collections ended by then
}

func newLiveGrowth(base memSample, keys int64) *liveGrowth {
	g := &liveGrowth{base: base.live, keysAtGC: keys, cycles: base.gcCycles}
	if keys >= minKeysForEstimate {
		g.perKey = base.live / uint64(keys)
	}
	return g
}

// estimate is the growth as of sample s, with keys keys.
func (g *liveGrowth) estimate(s memSample, keys int64) uint64 {
	if s.gcCycles != g.cycles {
		g.keysAtGC, g.cycles = keys, s.gcCycles
	}
	growth := s.live - min(s.live, g.base)
	if keys > g.keysAtGC {
		growth += uint64(keys-g.keysAtGC) * g.perKey // not measured yet
	}
	return growth
}

// Stop ends the sampling (and the limit) and returns the peak growth of
// each figure over its value at the start; resident is the resident set's,
// or the Go runtime's where the platform does not tell the resident set.
func (m *memWatch) Stop() (resident, heap, goRuntime int64) {
	close(m.stop)
	m.done.Wait()
	growth := func(peak, base uint64) int64 { return int64(peak) - int64(min(base, peak)) }
	resident = growth(m.peak.rss, m.base.rss)
	if m.base.rss == 0 {
		resident = growth(m.peak.goRuntime, m.base.goRuntime)
	}
	return resident, growth(m.peak.heap, m.base.heap), growth(m.peak.goRuntime, m.base.goRuntime)
}
