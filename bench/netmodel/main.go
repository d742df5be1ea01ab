//go:build linux

// Command netmodel measures what serving each connection from a goroutine
// of its own costs against serving every connection from one epoll loop,
// as Redis does. It runs four PING servers side by side: redis-server,
// StructD built from this tree (both with persistence off), and two
// servers of its own that only answer PING (it starts itself with -serve):
// one goroutine per connection reading with net.Conn (StructD's model),
// and one goroutine waiting on epoll for every connection and reading
// only the ready ones. It runs redis-benchmark -t ping_mbulk -P 1 against
// each in turn, -runs times, and prints each server's median requests per
// second, its ratio to Redis's and its CPU time per request.
//
//	go run ./bench/netmodel [-n 300000] [-c 50] [-runs 3]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/structd/structd/bench/internal/benchflag"
	"github.com/structd/structd/internal/redisproc"
)

func main() {
	serve := flag.String("serve", "", "run a PING server of this model (goroutines or epoll) instead of the benchmark")
	port := flag.Int("port", 0, "with -serve: the port to listen on, on 127.0.0.1")
	flag.String("bind", "127.0.0.1", "with -serve: accepted for redisproc, which passes it; the servers bind 127.0.0.1")
	requests := flag.Int("n", 300000, "requests per run (redis-benchmark -n)")
	clients := flag.Int("c", 50, "parallel clients (redis-benchmark -c)")
	runs := flag.Int("runs", 3, "runs per server, in turn; the table shows each server's median")
	flag.Parse()
	if *serve != "" {
		if err := servePing(*serve, *port); err != nil {
			fmt.Fprintln(os.Stderr, "netmodel:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *requests, *clients, *runs); err != nil {
		fmt.Fprintln(os.Stderr, "netmodel:", err)
		os.Exit(1)
	}
}

// result is one run against one server.
type result struct {
	rps, cpuPerRequest float64 // req/s; µs of server CPU
}

func run(ctx context.Context, requests, clients, runs int) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	servers, err := benchflag.StartServers(ctx, "netmodel-")
	if err != nil {
		return err
	}
	defer servers.Stop()
	dir, err := os.MkdirTemp("", "netmodel-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	goroutines, err := redisproc.Start(self, dir, "-serve", "goroutines")
	if err != nil {
		return err
	}
	defer goroutines.Stop()
	epoll, err := redisproc.Start(self, dir, "-serve", "epoll")
	if err != nil {
		return err
	}
	defer epoll.Stop()

	procs := []struct {
		name string
		p    *redisproc.Proc
	}{
		{"redis-server", servers.Redis},
		{"structd", servers.StructD},
		{"goroutine per connection", goroutines},
		{"one epoll loop", epoll},
	}
	got := make([][]result, len(procs))
	for i := range runs {
		for j, s := range procs {
			fmt.Fprintf(os.Stderr, "run %d of %d: %s\n", i+1, runs, s.name)
			r, err := measure(ctx, s.p, requests, clients)
			if err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			got[j] = append(got[j], r)
		}
	}
	fmt.Printf("redis-benchmark -t ping_mbulk -P 1 -c %d -n %d, median of %d runs each\n\n", clients, requests, runs)
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
func measure(ctx context.Context, p *redisproc.Proc, requests, clients int) (result, error) {
	before, err := benchflag.ProcessCPU(p.Pid())
	if err != nil {
		return result{}, err
	}
	out, err := exec.CommandContext(ctx, "redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(p.Port),
		"-t", "ping_mbulk", "-P", "1", "-c", strconv.Itoa(clients), "-n", strconv.Itoa(requests), "--csv").Output()
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark: %w", err)
	}
	after, err := benchflag.ProcessCPU(p.Pid())
	if err != nil {
		return result{}, err
	}
	for _, line := range strings.Split(string(out), "\n") {
		fields := strings.Split(line, ",")
		if len(fields) >= 2 && strings.Contains(fields[0], "PING") {
			rps, err := strconv.ParseFloat(strings.Trim(fields[1], `"`), 64)
			if err != nil {
				return result{}, fmt.Errorf("redis-benchmark row %q: %w", line, err)
			}
			cpu := after.Sub(before).Total().Seconds() * 1e6 / float64(requests)
			return result{rps: rps, cpuPerRequest: cpu}, nil
		}
	}
	return result{}, fmt.Errorf("redis-benchmark printed no PING row: %s", out)
}

func median(rs []result, field func(result) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = field(r)
	}
	slices.Sort(v)
	return v[len(v)/2]
}
