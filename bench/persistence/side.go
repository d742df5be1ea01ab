//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// metric is one measured figure, or why it could not be measured.
type metric struct {
	v  float64
	na string // non-empty: not measured, and why
}

func measured(v float64) metric { return metric{v: v} }
func notMeasured(err error) metric {
	return metric{na: err.Error()}
}

// median is the median of the measured metrics among ms (the mean of the
// middle two of an even count), or the first one's reason when none was
// measured. ms is not empty (-set-runs ≥ 1).
func median(ms []metric) metric {
	var vs []float64
	for _, m := range ms {
		if m.na == "" {
			vs = append(vs, m.v)
		}
	}
	if len(vs) == 0 {
		return ms[0]
	}
	slices.Sort(vs)
	mid := len(vs) / 2
	if len(vs)%2 == 0 {
		return measured((vs[mid-1] + vs[mid]) / 2)
	}
	return measured(vs[mid])
}

// sideResult is what one server measured in the checkpoint and restart
// phases.
type sideResult struct {
	extraMemory metric // bytes over the pre-checkpoint figure, at the peak
	fullSave    metric // seconds, the first BGSAVE after loading
	changedSave metric // seconds, BGSAVE after 1% of the keys changed
	firstGet    metric // seconds from process start to a right GET
	allInMemory metric // seconds from process start to no cold keys (StructD, --warmup yes)
	disk        metric // bytes on disk after the checkpoints
	notes       []string
}

func (r *sideResult) note(format string, args ...any) {
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

// options are the benchmark's settings.
type options struct {
	data             dataset
	overwriteClients int
	overwriteRate    int // SETs a second in total, 0: unpaced
	samplePeriod     time.Duration
	settle           time.Duration // overwrite load before the checkpoint starts
	timeout          time.Duration // bound on any one wait
}

// measureSide loads the dataset from respPath into the started server s
// and runs the checkpoint, disk size and restart measures on it. An error
// is returned only when the server cannot be loaded; a measure that fails
// is n/a with its reason.
func measureSide(ctx context.Context, s *server, respPath string, o options) (*sideResult, error) {
	skipped := metric{na: "not measured: a step before it failed"}
	r := &sideResult{skipped, skipped, skipped, skipped, skipped, skipped, nil}
	if s.name != "structd" {
		r.allInMemory = metric{na: "StructD only"}
	}
	t0 := time.Now()
	if err := load(ctx, s.port, respPath); err != nil {
		return nil, err
	}
	r.note("loaded %d keys with redis-cli --pipe in %.1f s", o.data.keys, time.Since(t0).Seconds())
	if err := checkDBSize(s.c, o.data.keys); err != nil {
		return nil, fmt.Errorf("%s after loading: %w", s.name, err)
	}
	ours := s.name == "structd"
	if ours {
		if err := s.waitNoSave(ctx, o.timeout); err != nil {
			r.note("waiting for a running checkpoint before the first BGSAVE: %v", err)
		}
	}
	r.note("before the first BGSAVE: %s", dirtyCount(s.c))
	progress("%s: first BGSAVE under the overwrite load", s.name)
	checkpointUnderLoad(ctx, s, o, r)

	if ours {
		// The keys the load overwrote during the first checkpoint belong
		// to the next one: write them now, so the timed checkpoint below
		// holds only the 1% changed on purpose.
		if _, err := s.bgsave(ctx, o.timeout); err != nil {
			r.note("settling BGSAVE: %v", err)
		}
	}
	progress("%s: overwriting 1%% of the keys, BGSAVE", s.name)
	if n, err := overwriteFraction(s.c, o.data, 100); err != nil {
		r.changedSave = notMeasured(err)
	} else {
		r.note("overwrote %d keys (1%%); then %s", n, dirtyCount(s.c))
		r.changedSave = timedSave(ctx, s, o)
	}

	mode := "NOSAVE" // StructD: the checkpoint and the AOF hold everything
	if !ours {
		mode = "" // Redis with save "" does not save on SHUTDOWN; its RDB is current unless:
		if n, err := s.c.infoInt("persistence", "rdb_changes_since_last_save"); err != nil || n != 0 {
			mode = "SAVE"
		}
	}
	if err := s.shutdown(ctx, o.timeout, mode); err != nil {
		return nil, err
	}
	r.disk = diskSize(s)
	progress("%s: restarts", s.name)
	restartMeasures(ctx, s, o, r)
	for _, w := range s.warnings {
		r.note("warning: %s", w)
	}
	return r, nil
}

// checkpointUnderLoad runs the first BGSAVE while the overwrite load runs,
// sampling the server's memory: StructD's RSS, Redis's PSS with its fork
// child's.
func checkpointUnderLoad(ctx context.Context, s *server, o options, r *sideResult) {
	load, err := startOverwriter(ctx, s.addr, o.data, o.overwriteClients, o.overwriteRate)
	if err != nil {
		r.extraMemory, r.fullSave = notMeasured(err), notMeasured(err)
		return
	}
	read := func() (uint64, bool, error) { v, err := rss(s.pid); return v, false, err }
	if s.name == "redis" {
		read = func() (uint64, bool, error) { v, kids, err := familyPSS(s.pid); return v, kids > 0, err }
	}
	// The same sampling while the load runs alone shows how much the
	// figure moves without a checkpoint (garbage collection, allocator).
	settling := sample(o.samplePeriod, read)
	select {
	case <-ctx.Done():
	case <-time.After(o.settle):
	}
	settlePeak, _, _, _ := settling.Stop()
	base, _, baseErr := read()
	before := load.sets.Load()
	sampling := sample(o.samplePeriod, read)
	elapsed, saveErr := s.bgsave(ctx, o.timeout)
	peak, samples, withChild, sampleErr := sampling.Stop()
	sets, loadErr := load.Stop()
	switch {
	case saveErr != nil:
		r.extraMemory, r.fullSave = notMeasured(saveErr), notMeasured(saveErr)
		return
	case loadErr != nil:
		r.extraMemory = notMeasured(fmt.Errorf("the overwrite load failed: %w", loadErr))
	case baseErr != nil || sampleErr != nil:
		r.extraMemory = notMeasured(fmt.Errorf("reading memory: %v %v", baseErr, sampleErr))
	case s.name == "redis" && withChild == 0:
		r.extraMemory = notMeasured(fmt.Errorf("no fork child seen in %d samples (sample faster with -sample)", samples))
	default:
		r.extraMemory = measured(float64(peak) - float64(min(base, peak)))
	}
	r.fullSave = measured(elapsed.Seconds())
	kind := "RSS"
	if s.name == "redis" {
		kind = fmt.Sprintf("PSS parent+child (child seen in %d of the samples)", withChild)
	}
	r.note("first BGSAVE under load: %s %.1f MiB before (peak %.1f MiB in the %v of load before it), peak %.1f MiB during it, %d samples every %v; %d SETs during it (%.0f/s), %d in all",
		kind, mib(base), mib(settlePeak), o.settle, mib(peak), samples, o.samplePeriod, sets-before, float64(sets-before)/elapsed.Seconds(), sets)
	if s.name == "structd" {
		if f, err := s.c.info("persistence"); err == nil {
			if v, ok := f["checkpoint_peak_extra_memory"]; ok {
				r.note("INFO persistence checkpoint_peak_extra_memory:%s", v)
			}
		}
		// Where the memory went: the resident set's growth split into
		// the Go heap's, the Go runtime's and the checkpoint's buffers.
		if line := s.lastLogLine(`msg="checkpoint done"`); line != "" {
			r.note("its log: %s", line)
		}
	}
}

// timedSave is a BGSAVE's wall time as a metric.
func timedSave(ctx context.Context, s *server, o options) metric {
	d, err := s.bgsave(ctx, o.timeout)
	if err != nil {
		return notMeasured(err)
	}
	return measured(d.Seconds())
}

// restartMeasures restarts the stopped server s and times the first right
// GET; StructD is then restarted with --warmup yes and timed until every
// key is in memory.
func restartMeasures(ctx context.Context, s *server, o options, r *sideResult) {
	i := rand.New(rand.NewPCG(7, 7)).IntN(o.data.keys)
	key := string(o.data.key(nil, i))
	elapsed, err := s.restart(ctx, o.timeout, nil, func(c *conn) (bool, error) {
		v, err := c.do("GET", key)
		switch {
		case err != nil:
			return false, err
		case v.Null:
			return false, fmt.Errorf("GET %s after the restart: nil (the key was not persisted)", key)
		case !o.data.matches(v.Str, i):
			return false, fmt.Errorf("GET %s after the restart: a wrong value %.20q...", key, v.Str)
		}
		return true, nil
	})
	if err != nil {
		r.firstGet = notMeasured(err)
		r.allInMemory = notMeasured(errors.New("the restart without warm-up failed"))
		s.stop()
		return
	}
	r.firstGet = measured(elapsed.Seconds())
	if err := checkDBSize(s.c, o.data.keys); err != nil {
		r.note("after the restart: %v", err)
	}
	if s.name != "structd" {
		s.shutdown(ctx, o.timeout, "NOSAVE")
		return
	}
	if err := s.shutdown(ctx, o.timeout, "NOSAVE"); err != nil {
		r.allInMemory = notMeasured(err)
		return
	}
	elapsed, err = s.restart(ctx, o.timeout, []string{"--warmup", "yes"}, func(c *conn) (bool, error) {
		f, err := c.info("persistence")
		if err != nil {
			return false, err
		}
		cold, err := intField(f, "persistence", "cold_keys")
		if err != nil {
			return false, err
		}
		warming, err := intField(f, "persistence", "warmup_in_progress")
		return cold == 0 && warming == 0, err
	})
	if err != nil {
		r.allInMemory = notMeasured(err)
		s.stop()
		return
	}
	r.allInMemory = measured(elapsed.Seconds())
	if err := checkDBSize(s.c, o.data.keys); err != nil {
		r.allInMemory = notMeasured(fmt.Errorf("after the warm-up: %w", err))
	}
	s.shutdown(ctx, o.timeout, "NOSAVE")
}

// diskSize is what the stopped server keeps on disk: StructD's store and
// AOF directories, Redis's dump.rdb.
func diskSize(s *server) metric {
	if s.name == "redis" {
		st, err := os.Stat(filepath.Join(s.dataDir, "dump.rdb"))
		if err != nil {
			return notMeasured(err)
		}
		return measured(float64(st.Size()))
	}
	var total int64
	for _, sub := range []string{"store", "appendonlydir"} {
		n, err := dirSize(filepath.Join(s.dataDir, sub))
		if err != nil {
			return notMeasured(err)
		}
		total += n
	}
	if total == 0 {
		return notMeasured(fmt.Errorf("no files under %s/store or appendonlydir", s.dataDir))
	}
	return measured(float64(total))
}

// checkDBSize checks that the server holds keys keys.
func checkDBSize(c *conn, keys int) error {
	v, err := c.do("DBSIZE")
	if err != nil {
		return fmt.Errorf("DBSIZE: %w", err)
	}
	if v.Int != int64(keys) {
		return fmt.Errorf("DBSIZE is %d, want %d", v.Int, keys)
	}
	return nil
}

// dirtyCount says how many changes the next checkpoint will write, by
// StructD's checkpoint_dirty_keys or else Redis's
// rdb_changes_since_last_save.
func dirtyCount(c *conn) string {
	f, err := c.info("persistence")
	if err != nil {
		return err.Error()
	}
	for _, field := range []string{"checkpoint_dirty_keys", "rdb_changes_since_last_save"} {
		if v, ok := f[field]; ok {
			return field + ":" + v
		}
	}
	return "INFO persistence has neither checkpoint_dirty_keys nor rdb_changes_since_last_save"
}

func mib(b uint64) float64 { return float64(b) / (1 << 20) }
