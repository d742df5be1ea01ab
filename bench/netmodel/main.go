//go:build linux

// Command netmodel measures what serving each connection from a goroutine
// of its own costs against serving every connection from one epoll loop,
// as Redis does. It runs servers side by side: redis-server, StructD built
// from this tree, and servers of its own that do nothing but answer (it
// starts itself with -serve): one goroutine per connection reading with
// net.Conn (StructD's model), and one goroutine waiting on epoll for every
// connection and reading only the ready ones. It runs redis-benchmark at
// -P 1 against each in turn, -runs times, and prints each server's median
// requests per second, its ratio to Redis's and its CPU time per request.
//
// The ping workload (the default) runs -t ping_mbulk with persistence off.
// The always workload runs -t set -d 3 -r 1000 under appendfsync always:
// the bare servers append each SET to a log and answer it after the
// fdatasync that covers it, group-committed by a flusher thread (both
// models, as StructD does) or inline in the epoll loop (as Redis does).
//
//	go run ./bench/netmodel [-workload ping|always] [-n 300000] [-c 50] [-runs 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/structd/structd/bench/internal/benchflag"
	"github.com/structd/structd/internal/redisproc"
)

func main() {
	serveModel := flag.String("serve", "", "run a bare server of this model (goroutines, epoll or epoll-inline) instead of the benchmark")
	port := flag.Int("port", 0, "with -serve: the port to listen on, on 127.0.0.1")
	logPath := flag.String("log", "", "with -serve: append SETs to this file and answer each after its fdatasync")
	workloadName := flag.String("workload", "ping", "ping (PING, persistence off) or always (SET under appendfsync always)")
	flag.String("bind", "127.0.0.1", "with -serve: accepted for redisproc, which passes it; the servers bind 127.0.0.1")
	requests := flag.Int("n", 300000, "requests per run (redis-benchmark -n)")
	clients := flag.Int("c", 50, "parallel clients (redis-benchmark -c)")
	runs := flag.Int("runs", 3, "runs per server, in turn; the table shows each server's median")
	flag.Parse()
	if *serveModel != "" {
		if err := serve(*serveModel, *port, *logPath); err != nil {
			fmt.Fprintln(os.Stderr, "netmodel:", err)
			os.Exit(1)
		}
		return
	}
	w, found := workloads[*workloadName]
	if !found {
		fmt.Fprintf(os.Stderr, "netmodel: unknown workload %q (ping or always)\n", *workloadName)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, w, *requests, *clients, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "netmodel:", err)
		os.Exit(1)
	}
}

// workload is what the servers are asked to do.
type workload struct {
	benchmark []string // redis-benchmark's test arguments
	row       string   // what its CSV row's name contains
	settings  []string // redis-server's and StructD's directives
	models    []string // the bare servers' models, each also named below
	logged    bool     // the bare servers log SETs (-serve -log)
}

var workloads = map[string]workload{
	"ping": {
		benchmark: []string{"-t", "ping_mbulk"},
		row:       "PING",
		models:    []string{"goroutines", "epoll"},
	},
	"always": {
		benchmark: []string{"-t", "set", "-d", "3", "-r", "1000"},
		row:       "SET",
		settings:  []string{"--save", "", "--appendonly", "yes", "--appendfsync", "always"},
		models:    []string{"goroutines", "goroutines-inline", "epoll", "epoll-inline"},
		logged:    true,
	},
}

// modelNames are the table's names for the bare servers.
var modelNames = map[string]string{
	"goroutines":        "goroutine per connection",
	"epoll":             "one epoll loop",
	"epoll-inline":      "epoll loop, inline fsync",
	"goroutines-inline": "goroutines, inline fsync",
}

// result is one run against one server.
type result struct {
	rps, cpuPerRequest float64 // req/s; µs of server CPU
}

func run(ctx context.Context, w workload, requests, clients, runs int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	servers, err := benchflag.StartServers(ctx, "netmodel-", w.settings...)
	if err != nil {
		return err
	}
	defer servers.Stop()
	dir, err := os.MkdirTemp("", "netmodel-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	type server struct {
		name string
		p    *redisproc.Proc
	}
	procs := []server{{"redis-server", servers.Redis}, {"structd", servers.StructD}}
	for _, model := range w.models {
		args := []string{"-serve", model}
		if w.logged {
			args = append(args, "-log", filepath.Join(dir, model+".log"))
		}
		p, err := redisproc.Start(self, dir, args...)
		if err != nil {
			return err
		}
		defer p.Stop()
		procs = append(procs, server{modelNames[model], p})
	}
	got := make([][]result, len(procs))
	for i := range runs {
		for j, s := range procs {
			fmt.Fprintf(os.Stderr, "run %d of %d: %s\n", i+1, runs, s.name)
			r, err := measure(ctx, s.p, w, requests, clients)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			got[j] = append(got[j], r)
		}
	}
	fmt.Printf("redis-benchmark %s -P 1 -c %d -n %d, median of %d runs each", strings.Join(w.benchmark, " "), clients, requests, runs)
	if len(w.settings) > 0 {
		quoted := make([]string, len(w.settings))
		for i, a := range w.settings {
			quoted[i] = a
			if a == "" {
				quoted[i] = `""`
			}
		}
		fmt.Printf(", servers with %s", strings.Join(quoted, " "))
	}
	fmt.Print("\n\n")
	fmt.Printf("%-26s %12s %8s %16s   runs (req/s)\n", "server", "req/s", "ratio", "CPU µs/request")
	redisRPS := median(got[0], func(r result) float64 { return r.rps })
	for j, s := range procs {
		rps := median(got[j], func(r result) float64 { return r.rps })
		var each []string
		for _, r := range got[j] {
			each = append(each, strconv.FormatFloat(r.rps, 'f', 0, 64))
		}
		fmt.Printf("%-26s %12.0f %8.3f %16.2f   %s\n", s.name, rps, rps/redisRPS,
			median(got[j], func(r result) float64 { return r.cpuPerRequest }), strings.Join(each, ", "))
	}
	return nil
}

// measure runs redis-benchmark against p and reads the server's CPU time
// around it.
func measure(ctx context.Context, p *redisproc.Proc, w workload, requests, clients int) (result, error) {
	before, err := benchflag.ProcessCPU(p.Pid())
	if err != nil {
		return result{}, err
	}
	args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(p.Port)}, w.benchmark...)
	args = append(args, "-P", "1", "-c", strconv.Itoa(clients), "-n", strconv.Itoa(requests), "--csv")
	out, err := exec.CommandContext(ctx, "redis-benchmark", args...).Output()
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark: %w", err)
	}
	after, err := benchflag.ProcessCPU(p.Pid())
	if err != nil {
		return result{}, err
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, ",")
		if len(fields) >= 2 && strings.Contains(fields[0], w.row) {
			rps, err := strconv.ParseFloat(strings.Trim(fields[1], `"`), 64)
			if err != nil {
				return result{}, fmt.Errorf("redis-benchmark row %q: %w", line, err)
			}
			cpu := after.Sub(before).Total().Seconds() * 1e6 / float64(requests)
			return result{rps: rps, cpuPerRequest: cpu}, nil
		}
	}
	return result{}, fmt.Errorf("redis-benchmark printed no %s row: %s", w.row, out)
}

func median(rs []result, field func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = field(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}
