// Command sidebyside benchmarks StructD against redis-server on this
// machine, in the same run: it builds StructD, starts both servers on free
// ports with persistence off, runs redis-benchmark against each in turn for
// every pipeline depth, and prints requests per second side by side with
// the ratio StructD/Redis and whether it meets the target (0.9 without
// pipelining, 1.0 with it). Tests whose command StructD does not serve yet
// are skipped on both servers, and said so.
//
//	go run ./bench/sidebyside [-n 500000] [-c 50] [-t set,get,...] [-P 1,16] [-cpuprofile cpu.pprof]
package main

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/structd/structd/bench/internal/benchflag"
	"github.com/structd/structd/internal/resp"
)

// defaultTests are the foundation issue's rows and the collection rows of
// issue 3, by redis-benchmark 7.0's test names.
const defaultTests = "set,get,incr,mset,lpush,rpush,lpop,rpop,sadd,hset,spop,zadd,zpopmin,lrange_100,lrange_600"

func main() {
	n := flag.Int("n", 500000, "requests per test (redis-benchmark -n)")
	c := flag.Int("c", 50, "parallel clients (redis-benchmark -c)")
	tests := flag.String("t", defaultTests, "tests (redis-benchmark -t)")
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
	depths, err := benchflag.PipelineDepths(pipelineList)
	if err != nil {
		return err
	}
	if cpuprofile != "" {
		if cpuprofile, err = filepath.Abs(cpuprofile); err != nil {
			return err
		}
		os.Setenv("STRUCTD_CPUPROFILE", cpuprofile) // the other processes ignore it
	}
	servers, err := benchflag.StartServers(ctx, "structd-bench-")
	os.Unsetenv("STRUCTD_CPUPROFILE")
	if err != nil {
		return err
	}
	defer servers.Stop() // SIGINT: StructD writes its profile as it shuts down
	redis, ours := servers.Redis, servers.StructD

	tests, skipped, err := servedTests(ours.Addr, tests)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		fmt.Printf("skipped %s: StructD does not serve %s yet\n", s.test, strings.ToUpper(s.command))
	}
	if tests == "" {
		return errors.New("StructD serves none of the tests")
	}
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
// "test","rps","avg_latency_ms",... The test column is redis-benchmark's
// display name ("LRANGE_100 (first 100 elements)", "MSET (10 keys)"): rows
// are named by their -t name, its first word in lower case, and the
// set-up rows ("LPUSH (needed to benchmark LRANGE)") are left out.
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
		if len(rec) < 2 || rec[0] == "test" || strings.Contains(rec[0], "(needed to") {
			continue
		}
		name := strings.ToLower(strings.Fields(rec[0] + " ")[0])
		rps, err := strconv.ParseFloat(rec[1], 64)
		if err != nil {
			return results{}, fmt.Errorf("redis-benchmark row %q: %w", rec, err)
		}
		res.order = append(res.order, name)
		res.rps[name] = rps
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

// skippedTest is a test left out because StructD lacks its command.
type skippedTest struct{ test, command string }

// servedTests returns the comma-separated tests whose commands the server
// at addr serves (COMMAND INFO answers nil for unknown ones), and the others.
func servedTests(addr, tests string) (string, []skippedTest, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return "", nil, err
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	var served []string
	var skipped []skippedTest
	for _, t := range strings.Split(tests, ",") {
		t = strings.ToLower(strings.TrimSpace(t))
		missing := ""
		for _, cmd := range testCommands(t) {
			fmt.Fprintf(nc, "*3\r\n$7\r\nCOMMAND\r\n$4\r\nINFO\r\n$%d\r\n%s\r\n", len(cmd), cmd)
			v, err := resp.ReadReply(r)
			if err != nil {
				return "", nil, fmt.Errorf("COMMAND INFO %s on %s: %w", cmd, addr, err)
			}
			if v.Kind != resp.KindArray || len(v.Elems) != 1 {
				return "", nil, fmt.Errorf("COMMAND INFO %s on %s answered %s", cmd, addr, v)
			}
			if e := v.Elems[0]; e.Null || e.Kind == resp.KindNull {
				missing = cmd
				break
			}
		}
		if missing != "" {
			skipped = append(skipped, skippedTest{t, missing})
		} else {
			served = append(served, t)
		}
	}
	return strings.Join(served, ","), skipped, nil
}

// testCommands are the commands a redis-benchmark test sends: its name up
// to the first underscore (ping_mbulk, lrange_100), and LPUSH, with which
// the LRANGE tests fill their list.
func testCommands(test string) []string {
	cmd, _, _ := strings.Cut(test, "_")
	if cmd == "lrange" {
		return []string{"lpush", "lrange"}
	}
	return []string{cmd}
}
