//go:build linux

// Command persistence benchmarks StructD's persistence against
// redis-server's on this machine, in the same run (issue 4, item 8). It
// builds StructD, writes one RESP stream of SET commands (-keys keys of
// -value-size bytes) and loads it with redis-cli --pipe into each server in
// turn (Redis first, then StructD, so they never compete for the CPUs),
// then measures on each: the peak extra memory and the wall time of the
// first BGSAVE while clients overwrite random keys, a BGSAVE after 1% of
// the keys changed, the size on disk, the time from process start until a
// GET of a random key returns its value after a restart, and (StructD,
// --warmup yes) until every key is in memory. Last, it measures SET
// throughput at -P 16 with the AOF on, appendfsync everysec and always, on
// fresh servers, -set-runs times each, alternating, and takes each
// server's median. It prints StructD's and Redis's figures, their ratio and
// PASS or MISS against the targets; a figure that cannot be
// measured is n/a with the reason. README.md says how each is measured.
//
//	go run ./bench/persistence [-keys 8000000] [-value-size 256] [-set-runs 3] [-out result.txt]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/structd/structd/internal/redisproc"
)

func main() {
	var o options
	flag.IntVar(&o.data.keys, "keys", 8000000, "keys in the dataset")
	flag.IntVar(&o.data.valueSize, "value-size", 256, "bytes per value")
	flag.IntVar(&o.overwriteClients, "overwrite-clients", 4, "clients overwriting random keys during the measured checkpoint")
	flag.IntVar(&o.overwriteRate, "overwrite-rate", 10000, "SETs a second the overwrite clients send in total (0: as fast as the server answers)")
	flag.DurationVar(&o.samplePeriod, "sample", 20*time.Millisecond, "memory sampling period during the checkpoint")
	flag.DurationVar(&o.settle, "settle", time.Second, "overwrite load before the measured checkpoint starts")
	flag.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound on any one wait (a save, a restart)")
	requests := flag.Int("requests", 1000000, "requests per SET throughput run (redis-benchmark -n)")
	setRuns := flag.Int("set-runs", 3, "SET throughput runs per server and appendfsync mode, alternating between the servers; the table shows each server's median")
	out := flag.String("out", "", "also write the report to this file")
	flag.Parse()
	if o.data.keys < 1 || o.data.valueSize < minValueSize || o.overwriteClients < 1 || o.overwriteRate < 0 || *setRuns < 1 {
		fmt.Fprintf(os.Stderr, "persistence: need -keys ≥ 1, -value-size ≥ %d, -overwrite-clients ≥ 1, -overwrite-rate ≥ 0, -set-runs ≥ 1\n", minValueSize)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, *requests, *setRuns, *out); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(os.Stderr, "persistence:", err)
		stop()
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, requests, setRuns int, outPath string) error {
	report := io.Writer(os.Stdout)
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return err
		}
		defer f.Close()
		report = io.MultiWriter(os.Stdout, f)
	}
	root, bin, err := redisproc.BuildStructD(ctx, "structd-bench-persistence-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	machine := machineContext()
	fmt.Fprintf(report, "%d keys of %d bytes (%.1f MiB of values), machine: %s\n",
		o.data.keys, o.data.valueSize, float64(o.data.bytes())/(1<<20), machine)

	respPath := filepath.Join(root, "dataset.resp")
	progress("writing the dataset as RESP to %s", respPath)
	if err := o.data.writeRESP(ctx, respPath); err != nil {
		return err
	}
	// Each server: the directives it runs with in the checkpoint and restart
	// phases. No save schedule, so only the measured BGSAVEs save; Redis
	// without the AOF loads its RDB on restart; StructD with its defaults.
	sides := []struct {
		name, bin string
		args      []string
	}{
		{"redis", "redis-server", []string{"--save", "", "--appendonly", "no", "--daemonize", "no"}},
		// No checkpoint on AOF growth: only the measured BGSAVEs may run.
		{"structd", bin, []string{"--save", "", "--appendonly", "yes", "--appendfsync", "everysec", "--auto-aof-rewrite-percentage", "0"}},
	}
	results := map[string]*sideResult{}
	for _, side := range sides {
		progress("%s: loading, checkpoints, restarts", side.name)
		s, err := newServer(side.name, side.bin, root, side.args...)
		if err != nil {
			return err
		}
		if err := s.start(ctx); err != nil {
			return err
		}
		r, err := measureSide(ctx, s, respPath, o)
		s.stop()
		if err != nil {
			return fmt.Errorf("%s: %w", side.name, err)
		}
		os.RemoveAll(s.workDir) // frees the disk for the next server
		results[side.name] = r
	}
	os.Remove(respPath)

	// One SET run lasts a few seconds, and on a shared machine two runs of
	// one server differ by tens of percent: each server runs setRuns
	// times, alternating with the other, and its median counts.
	throughput := map[string]map[string]metric{"redis": {}, "structd": {}}
	cpu := map[string]map[string]metric{"redis": {}, "structd": {}}
	runs := map[string]map[string][]metric{"redis": {}, "structd": {}}
	for _, fsync := range []string{"everysec", "always"} {
		cpuRuns := map[string][]metric{}
		for i := range setRuns {
			for _, side := range sides {
				progress("%s: SET -P 16 with appendfsync %s, run %d of %d", side.name, fsync, i+1, setRuns)
				rps, c := setThroughput(ctx, side.name, side.bin, root, fsync, o.data, requests)
				if ctx.Err() != nil {
					return ctx.Err()
				}
				runs[side.name][fsync] = append(runs[side.name][fsync], rps)
				cpuRuns[side.name] = append(cpuRuns[side.name], c)
			}
		}
		for _, side := range sides {
			throughput[side.name][fsync] = median(runs[side.name][fsync])
			cpu[side.name][fsync] = median(cpuRuns[side.name])
		}
	}

	fmt.Fprintln(report)
	printTable(report, o.data, buildRows(o.data, results["structd"], results["redis"], throughput["structd"], throughput["redis"]))
	fmt.Fprintf(report, "overwrite load during the first BGSAVE: %d clients, %s\n", o.overwriteClients, rateText(o.overwriteRate))
	for _, side := range sides {
		for _, n := range results[side.name].notes {
			fmt.Fprintf(report, "%s: %s\n", side.name, n)
		}
	}
	for _, fsync := range []string{"everysec", "always"} {
		fmt.Fprintf(report, "SET -P 16 appendfsync %s, each run in req/s (alternating, redis first): structd %s; redis %s\n",
			fsync, formatAll(runs["structd"][fsync], "req/s"), formatAll(runs["redis"][fsync], "req/s"))
		fmt.Fprintf(report, "SET -P 16 appendfsync %s: server CPU per million requests (/proc/PID/stat, reaped children included; median): structd %s, redis %s\n",
			fsync, format(cpu["structd"][fsync], "s"), format(cpu["redis"][fsync], "s"))
	}
	fmt.Fprintf(report, "machine after the run: %s\n", machineContext())
	return nil
}

// machineContext is the core count and the load average, to judge how
// quiet the machine was.
func machineContext() string {
	load, err := os.ReadFile("/proc/loadavg")
	avg := "unknown"
	if err == nil {
		avg = strings.Join(strings.Fields(string(load))[:3], " ")
	}
	return fmt.Sprintf("%d CPUs, load average %s", runtime.NumCPU(), avg)
}

func rateText(rate int) string {
	if rate == 0 {
		return "unpaced"
	}
	return fmt.Sprintf("%d SETs/s in total", rate)
}

// progress says on standard error what the benchmark is doing.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}
