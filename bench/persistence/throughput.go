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
)

// setThroughput starts a fresh server bin with the AOF on and appendfsync
// fsync (and no save schedule, on both servers alike), runs
// redis-benchmark -t set -P 16 -c 50 against it with random keys from the
// dataset's key space and its value size, and returns requests per second.
func setThroughput(ctx context.Context, name, bin, root, fsync string, d dataset, requests int) metric {
	s, err := newServer(name, bin, root, "--appendonly", "yes", "--appendfsync", fsync, "--save", "")
	if err != nil {
		return notMeasured(err)
	}
	defer os.RemoveAll(s.workDir)
	if err := s.start(ctx); err != nil {
		return notMeasured(err)
	}
	defer s.stop()
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-h", "127.0.0.1", "-p", strconv.Itoa(s.port),
		"-t", "set", "-P", "16", "-c", "50", "-n", strconv.Itoa(requests),
		"-r", strconv.Itoa(d.keys), "-d", strconv.Itoa(d.valueSize), "--csv")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return notMeasured(fmt.Errorf("redis-benchmark on %s: %w", name, err))
	}
	// A server that accepted appendonly yes but wrote no AOF measured
	// something else.
	if n, err := dirSize(filepath.Join(s.dataDir, "appendonlydir")); err != nil {
		return notMeasured(err)
	} else if n == 0 {
		return notMeasured(fmt.Errorf("%s wrote no AOF under %s/appendonlydir", name, s.dataDir))
	}
	records, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		return notMeasured(fmt.Errorf("redis-benchmark output: %w", err))
	}
	for _, rec := range records {
		if len(rec) >= 2 && rec[0] == "SET" {
			rps, err := strconv.ParseFloat(rec[1], 64)
			if err != nil {
				return notMeasured(fmt.Errorf("redis-benchmark row %q: %w", rec, err))
			}
			return measured(rps)
		}
	}
	return notMeasured(fmt.Errorf("redis-benchmark printed no SET row: %s", out))
}
