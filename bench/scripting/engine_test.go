package main

// The benchmark's script without the network: commands.Exec of EVALSHA
// and FCALL of the rate limiter over redis-benchmark's key space (-r
// 100000), on one goroutine as one connection runs them, so that a change
// to the scripting engine or the interpreter shows in ns/op, allocs/op
// and cpu-ns/op (the process's CPU time per call, which a busy machine
// moves less than the wall time):
//
//	go test -run - -bench . -benchmem ./bench/scripting

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	_ "github.com/structd/structd/scripting" // the engine behind commands.NewScriptEngine
)

// engineServer is the little of a server that scripts ask for: its script
// engine and configuration, no persistence, no replication. The embedded
// interface is nil: whatever else is called panics.
type engineServer struct {
	commands.Server
	engine commands.ScriptEngine
	cfg    *config.Config
}

func (s *engineServer) ScriptEngine() commands.ScriptEngine { return s.engine }
func (s *engineServer) Config() *config.Config              { return s.cfg }
func (s *engineServer) Persistence() commands.Persistence   { return nil }
func (s *engineServer) ReadOnlyReplica() bool               { return false }

// processCPU is the CPU time the process used so far, in nanoseconds.
func processCPU() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

const benchKeySpace = 100000 // redis-benchmark -r 100000

func BenchmarkRateLimiter(b *testing.B) {
	srv := &engineServer{engine: commands.NewScriptEngine(), cfg: config.Default()}
	c := &commands.Ctx{
		W:       &resp.Writer{Proto: 2},
		Session: &commands.Session{Authenticated: true, Proto: 2},
		KS:      memtier.New(16, memtier.NewManualClock(1_700_000_000_000)),
		Server:  srv,
	}
	exec := func(args ...[]byte) []byte {
		c.W.Reset()
		c.Args = args
		cmd := commands.All().Lookup(args[0])
		if cmd.Subcommands != nil {
			cmd = cmd.Subcommands[string(args[1])]
		}
		commands.Exec(c, cmd)
		return c.W.Buf
	}
	reply, err := resp.ReadReply(bufio.NewReader(bytes.NewReader(exec([]byte("SCRIPT"), []byte("load"), []byte(rateLimiter)))))
	if err != nil || reply.Kind != resp.KindBulk {
		b.Fatalf("SCRIPT LOAD: %v %v", reply, err)
	}
	sha := reply.Str
	if out := exec([]byte("FUNCTION"), []byte("load"), []byte(library)); out[0] != '$' {
		b.Fatalf("FUNCTION LOAD: %q", out)
	}
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([][]byte, 1<<16)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "bucket:%012d", r.IntN(benchKeySpace))
	}
	for _, call := range [][]byte{[]byte("EVALSHA"), []byte("FCALL")} {
		name := sha
		if string(call) == "FCALL" {
			name = []byte("ratelimit")
		}
		b.Run(string(call), func(b *testing.B) {
			args := [][]byte{call, name, []byte("1"), nil, []byte("100"), []byte("1000"), []byte("1")}
			for _, k := range keys { // every bucket exists, as in a long run
				args[3] = k
				if out := exec(args...); string(out) != ":1\r\n" && string(out) != ":0\r\n" {
					b.Fatalf("%s answered %q", call, out)
				}
			}
			b.ReportAllocs()
			before := processCPU()
			i := 0
			for b.Loop() {
				args[3] = keys[i&(len(keys)-1)]
				exec(args...)
				i++
			}
			// The process's CPU time (the collector's included) moves
			// less than the wall time on a busy machine.
			b.ReportMetric(float64(processCPU()-before)/float64(b.N), "cpu-ns/op")
		})
	}
}
