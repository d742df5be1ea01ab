package commands

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"unsafe"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// MEMORY: Redis 7.0's memory introspection, answered from the Go runtime.
// The Go heap plays jemalloc's part: used_memory is the bytes of heap
// objects, the allocator's "active" bytes are the heap spans in use, its
// "resident" bytes what the runtime holds from the OS and has not
// released, and PURGE is a garbage collection followed by returning free
// pages to the OS.

func init() {
	memorySub := func(name string, h Handler) *Command {
		return &Command{Name: name, Arity: 2, Categories: []string{"slow"}, Handler: h}
	}
	register(&Command{Name: "memory", Arity: -2, Categories: []string{"slow"},
		Subcommands: map[string]*Command{
			"usage": {Name: "usage", Arity: -3, Flags: ReadOnly, FirstKey: 2, LastKey: 2, KeyStep: 1,
				Categories: []string{"read", "slow"}, Handler: cmdMemoryUsage},
			"purge":        memorySub("purge", cmdMemoryPurge),
			"stats":        memorySub("stats", cmdMemoryStats),
			"doctor":       memorySub("doctor", cmdMemoryDoctor),
			"malloc-stats": memorySub("malloc-stats", cmdMemoryMallocStats),
			"help": {Name: "help", Arity: 2, Flags: Loading | Stale,
				Categories: []string{"slow"}, Handler: cmdMemoryHelp},
		}})
}

// startupAllocated is MEMORY STATS's startup.allocated: the heap in use
// once the server has started, before it holds data. It is first read when
// this package initialises and replaced by RecordStartupMemory.
var startupAllocated atomic.Uint64

func init() {
	used, _ := MemoryUsage()
	startupAllocated.Store(used)
}

// RecordStartupMemory collects garbage and records the heap in use as
// startup.allocated. cmd/structd calls it once the server listens.
func RecordStartupMemory() {
	runtime.GC()
	used, _ := MemoryUsage()
	startupAllocated.Store(used)
}

// keyEntryBytes is what a key costs in its slot's map besides the key's
// bytes and its Object: the string header and the *Object pointer of the
// map slot.
const keyEntryBytes = int(unsafe.Sizeof("")) + int(unsafe.Sizeof((*memtier.Object)(nil)))

// memSizer is implemented by the collection payloads of memtier/types.
type memSizer interface{ MemSize() int }

// KeyMemoryUsage is MEMORY USAGE's figure for key holding o: the key's
// bytes and map entry, the Object, and its payload (the string's buffer, or
// the collection's MemSize). Allocator rounding is not counted.
func KeyMemoryUsage(key []byte, o *memtier.Object) int64 {
	n := len(key) + keyEntryBytes + int(unsafe.Sizeof(*o)) + cap(o.Bytes())
	if s, ok := o.Payload().(memSizer); ok {
		n += s.MemSize()
	}
	return int64(n)
}

// cmdMemoryUsage is MEMORY USAGE key [SAMPLES count]. Redis samples the
// elements of large collections; StructD's payloads know their size, so
// the figure is computed in full and SAMPLES is only validated, with
// Redis's errors. Like Redis it neither counts a keyspace hit nor touches
// the key.
func cmdMemoryUsage(c *Ctx) {
	for j := 3; j < len(c.Args); j++ {
		if !c.ArgIs(j, "samples") || j+1 == len(c.Args) {
			c.W.Error(ErrSyntax)
			return
		}
		n, ok := c.Int(j + 1)
		if !ok {
			return
		}
		if n < 0 {
			c.W.Error(ErrSyntax)
			return
		}
		j++
	}
	o := c.DB.Peek(c.Args[2])
	if o == nil {
		c.W.Null()
		return
	}
	c.W.Int(KeyMemoryUsage(c.Args[2], o))
}

// cmdMemoryPurge is Go's analog of jemalloc's purge: a full collection,
// then the free pages handed back to the OS.
func cmdMemoryPurge(c *Ctx) {
	runtime.GC()
	debug.FreeOSMemory()
	c.W.OK()
}

// memoryStats are the MEMORY STATS figures StructD can compute honestly.
type memoryStats struct {
	peak, total, startup  uint64
	clients               uint64 // CLIENT LIST tot-mem of every client
	keys                  int64
	heapActive, resident  uint64
	processRSS            uint64 // VmRSS; 0 when /proc is unavailable
	overhead, dataset     uint64
	netUsage, bytesPerKey uint64
}

// heapSamples are the runtime metrics beyond MemoryUsage's that MEMORY
// STATS reports.
var heapSamples = []metrics.Sample{
	{Name: "/memory/classes/heap/objects:bytes"},
	{Name: "/memory/classes/heap/unused:bytes"},
}

func readMemoryStats(c *Ctx) memoryStats {
	var st memoryStats
	st.total, st.resident = MemoryUsage()
	st.peak = peakMemory.Load()
	st.startup = startupAllocated.Load()
	memMu.Lock()
	metrics.Read(heapSamples)
	st.heapActive = heapSamples[0].Value.Uint64() + heapSamples[1].Value.Uint64()
	memMu.Unlock()
	st.processRSS = ProcessRSS(os.Getpid())
	for _, ci := range c.Server.Clients() {
		st.clients += uint64(ci.TotMem)
	}
	st.keys = c.KS.KeyCount()
	// As Redis: the overhead is what the server holds besides the data,
	// the dataset the rest, and per-key bytes are counted over the net
	// usage (total less startup). The keyspace's own maps are not part of
	// the overhead here (Redis counts its dict tables): they are in the
	// dataset.
	st.overhead = st.startup + st.clients
	if st.total > st.overhead {
		st.dataset = st.total - st.overhead
	}
	if st.total > st.startup {
		st.netUsage = st.total - st.startup
	}
	if st.keys > 0 {
		st.bytesPerKey = st.netUsage / uint64(st.keys)
	}
	return st
}

// cmdMemoryStats replies Redis's MEMORY STATS map with the fields StructD
// can fill honestly. It leaves out db.N (the per-database table overhead
// is not tracked) and the replication, AOF, Lua and functions buffers,
// which StructD does not have.
func cmdMemoryStats(c *Ctx) {
	st := readMemoryStats(c)
	type field struct {
		name  string
		n     uint64
		ratio float64
		isF   bool
	}
	ratio := func(a, b uint64) float64 { return float64(a) / float64(max(b, 1)) }
	fields := []field{
		{name: "peak.allocated", n: st.peak},
		{name: "total.allocated", n: st.total},
		{name: "startup.allocated", n: st.startup},
		{name: "clients.normal", n: st.clients},
		{name: "overhead.total", n: st.overhead},
		{name: "keys.count", n: uint64(st.keys)},
		{name: "keys.bytes-per-key", n: st.bytesPerKey},
		{name: "dataset.bytes", n: st.dataset},
		{name: "dataset.percentage", ratio: 100 * ratio(st.dataset, st.netUsage), isF: true},
		{name: "peak.percentage", ratio: 100 * ratio(st.total, st.peak), isF: true},
		{name: "allocator.allocated", n: st.total},
		{name: "allocator.active", n: st.heapActive},
		{name: "allocator.resident", n: st.resident},
		{name: "allocator-fragmentation.ratio", ratio: ratio(st.heapActive, st.total), isF: true},
		{name: "allocator-fragmentation.bytes", n: st.heapActive - min(st.heapActive, st.total)},
		{name: "allocator-rss.ratio", ratio: ratio(st.resident, st.heapActive), isF: true},
		{name: "allocator-rss.bytes", n: st.resident - min(st.resident, st.heapActive)},
	}
	if st.processRSS > 0 {
		fields = append(fields,
			field{name: "rss-overhead.ratio", ratio: ratio(st.processRSS, st.resident), isF: true},
			field{name: "rss-overhead.bytes", n: st.processRSS - min(st.processRSS, st.resident)},
			field{name: "fragmentation", ratio: ratio(st.processRSS, st.total), isF: true},
			field{name: "fragmentation.bytes", n: st.processRSS - min(st.processRSS, st.total)})
	}
	c.W.Map(len(fields))
	for _, f := range fields {
		c.W.BulkString(f.name)
		if f.isF {
			c.W.Double(f.ratio)
		} else {
			c.W.Int(int64(f.n))
		}
	}
}

// ProcessRSS is the resident set size of process pid in bytes, read from
// /proc/<pid>/status (VmRSS); 0 where that file is unavailable.
func ProcessRSS(pid int) uint64 {
	return procKB("/proc/"+strconv.Itoa(pid)+"/status", "VmRSS:")
}

// procKB reads a "Field:   123 kB" line of a /proc file (meminfo, status)
// and returns its value in bytes; 0 if the file or the field is missing.
func procKB(path, field string) uint64 {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// cmdMemoryDoctor reports what the figures show, in a few plain lines:
// StructD has no allocator of its own to diagnose, so it states the heap,
// the process's resident memory and how far apart they are.
func cmdMemoryDoctor(c *Ctx) {
	st := readMemoryStats(c)
	var b strings.Builder
	if st.total < 5<<20 {
		b.WriteString("This instance is empty or is using very little memory (under 5MB): there is nothing to diagnose yet.\n")
		c.W.Verbatim(b.String())
		return
	}
	fmt.Fprintf(&b, "Heap in use: %s for %d keys (%d bytes per key over the startup heap), peak %s.\n",
		bytesToHuman(st.total), st.keys, st.bytesPerKey, bytesToHuman(st.peak))
	fmt.Fprintf(&b, "Held from the OS by the Go runtime: %s", bytesToHuman(st.resident))
	if st.processRSS > 0 {
		fmt.Fprintf(&b, "; process RSS: %s", bytesToHuman(st.processRSS))
	}
	b.WriteString(".\n")
	problems := 0
	if st.peak > st.total*3/2 {
		problems++
		fmt.Fprintf(&b, "* Peak memory: the heap once reached %s, %.2f times what it holds now. "+
			"Freed memory returns to the OS gradually; MEMORY PURGE returns it at once.\n",
			bytesToHuman(st.peak), float64(st.peak)/float64(st.total))
	}
	if st.processRSS > st.total*3/2 {
		problems++
		fmt.Fprintf(&b, "* High RSS overhead: the process's RSS is %.2f times the heap in use. "+
			"Much of it is garbage not yet collected or free pages not yet released; MEMORY PURGE collects and releases them.\n",
			float64(st.processRSS)/float64(st.total))
	}
	if problems == 0 {
		b.WriteString("I see no memory problems in this instance.\n")
	}
	c.W.Verbatim(b.String())
}

// cmdMemoryMallocStats is the allocator's report: every Go runtime memory
// and GC metric, one "name value" line each, where Redis prints jemalloc's
// statistics.
func cmdMemoryMallocStats(c *Ctx) {
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/") || strings.HasPrefix(d.Name, "/gc/") {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	sort.Slice(samples, func(i, j int) bool { return samples[i].Name < samples[j].Name })
	var b strings.Builder
	b.WriteString("___ Begin Go runtime memory statistics (" + runtime.Version() + ") ___\n")
	for _, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			fmt.Fprintf(&b, "%s %d\n", s.Name, s.Value.Uint64())
		case metrics.KindFloat64:
			fmt.Fprintf(&b, "%s %s\n", s.Name, resp.AppendFloat(nil, s.Value.Float64()))
		}
	}
	b.WriteString("--- End Go runtime memory statistics ---\n")
	c.W.Verbatim(b.String())
}

var memoryHelp = []string{
	"DOCTOR",
	"    Return memory problems reports.",
	"MALLOC-STATS",
	"    Return internal statistics report from the memory allocator.",
	"PURGE",
	"    Attempt to purge dirty pages for reclamation by the allocator.",
	"STATS",
	"    Return information about the memory usage of the server.",
	"USAGE <key> [SAMPLES <count>]",
	"    Return memory in bytes used by <key> and its value. Nested values are",
	"    sampled up to <count> times (default: 5, 0 means sample all).",
}

func cmdMemoryHelp(c *Ctx) { replyHelp(c, memoryHelp) }
