// Command structd runs the StructD server.
//
// Usage, as redis-server:
//
//	structd [/path/to/structd.conf] [--directive value ...]
//	structd check-aof [--fix] <dir>    verify (or repair) the AOF of a stopped server
package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strconv"
	"syscall"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/config"
	"github.com/structd/structd/server"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check-aof" {
		os.Exit(checkAOF(os.Args[2:], os.Stdout))
	}
	os.Exit(run(os.Args[1:]))
}

// run starts the server and returns the process exit code: 0 after a
// clean shutdown (signal or SHUTDOWN), 1 if it cannot start.
func run(args []string) int {
	cfg, err := config.Load(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "\n*** FATAL CONFIG FILE ERROR (Redis %s) ***\n%v\n", commands.RedisVersion, err)
		return 1
	}
	var out io.Writer = os.Stderr
	if cfg.LogFile != "" {
		f, err := os.OpenFile(cfg.LogFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "Can't open the log file: %v\n", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	logger := slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: &cfg.Level}))
	slog.SetDefault(logger)

	if cfg.PidFile != "" {
		if err := os.WriteFile(cfg.PidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
			logger.Warn("cannot write the pid file", "path", cfg.PidFile, "err", err)
		} else {
			defer os.Remove(cfg.PidFile)
		}
	}

	// STRUCTD_CPUPROFILE=path writes a pprof CPU profile until shutdown
	// (bench/sidebyside -cpuprofile sets it).
	if path := os.Getenv("STRUCTD_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			logger.Error("cannot write the CPU profile", "path", path, "err", err)
			return 1
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	// STRUCTD_MEMPROFILE=path writes a pprof profile of the heap's
	// allocations (alloc_space: what made the garbage) at shutdown.
	if path := os.Getenv("STRUCTD_MEMPROFILE"); path != "" {
		defer func() {
			f, err := os.Create(path)
			if err == nil {
				err = errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
			}
			if err != nil {
				logger.Error("cannot write the memory profile", "path", path, "err", err)
			}
		}()
	}

	// An explicit GOMAXPROCS in the environment wins over server-threads;
	// when neither chose, the server tunes the count as it runs.
	opts := server.Options{Logger: logger}
	if os.Getenv("GOMAXPROCS") == "" {
		runtime.GOMAXPROCS(cfg.Threads())
		opts.TuneThreads = cfg.ServerThreads == 0
	}
	srv, err := server.New(cfg, opts)
	if err != nil {
		logger.Error("cannot load the data", "err", err)
		return 1
	}
	if err := srv.Start(); err != nil {
		logger.Error("cannot start server", "err", err)
		return 1
	}
	commands.RecordStartupMemory() // MEMORY STATS startup.allocated
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		logger.Info("received signal, shutting down", "signal", s.String())
	case <-srv.Done():
	}
	srv.Close()
	logger.Info("StructD is now ready to exit, bye bye...")
	return 0
}
