//go:build linux

package main

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/structd/structd/bench/internal/benchflag"
)

// setThroughput starts a fresh server bin with the AOF on and appendfsync
// fsync (and no save schedule, on both servers alike), runs
// redis-benchmark -t set -P 16 -c 50 against it with random keys from the
// dataset's key space and its value size, and returns requests per second
// and the CPU time the server spent per million requests (processCPU).
func setThroughput(ctx context.Context, name, bin, root, fsync string, d dataset, requests int) (rps, cpuPerMillion metric) {
	s, err := newServer(name, bin, root, "--appendonly", "yes", "--appendfsync", fsync, "--save", "")
	if err != nil {
		return notMeasured(err), notMeasured(err)
	}
	defer os.RemoveAll(s.workDir)
	if err := s.start(ctx); err != nil {
		return notMeasured(err), notMeasured(err)
	}
	defer s.stop()
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port),
		"-t", "set", "-P", "16", "-c", "50", "-n", strconv.Itoa(requests),
		"-r", strconv.Itoa(d.keys), "-d", strconv.Itoa(d.valueSize), "--csv")
	cmd.Stderr = os.Stderr
	before, cpuErr := processCPU(s.pid)
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("redis-benchmark on %s: %w", name, err)
		return notMeasured(err), notMeasured(err)
	}
	after, err := processCPU(s.pid)
	switch {
	case cpuErr != nil:
		cpuPerMillion = notMeasured(cpuErr)
	case err != nil:
		cpuPerMillion = notMeasured(err)
	default:
		cpuPerMillion = measured((after - before).Seconds() * 1e6 / float64(requests))
	}
	// A server that accepted appendonly yes but wrote no AOF measured
	// something else.
	if n, err := dirSize(filepath.Join(s.dataDir, "appendonlydir")); err != nil {
		return notMeasured(err), cpuPerMillion
	} else if n == 0 {
		return notMeasured(fmt.Errorf("%s wrote no AOF under %s/appendonlydir", name, s.dataDir)), cpuPerMillion
	}
	records, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		return notMeasured(fmt.Errorf("redis-benchmark output: %w", err)), cpuPerMillion
	}
	for _, rec := range records {
		if len(rec) >= 2 && rec[0] == "SET" {
			v, err := strconv.ParseFloat(rec[1], 64)
			if err != nil {
				return notMeasured(fmt.Errorf("redis-benchmark row %q: %w", rec, err)), cpuPerMillion
			}
			return measured(v), cpuPerMillion
		}
	}
	return notMeasured(fmt.Errorf("redis-benchmark printed no SET row: %s", out)), cpuPerMillion
}

// processCPU is the CPU time process pid and the children it waited for
// (Redis's AOF rewrite) used so far.
func processCPU(pid int) (time.Duration, error) {
	c, err := benchflag.ProcessCPU(pid)
	return c.Total(), err
}
