// Command scripting benchmarks StructD's Lua scripting against
// redis-server on this machine, in the same run (issue 5): a token-bucket
// rate limiter (a small read-modify-write of a hash) run by EVALSHA and by
// FCALL of the same code loaded as a function, with redis-benchmark at
// each pipeline depth, requests per second side by side with the ratio
// StructD/Redis (target ≥ 0.8). TXN.ESHA, StructD's EVALSHA that rolls
// back on error, runs the same script on StructD only: its overhead over
// EVALSHA is printed, or n/a if the server does not serve it. Each figure
// is the best of -repeat runs, the two servers' runs alternating, so that
// a busy machine disturbs the ratios less. Next to each ratio it prints
// the CPU time each server spent per request (utime and stime of
// /proc/PID/stat read before and after each run, the least of the runs):
// the figure a noisy machine moves least.
//
//	go run ./bench/scripting [-n 100000] [-c 50] [-P 1,16] [-r 100000] [-repeat 3]
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/structd/structd/bench/internal/benchflag"
	"github.com/structd/structd/internal/resp"
)

// rateLimiter is the script: KEYS[1] is the bucket, ARGV its refill rate
// (tokens per second), capacity and the tokens asked; it answers 1 when
// they are granted. The clock is the server's (TIME), as a real limiter's.
const rateLimiter = `local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local asked = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(b[1]) or capacity
local ts = tonumber(b[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate / 1000)
local granted = 0
if tokens >= asked then
  tokens = tokens - asked
  granted = 1
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) * 2)
return granted
`

// library is the same code as a function library.
var library = "#!lua name=ratelimit\nredis.register_function('ratelimit', function(KEYS, ARGV)\n" +
	rateLimiter + "end)\n"

// repeat is how many runs each figure is the best of.
var repeat int

func main() {
	n := flag.Int("n", 100000, "requests per test (redis-benchmark -n)")
	c := flag.Int("c", 50, "parallel clients (redis-benchmark -c)")
	pipelines := flag.String("P", "1,16", "comma-separated pipeline depths (redis-benchmark -P)")
	keys := flag.Int("r", 100000, "buckets: keys drawn at random (redis-benchmark -r)")
	flag.IntVar(&repeat, "repeat", 3, "runs per figure, the best kept")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, *c, *keys, *pipelines); err != nil {
		fmt.Fprintln(os.Stderr, "scripting bench:", err)
		stop()
		os.Exit(1)
	}
}

// server is one server under test, with the script and library loaded.
type server struct {
	name string
	port int
	pid  int
	sha  string
	// txn is why TXN.ESHA cannot run ("" when it can).
	txn string
}

func run(ctx context.Context, n, c, keys int, pipelineList string) error {
	depths, err := benchflag.PipelineDepths(pipelineList)
	if err != nil {
		return err
	}
	servers, err := benchflag.StartServers(ctx, "structd-bench-scripting-")
	if err != nil {
		return err
	}
	defer servers.Stop()
	rp, sp := servers.Redis, servers.StructD
	redis, err := prepare("redis", rp.Addr, rp.Port)
	if err != nil {
		return err
	}
	ours, err := prepare("structd", sp.Addr, sp.Port)
	if err != nil {
		return err
	}
	redis.pid, ours.pid = rp.Pid(), sp.Pid()
	fmt.Printf("token-bucket rate limiter, redis-benchmark -n %d -c %d -r %d, StructD %s vs redis-server %s\n", n, c, keys, sp.Addr, rp.Addr)
	fmt.Printf("%-9s %8s %13s %13s %6s %12s  %-19s %-19s\n", "command", "pipeline", "redis req/s", "structd req/s", "ratio", "target", "redis CPU µs/req", "structd CPU µs/req")
	for _, p := range depths {
		bench := func(s *server, cmd ...string) (result, error) {
			args := append(cmd, "1", "bucket:__rand_int__", "100", "1000", "1")
			return benchmark(ctx, s, n, c, keys, p, args)
		}
		var evalsha float64
		for _, cmd := range [][]string{{"EVALSHA", ""}, {"FCALL", "ratelimit"}} {
			args := func(s *server) []string {
				if cmd[0] == "EVALSHA" {
					return []string{"EVALSHA", s.sha}
				}
				return cmd
			}
			var r, o result
			for range repeat {
				rr, err := bench(redis, args(redis)...)
				if err != nil {
					return err
				}
				or, err := bench(ours, args(ours)...)
				if err != nil {
					return err
				}
				r, o = r.best(rr), o.best(or)
			}
			if cmd[0] == "EVALSHA" {
				evalsha = o.rps
			}
			verdict := "PASS"
			if o.rps < 0.8*r.rps {
				verdict = "MISS"
			}
			fmt.Printf("%-9s %8d %13.0f %13.0f %6.2f %12s  %-19s %-19s\n", cmd[0], p, r.rps, o.rps, o.rps/r.rps, "≥ 0.8 "+verdict, r.cpu, o.cpu)
		}
		if ours.txn != "" {
			fmt.Printf("%-9s %8d %13s %13s  n/a: %s\n", "TXN.ESHA", p, "-", "n/a", ours.txn)
			continue
		}
		var t result
		for range repeat {
			tr, err := bench(ours, "TXN.ESHA", ours.sha)
			if err != nil {
				return err
			}
			t = t.best(tr)
		}
		fmt.Printf("%-9s %8d %13s %13.0f  %.2f of StructD's EVALSHA (overhead %.0f%%), CPU %s µs/req\n", "TXN.ESHA", p, "-", t.rps, t.rps/evalsha, (evalsha/t.rps-1)*100, t.cpu)
	}
	return nil
}

// prepare loads the script and the library into the server at addr and
// checks they answer the same.
func prepare(name, addr string, port int) (*server, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	r := bufio.NewReader(nc)
	do := func(args ...string) (resp.Value, error) {
		b := fmt.Appendf(nil, "*%d\r\n", len(args))
		for _, a := range args {
			b = fmt.Appendf(b, "$%d\r\n%s\r\n", len(a), a)
		}
		if _, err := nc.Write(b); err != nil {
			return resp.Value{}, err
		}
		return resp.ReadReply(r)
	}
	s := &server{name: name, port: port}
	v, err := do("SCRIPT", "LOAD", rateLimiter)
	if err != nil || v.Kind != resp.KindBulk {
		return nil, fmt.Errorf("%s: SCRIPT LOAD: %v %v", name, v, err)
	}
	s.sha = string(v.Str)
	if v, err = do("FUNCTION", "LOAD", "REPLACE", library); err != nil || v.Kind != resp.KindBulk {
		return nil, fmt.Errorf("%s: FUNCTION LOAD: %v %v", name, v, err)
	}
	for _, call := range [][]string{{"EVALSHA", s.sha}, {"FCALL", "ratelimit"}} {
		v, err := do(append(call, "1", "check", "100", "1000", "1")...)
		if err != nil || v.Kind != resp.KindInt || v.Int != 1 {
			return nil, fmt.Errorf("%s: %s answered %v %v, want 1", name, call[0], v, err)
		}
	}
	if v, err = do("TXN.ESHA", s.sha, "1", "check", "100", "1000", "1"); err != nil {
		return nil, err
	}
	switch {
	case v.Kind == resp.KindError && strings.HasPrefix(string(v.Str), "ERR unknown command"):
		s.txn = "the server answers unknown command"
	case v.Kind != resp.KindInt || v.Int != 1:
		s.txn = fmt.Sprintf("TXN.ESHA answered %v", v)
	}
	return s, nil
}

// result is one benchmark run of a server: its requests per second, and
// the CPU time it spent per request.
type result struct {
	rps float64
	cpu cpuPerRequest
}

// best keeps the higher rate and the lower CPU time per request of r and
// x (each figure of the least disturbed run).
func (r result) best(x result) result {
	r.rps = max(r.rps, x.rps)
	if r.cpu.total() == 0 || x.cpu.total() < r.cpu.total() {
		r.cpu = x.cpu
	}
	return r
}

// cpuPerRequest is a server's CPU time per request in microseconds (zero
// where it could not be read).
type cpuPerRequest struct{ user, sys float64 }

func (c cpuPerRequest) total() float64 { return c.user + c.sys }

func (c cpuPerRequest) String() string {
	if c.total() == 0 {
		return "n/a" // no /proc to read
	}
	return fmt.Sprintf("%.1f (%.1fu+%.1fs)", c.total(), c.user, c.sys)
}

// benchmark runs redis-benchmark with one custom command against s and
// returns its requests per second and the CPU time s spent per request.
func benchmark(ctx context.Context, s *server, n, c, keys, pipeline int, command []string) (result, error) {
	args := []string{"-h", "127.0.0.1", "-p", strconv.Itoa(s.port), "-n", strconv.Itoa(n), "-c", strconv.Itoa(c),
		"-P", strconv.Itoa(pipeline), "-r", strconv.Itoa(keys), "--csv"}
	cmd := exec.CommandContext(ctx, "redis-benchmark", append(args, command...)...)
	cmd.Stderr = os.Stderr
	before, cpuErr := benchflag.ProcessCPU(s.pid)
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return result{}, errors.New("interrupted")
	}
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark on port %d: %w", s.port, err)
	}
	var res result
	if after, err := benchflag.ProcessCPU(s.pid); err == nil && cpuErr == nil {
		used := after.Sub(before)
		perRequest := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
		res.cpu = cpuPerRequest{perRequest(used.User), perRequest(used.Sys)}
	}
	records, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		return result{}, fmt.Errorf("redis-benchmark output: %w", err)
	}
	for _, rec := range records {
		if len(rec) >= 2 && rec[0] != "test" {
			res.rps, err = strconv.ParseFloat(rec[1], 64)
			return res, err
		}
	}
	return result{}, errors.New("redis-benchmark printed no results")
}
