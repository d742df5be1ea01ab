package server

import (
	"os"
	"runtime"
	"sync"
	"time"
)

// How many threads run Go code (GOMAXPROCS).
//
// The operator may choose (server-threads, or GOMAXPROCS in the
// environment). Otherwise cmd/structd starts on one thread per CPU but one
// (config.Threads) and the server tunes it by measuring (tuneThreadCount):
// neither count is right for every workload. Measured on the 2-core
// machine with redis-benchmark beside the server, one thread serves small
// commands on a few keys best (the client needs the other core, and a
// second thread only adds cross-core wake-ups: bench/sidebyside, SET -P 16
// 1.20M req/s against 0.98M), two threads serve commands that do more work
// best (SET of 256-byte values over a million keys, -P 16, AOF on: 237k
// against 381k req/s).
//
// Checkpoints and the warm-up use every CPU while they run, whatever the
// count (useAllCPUs): they are bulk work that splits into independent
// parts (the checkpoint walker's, the warm-up's slot ranges), and Redis's
// BGSAVE runs its fork child on another core too.

// threads is the process-wide state (GOMAXPROCS is; tests run several
// servers in one process).
var threads struct {
	sync.Mutex
	boosts int   // background jobs running on every CPU
	edges  int64 // boosts started and ended, so a tuner sees one that came and went
	saved  int   // the count outside boosts, while one runs
}

// useAllCPUs lets Go code run on every CPU until the returned function is
// called, when the server's thread count is its default.
func (s *Server) useAllCPUs() (restore func()) {
	if s.cfg.ServerThreads > 0 || os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	threads.Lock()
	if threads.boosts++; threads.boosts == 1 {
		threads.saved = runtime.GOMAXPROCS(runtime.NumCPU())
		threads.edges++
	}
	threads.Unlock()
	return func() {
		threads.Lock()
		if threads.boosts--; threads.boosts == 0 {
			runtime.GOMAXPROCS(threads.saved)
			threads.edges++
		}
		threads.Unlock()
	}
}

// setThreads sets the thread count to n, unless a boost began or ended
// since the tuner's last look (edges is what it saw then): it reports
// whether it did, and the edges now.
func setThreads(n int, edges int64) (bool, int64) {
	threads.Lock()
	defer threads.Unlock()
	if threads.boosts > 0 || threads.edges != edges {
		return false, threads.edges
	}
	runtime.GOMAXPROCS(n)
	return true, threads.edges
}

// boostEdges is how many times a boost began or ended, and whether one
// runs.
func boostEdges() (int64, bool) {
	threads.Lock()
	defer threads.Unlock()
	return threads.edges, threads.boosts > 0
}

// Tuning windows: the tuner compares commands served per window.
const (
	tuneWindow = 250 * time.Millisecond
	// tuneMinServed is the least a window must serve to count: under it
	// the server is not busy, and the thread count does not matter.
	tuneMinServed = 2500 // 10k commands/s
	// A probe that loses waits twice as long as the last before the next,
	// from tuneFirstWait up to tuneMaxWait windows (5 s to 60 s): a
	// workload that suits the current count pays for few probes.
	tuneFirstWait = 20
	tuneMaxWait   = 240
	// tuneGain is how much better the other count must serve to be kept.
	tuneGain = 1.05
)

// threadTuner decides, from the commands served in consecutive windows,
// which of two thread counts to run on. It measures two windows at the
// current count, switches to the other, lets one window pass (it straddles
// the switch), measures two windows, and keeps the count that served more
// (the other only when it served tuneGain times more). A window in which
// a checkpoint used every CPU says nothing about the count and is passed
// over; a window that is not busy ends the workload measured, and cancels
// the measurement (a probe goes back to where it started). It does not set
// the thread count itself: tuneThreadCount does, and tests drive it
// window by window.
type threadTuner struct {
	counts  [2]int // the two thread counts
	cur     int    // index into counts of the count in use
	from    int    // the count a probe started from
	probing bool
	skip    bool    // the next window straddles a switch
	samples []int64 // served in the windows measured so far, this phase
	before  int64   // served in the two windows before the probe
	wait    int     // windows to let pass before the next probe
	nextGap int     // wait after the next probe that loses
}

func newThreadTuner(low, high int) *threadTuner {
	return &threadTuner{counts: [2]int{low, high}, nextGap: tuneFirstWait}
}

// threads is the thread count in use.
func (t *threadTuner) threads() int { return t.counts[t.cur] }

// reset drops the measurement in progress and takes n, one of the two
// counts, as the one in use.
func (t *threadTuner) reset(n int) {
	t.cur = 0
	if n == t.counts[1] {
		t.cur = 1
	}
	t.probing, t.skip, t.samples = false, false, t.samples[:0]
}

// window takes the commands served in the window that just ended and
// whether every CPU was in use in any part of it; it returns the thread
// count to run on from now.
func (t *threadTuner) window(served int64, boosted bool) int {
	if boosted {
		return t.threads()
	}
	if served < tuneMinServed {
		if t.probing {
			t.cur, t.probing = t.from, false
		}
		t.skip, t.samples = false, t.samples[:0]
		return t.threads()
	}
	if t.skip {
		t.skip = false
		return t.threads()
	}
	if t.wait > 0 && !t.probing {
		t.wait--
		return t.threads()
	}
	if t.samples = append(t.samples, served); len(t.samples) < 2 {
		return t.threads()
	}
	sum := t.samples[0] + t.samples[1]
	t.samples = t.samples[:0]
	if !t.probing {
		t.before, t.from, t.probing, t.skip = sum, t.cur, true, true
		t.cur = 1 - t.cur
		return t.threads()
	}
	t.probing = false
	if float64(sum) >= tuneGain*float64(t.before) {
		t.nextGap = tuneFirstWait
	} else {
		t.cur, t.skip = t.from, true
		t.nextGap = min(2*t.nextGap, tuneMaxWait)
	}
	t.wait = t.nextGap
	return t.threads()
}

// tuneThreadCount runs the tuner over this server's commands until the server
// shuts down. cmd/structd asks for it (Options.TuneThreads) when neither
// server-threads nor GOMAXPROCS chose the count.
func (s *Server) tuneThreadCount() {
	low, high := max(1, runtime.NumCPU()-1), runtime.NumCPU()
	if low == high {
		return
	}
	t := newThreadTuner(low, high)
	t.reset(runtime.GOMAXPROCS(0))
	tick := time.NewTicker(tuneWindow)
	defer tick.Stop()
	last := s.stats.CommandsProcessed.Load()
	seen, _ := boostEdges()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-tick.C:
		}
		now := s.stats.CommandsProcessed.Load()
		served := now - last // negative after CONFIG RESETSTAT: not busy
		last = now
		edges, running := boostEdges()
		had := t.threads()
		want := t.window(served, running || edges != seen)
		seen = edges
		if want == had {
			continue
		}
		ok, edges := setThreads(want, seen)
		seen = edges
		if !ok {
			t.reset(had) // a boost began: the count stays, the measurement starts over
			continue
		}
		s.log.Debug("server threads changed", "from", had, "to", want, "probing", t.probing)
	}
}
