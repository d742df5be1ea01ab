// Command sidebyside benchmarks StructD against redis-server on this
// machine, in the same run: it builds StructD, starts both servers on free
// ports with persistence off, runs redis-benchmark against each in turn for
// every pipeline depth, and prints requests per second side by side with
// the ratio StructD/Redis and whether it meets the target (0.9 without
// pipelining, 1.0 with it).
//
//	go run ./bench/sidebyside [-n 500000] [-c 50] [-t set,get,incr,mset] [-P 1,16] [-cpuprofile cpu.pprof]
package main

import (
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/structd/structd/internal/redisproc"
)

func main() {
	n := flag.Int("n", 500000, "requests per test (redis-benchmark -n)")
	c := flag.Int("c", 50, "parallel clients (redis-benchmark -c)")
	tests := flag.String("t", "set,get,incr,mset", "tests (redis-benchmark -t)")
	pipelines := flag.String("P", "1,16", "comma-separated pipeline depths (redis-benchmark -P)")
	cpuprofile := flag.String("cpuprofile", "", "write StructD's CPU profile (pprof) to this file")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, *c, *tests, *pipelines, *cpuprofile); err != nil {
		fmt.Fprintln(os.Stderr, "sidebyside:", err)
		stop()
		os.Exit(1)
	}
}

// row is one test at one pipeline depth, measured on both servers.
type row struct {
	test           string
	pipeline       int
	redis, structd float64 // requests per second
	ratio, target  float64
	meetsTheTarget bool
}

func run(ctx context.Context, n, c int, tests, pipelineList, cpuprofile string) error {
	var depths []int
	for _, p := range strings.Split(pipelineList, ",") {
		d, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || d < 1 {
			return fmt.Errorf("bad pipeline depth %q in -P", p)
		}
		depths = append(depths, d)
	}
	dir, err := os.MkdirTemp("", "structd-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	bin := filepath.Join(dir, "structd")
	build := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/structd")
	build.Dir, build.Stdout, build.Stderr = moduleRoot(), os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/structd: %w", err)
	}

	persistenceOff := []string{"--dir", dir, "--save", "", "--appendonly", "no"}
	redis, err := redisproc.Start("redis-server", dir, append(persistenceOff, "--daemonize", "no")...)
	if err != nil {
		return err
	}
	defer redis.Stop()
	if cpuprofile != "" {
		if cpuprofile, err = filepath.Abs(cpuprofile); err != nil {
			return err
		}
		os.Setenv("STRUCTD_CPUPROFILE", cpuprofile)
	}
	ours, err := redisproc.Start(bin, dir, persistenceOff...)
	os.Unsetenv("STRUCTD_CPUPROFILE")
	if err != nil {
		return err
	}
	defer ours.Stop() // SIGINT: StructD writes its profile as it shuts down

	fmt.Printf("redis-benchmark -t %s -n %d -c %d, StructD %s vs redis-server %s\n", tests, n, c, ours.Addr, redis.Addr)
	var rows []row
	for _, p := range depths {
		redisRPS, err := benchmark(ctx, redis.Port, tests, n, c, p)
		if err != nil {
			return err
		}
		oursRPS, err := benchmark(ctx, ours.Port, tests, n, c, p)
		if err != nil {
			return err
		}
		for _, name := range redisRPS.order {
			r := row{test: name, pipeline: p, redis: redisRPS.rps[name], structd: oursRPS.rps[name], target: 1.0}
			if p == 1 {
				r.target = 0.9
			}
			if r.redis > 0 {
				r.ratio = r.structd / r.redis
			}
			r.meetsTheTarget = r.ratio >= r.target
			rows = append(rows, r)
		}
	}
	printTable(rows)
	if cpuprofile != "" {
		ours.Stop()
		fmt.Printf("\nStructD CPU profile: %s (go tool pprof -top %s)\n", cpuprofile, cpuprofile)
	}
	return nil
}

// results are one redis-benchmark run's requests per second by test name,
// in the order the tests ran.
type results struct {
	order []string
	rps   map[string]float64
}

// benchmark runs redis-benchmark with --csv and parses its rows:
// "test","rps","avg_latency_ms",...
func benchmark(ctx context.Context, port int, tests string, n, c, pipeline int) (results, error) {
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(port),
		"-t", tests, "-n", strconv.Itoa(n), "-c", strconv.Itoa(c), "-P", strconv.Itoa(pipeline), "--csv")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return results{}, errors.New("interrupted")
	}
	if err != nil {
		return results{}, fmt.Errorf("redis-benchmark on port %d: %w", port, err)
	}
	records, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		return results{}, fmt.Errorf("redis-benchmark output: %w", err)
	}
	res := results{rps: map[string]float64{}}
	for _, rec := range records {
		if len(rec) < 2 || rec[0] == "test" {
			continue
		}
		rps, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return results{}, fmt.Errorf("redis-benchmark row %q: %w", rec, err)
		}
		res.order = append(res.order, rec[0])
		res.rps[rec[0]] = rps
	}
	if len(res.order) == 0 {
		return results{}, errors.New("redis-benchmark printed no results")
	}
	return res, nil
}

func printTable(rows []row) {
	fmt.Printf("%-16s %8s %13s %13s %6s %7s\n", "test", "pipeline", "redis req/s", "structd req/s", "ratio", "target")
	for _, r := range rows {
		verdict := "PASS"
		if !r.meetsTheTarget {
			verdict = "MISS"
		}
		fmt.Printf("%-16s %8d %13.0f %13.0f %6.2f %7s %s\n", r.test, r.pipeline, r.redis, r.structd, r.ratio, fmt.Sprintf("≥ %.1f", r.target), verdict)
	}
}

// moduleRoot is the directory of the go.mod this command belongs to, so
// the benchmark builds StructD from any working directory in the module.
func moduleRoot() string {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "."
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}
