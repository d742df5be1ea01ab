//go:build linux

package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/structd/structd/commands"
)

// rss is the resident set size (VmRSS) of pid in bytes.
func rss(pid int) (uint64, error) {
	if n := commands.ProcessRSS(pid); n > 0 {
		return n, nil
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// pss is the proportional set size of pid in bytes, from the Pss line of
// /proc/PID/smaps_rollup: pages shared with a fork child count half to
// each, so parent + child PSS is the memory the pair really holds.
func pss(pid int) (uint64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if rest, ok := bytes.CutPrefix(line, []byte("Pss:")); ok {
			kb, err := strconv.ParseUint(string(bytes.TrimSpace(bytes.TrimSuffix(bytes.TrimSpace(rest), []byte("kB")))), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("smaps_rollup of %d: Pss line %q", pid, line)
			}
			return kb << 10, nil
		}
	}
	return 0, fmt.Errorf("smaps_rollup of %d has no Pss line", pid)
}

// children are the processes whose parent is pid, from the children files
// of its threads (a fork child is a child of the thread that forked).
func children(pid int) []int {
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []int
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, field := range bytes.Fields(data) {
			if k, err := strconv.Atoi(string(field)); err == nil {
				kids = append(kids, k)
			}
		}
	}
	return kids
}

// familyPSS is the PSS of pid plus that of its children, and how many
// children it counted. A child that exits between the listing and the
// read is left out: its memory is gone with it.
func familyPSS(pid int) (total uint64, kids int, err error) {
	if total, err = pss(pid); err != nil {
		return 0, 0, err
	}
	for _, k := range children(pid) {
		if p, err := pss(k); err == nil {
			total += p
			kids++
		}
	}
	return total, kids, nil
}

// sampler polls a memory reading at a fixed interval in the background and
// keeps its maximum, until Stop.
type sampler struct {
	stop chan struct{}
	done chan struct{}

	mu      sync.Mutex
	peak    uint64
	samples int
	marked  int // samples for which read reported mark (a fork child seen)
	err     error
}

// sample starts polling read every interval; read returns the value and
// whether the sample is a marked one.
func sample(interval time.Duration, read func() (uint64, bool, error)) *sampler {
	s := &sampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			v, mark, err := read()
			s.mu.Lock()
			if err != nil && s.err == nil {
				s.err = err
			}
			if err == nil {
				s.samples++
				s.peak = max(s.peak, v)
				if mark {
					s.marked++
				}
			}
			s.mu.Unlock()
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// Stop ends the polling and returns the peak, the sample counts and the
// first read error.
func (s *sampler) Stop() (peak uint64, samples, marked int, err error) {
	close(s.stop)
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.samples, s.marked, s.err
}

// dirSize is the total size of the regular files under path (0 if it does
// not exist).
func dirSize(path string) (int64, error) {
	var total int64
	err := filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if d.Type().IsRegular() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			total += info.Size()
		}
		return nil
	})
	return total, err
}
