package commands

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func init() {
	register(&Command{Name: "info", Arity: -1, Flags: Loading | Stale, Categories: []string{"slow", "dangerous"},
		Tips: []string{"nondeterministic_output", "request_policy:all_shards", "response_policy:special"}, Handler: cmdInfo})
}

// infoSections are INFO's sections in Redis's order, with whether
// "default" (no argument) includes them. "all" is every one of them;
// "everything" adds nothing more (StructD has no modules).
var infoSections = []struct {
	name      string
	inDefault bool
	write     func(b *infoBuilder, c *Ctx, st *ServerStats)
}{
	{"server", true, infoServer},
	{"clients", true, infoClients},
	{"memory", true, infoMemory},
	{"persistence", true, infoPersistence},
	{"stats", true, infoStats},
	{"replication", true, infoReplication},
	{"cpu", true, infoCPU},
	{"modules", true, func(*infoBuilder, *Ctx, *ServerStats) {}},
	{"commandstats", false, infoCommandStats},
	{"errorstats", true, infoErrorStats},
	{"cluster", true, func(b *infoBuilder, _ *Ctx, _ *ServerStats) { b.field("cluster_enabled", "0") }},
	{"keyspace", true, infoKeyspace},
}

// cmdInfo is INFO [section ...]: Redis's "# Section" blocks of field:value
// lines, CRLF-terminated, as a verbatim string.
func cmdInfo(c *Ctx) {
	want := map[string]bool{}
	all, def := false, len(c.Args) == 1
	for i := 1; i < len(c.Args); i++ {
		switch s := strings.ToLower(c.Arg(i)); s {
		case "all", "everything":
			all = true
		case "default":
			def = true
		default:
			want[s] = true
		}
	}
	st := c.Server.Stats()
	b := &infoBuilder{}
	for _, sec := range infoSections {
		if !all && !(def && sec.inDefault) && !want[sec.name] {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\r\n")
		}
		title := strings.ToUpper(sec.name[:1]) + sec.name[1:]
		switch sec.name {
		case "cpu":
			title = "CPU"
		case "commandstats":
			title = "Commandstats"
		}
		b.WriteString("# " + title + "\r\n")
		sec.write(b, c, &st)
	}
	c.W.Verbatim(b.String())
}

// infoBuilder accumulates INFO text.
type infoBuilder struct{ strings.Builder }

func (b *infoBuilder) field(name, value string) {
	b.WriteString(name)
	b.WriteByte(':')
	b.WriteString(value)
	b.WriteString("\r\n")
}

func (b *infoBuilder) int(name string, v int64) { b.field(name, strconv.FormatInt(v, 10)) }

// runID identifies this process run, as Redis's run_id does.
var runID = func() string {
	var id [20]byte
	rand.Read(id[:])
	return hex.EncodeToString(id[:])
}()

func infoServer(b *infoBuilder, c *Ctx, st *ServerStats) {
	var uts syscall.Utsname
	osName := runtime.GOOS
	if syscall.Uname(&uts) == nil {
		osName = utsString(uts.Sysname[:]) + " " + utsString(uts.Release[:]) + " " + utsString(uts.Machine[:])
	}
	exe, _ := os.Executable()
	cfg := c.Server.Config()
	cfg.RLock()
	file := cfg.File
	cfg.RUnlock()
	now := time.Now()
	up := int64(now.Sub(st.Start) / time.Second)
	b.field("redis_version", RedisVersion)
	b.field("redis_git_sha1", "00000000")
	b.field("redis_git_dirty", "0")
	b.field("redis_mode", "standalone")
	b.field("os", osName)
	b.int("arch_bits", int64(strconv.IntSize))
	b.field("go_version", runtime.Version())
	b.int("process_id", int64(os.Getpid()))
	b.field("process_supervised", "no")
	b.field("run_id", runID)
	b.int("tcp_port", int64(st.TCPPort))
	b.int("server_time_usec", now.UnixMicro())
	b.int("uptime_in_seconds", up)
	b.int("uptime_in_days", up/86400)
	b.int("hz", int64(st.Hz))
	b.int("configured_hz", int64(st.Hz))
	b.int("lru_clock", (now.Unix())&(1<<24-1))
	b.field("executable", exe)
	b.field("config_file", file)
	b.field("io_threads_active", "0")
}

// utsString converts a NUL-terminated utsname field.
func utsString[T int8 | uint8](f []T) string {
	bs := make([]byte, 0, len(f))
	for _, ch := range f {
		if ch == 0 {
			break
		}
		bs = append(bs, byte(ch))
	}
	return string(bs)
}

func infoClients(b *infoBuilder, c *Ctx, st *ServerStats) {
	b.int("connected_clients", int64(st.ConnectedClients))
	b.field("cluster_connections", "0")
	b.int("maxclients", int64(c.Server.Config().Limits().MaxClients))
	b.int("client_recent_max_input_buffer", st.MaxInputBuffer)
	b.int("client_recent_max_output_buffer", st.MaxOutputBuffer)
	b.int("blocked_clients", int64(st.BlockedClients))
	b.field("tracking_clients", "0")
	b.field("clients_in_timeout_table", "0")
}

// memory figures come from runtime/metrics, which does not stop the world.
var (
	memSamples = []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
	}
	memMu      sync.Mutex
	peakMemory atomic.Uint64
)

// MemoryUsage returns the bytes of live heap objects (used_memory) and the
// memory the Go runtime holds from the OS, less what it released (RSS).
func MemoryUsage() (used, rss uint64) {
	memMu.Lock()
	metrics.Read(memSamples)
	used = memSamples[0].Value.Uint64()
	rss = memSamples[1].Value.Uint64() - memSamples[2].Value.Uint64()
	memMu.Unlock()
	for {
		p := peakMemory.Load()
		if used <= p || peakMemory.CompareAndSwap(p, used) {
			break
		}
	}
	return used, rss
}

var totalSystemMemory = sync.OnceValue(func() uint64 { return procKB("/proc/meminfo", "MemTotal:") })

// bytesToHuman formats n as Redis's INFO does: 1.09M, 512B.
func bytesToHuman(n uint64) string {
	units := []string{"K", "M", "G", "T", "P"}
	if n < 1024 {
		return strconv.FormatUint(n, 10) + "B"
	}
	d := float64(n)
	i := -1
	for d >= 1024 && i < len(units)-1 {
		d /= 1024
		i++
	}
	return fmt.Sprintf("%.2f%s", d, units[i])
}

func infoMemory(b *infoBuilder, c *Ctx, _ *ServerStats) {
	used, rss := MemoryUsage()
	peak := peakMemory.Load()
	total := totalSystemMemory()
	b.int("used_memory", int64(used))
	b.field("used_memory_human", bytesToHuman(used))
	b.int("used_memory_rss", int64(rss))
	b.field("used_memory_rss_human", bytesToHuman(rss))
	b.int("used_memory_peak", int64(peak))
	b.field("used_memory_peak_human", bytesToHuman(peak))
	b.field("used_memory_peak_perc", fmt.Sprintf("%.2f%%", 100*float64(used)/float64(max(peak, 1))))
	b.int("total_system_memory", int64(total))
	b.field("total_system_memory_human", bytesToHuman(total))
	maxmemory := c.Server.Config().PersistenceSettings().MaxMemory
	b.int("maxmemory", maxmemory)
	b.field("maxmemory_human", bytesToHuman(uint64(maxmemory)))
	b.field("maxmemory_policy", "noeviction")
	b.field("mem_fragmentation_ratio", fmt.Sprintf("%.2f", float64(rss)/float64(max(used, 1))))
	b.field("mem_allocator", "go-"+runtime.Version())
	b.field("lazyfree_pending_objects", "0")
}

func infoStats(b *infoBuilder, c *Ctx, st *ServerStats) {
	ks := &c.KS.Stats
	b.int("total_connections_received", st.ConnectionsReceived)
	b.int("total_commands_processed", st.CommandsProcessed)
	b.int("instantaneous_ops_per_sec", st.OpsPerSec)
	b.int("total_net_input_bytes", st.NetInputBytes)
	b.int("total_net_output_bytes", st.NetOutputBytes)
	b.field("total_net_repl_input_bytes", "0")
	b.field("total_net_repl_output_bytes", "0")
	b.field("instantaneous_input_kbps", fmt.Sprintf("%.2f", st.InputKbps))
	b.field("instantaneous_output_kbps", fmt.Sprintf("%.2f", st.OutputKbps))
	b.field("instantaneous_input_repl_kbps", "0.00")
	b.field("instantaneous_output_repl_kbps", "0.00")
	b.int("rejected_connections", st.RejectedConnections)
	b.field("sync_full", "0")
	b.field("sync_partial_ok", "0")
	b.field("sync_partial_err", "0")
	b.int("expired_keys", ks.ExpiredKeys.Load())
	b.field("expired_stale_perc", fmt.Sprintf("%.2f", float64(ks.ExpiredStalePerc.Load())))
	b.field("evicted_keys", "0")
	b.field("evicted_clients", "0")
	b.int("keyspace_hits", ks.KeyspaceHits.Load())
	b.int("keyspace_misses", ks.KeyspaceMisses.Load())
	b.int("pubsub_channels", int64(st.PubSubChannels))
	b.int("pubsub_patterns", int64(st.PubSubPatterns))
	b.int("pubsubshard_channels", int64(st.PubSubShardChannels))
	b.field("latest_fork_usec", "0")
	b.field("total_forks", "0")
	b.field("tracking_total_keys", "0")
	b.field("tracking_total_items", "0")
	b.field("tracking_total_prefixes", "0")
	b.field("unexpected_error_replies", "0")
	b.int("total_error_replies", st.ErrorReplies)
}

func infoCPU(b *infoBuilder, _ *Ctx, _ *ServerStats) {
	secs := func(tv syscall.Timeval) string {
		return fmt.Sprintf("%d.%06d", tv.Sec, tv.Usec)
	}
	var self, children syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &self)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &children)
	b.field("used_cpu_sys", secs(self.Stime))
	b.field("used_cpu_user", secs(self.Utime))
	b.field("used_cpu_sys_children", secs(children.Stime))
	b.field("used_cpu_user_children", secs(children.Utime))
}

func infoCommandStats(b *infoBuilder, c *Ctx, _ *ServerStats) {
	write := func(cmd *Command) {
		s := &cmd.Stats
		calls, usec, rej, failed := s.Calls.Load(), s.Usec.Load(), s.RejectedCalls.Load(), s.FailedCalls.Load()
		if calls == 0 && rej == 0 && failed == 0 {
			return
		}
		perCall := 0.0
		if calls > 0 {
			perCall = float64(usec) / float64(calls)
		}
		b.field("cmdstat_"+cmd.Name, fmt.Sprintf("calls=%d,usec=%d,usec_per_call=%.2f,rejected_calls=%d,failed_calls=%d",
			calls, usec, perCall, rej, failed))
	}
	for _, cmd := range c.Server.Table().Sorted() {
		write(cmd)
		for _, sub := range sortedSubcommands(cmd) {
			write(sub)
		}
	}
}

func infoErrorStats(b *infoBuilder, _ *Ctx, st *ServerStats) {
	names := make([]string, 0, len(st.ErrorCounts))
	for n := range st.ErrorCounts {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		b.field("errorstat_"+n, "count="+strconv.FormatInt(st.ErrorCounts[n], 10))
	}
}

// infoKeyspace runs under the shared keyspace lock Exec takes for
// keyless commands, so the database order cannot change under it.
func infoKeyspace(b *infoBuilder, c *Ctx, _ *ServerStats) {
	for i := 0; i < c.KS.NumDBs(); i++ {
		db := c.KS.DB(i)
		if n := db.Size(); n > 0 {
			b.field("db"+strconv.Itoa(i), fmt.Sprintf("keys=%d,expires=%d,avg_ttl=0", n, db.ExpiresCount()))
		}
	}
}
