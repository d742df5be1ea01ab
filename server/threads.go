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
//
// Under appendfsync always the AOF's flusher fsyncs without giving up its
// thread's P (aof: vfs.File.SyncData is a raw system call), back to back
// while clients write. On one thread, no command could run during an
// fsync: each client's next command waited for the fsync after the one
// that covered its last. So while a server of the default count runs
// under always, the flusher gets a thread of its own on top
// (reserveFlusherThread). Measured with redis-benchmark -t set -c 50 under
// always on the 2-core machine: -P 1 -d 3 -r 1000, 56-62k req/s on one
// thread against 60-65k on two; -P 16 -d 256 over 8M keys, 183-243k
// against 246-275k.

// threads is the process-wide state (GOMAXPROCS is; tests run several
// servers in one process).
//
// Nothing that changes the count waits for it: runtime.GOMAXPROCS stops
// the world and first waits for a garbage collection in progress to end,
// which with millions of keys takes a second. A checkpoint that waited
// there to put the count back kept BGSAVE running a second past its end
// (8M keys, a 1% checkpoint of 0.3 s timed at 1.3 s). So callers set the
// count wanted, and one goroutine (applyThreads) applies the latest.
var threads struct {
	sync.Mutex
	boosts int // background jobs running on every CPU
	// flushers counts servers whose AOF flusher holds a P of its own
	// (appendfsync always): one more P while any does.
	flushers int
	edges    int64 // boosts started and ended, so a tuner sees one that came and went
	base     int   // the count outside boosts; 0 until the first change
	start    sync.Once
	wake     chan struct{}
}

// wantedLocked is the count to run on now; 0 leaves it as it is.
func wantedLocked() int {
	n := threads.base
	if threads.boosts > 0 {
		n = runtime.NumCPU()
	}
	if n > 0 && threads.flushers > 0 {
		n++
	}
	return n
}

// changedLocked wakes the goroutine that applies the count, starting it
// the first time.
func changedLocked() {
	if threads.base == 0 {
		threads.base = runtime.GOMAXPROCS(0) // reads it: no stop
	}
	threads.start.Do(func() {
		threads.wake = make(chan struct{}, 1)
		go applyThreads()
	})
	select {
	case threads.wake <- struct{}{}:
	default: // a wake-up is pending: it will read the latest
	}
}

// applyThreads sets GOMAXPROCS to the count wanted each time it changes,
// for the life of the process.
func applyThreads() {
	for range threads.wake {
		threads.Lock()
		n := wantedLocked()
		threads.Unlock()
		if n > 0 && n != runtime.GOMAXPROCS(0) {
			runtime.GOMAXPROCS(n)
		}
	}
}

// useAllCPUs lets Go code run on every CPU until the returned function is
// called, when the server's thread count is its default. The change takes
// effect shortly after (see threads).
func (s *Server) useAllCPUs() (restore func()) {
	if s.cfg.ServerThreads > 0 || os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	threads.Lock()
	if threads.boosts++; threads.boosts == 1 {
		threads.edges++
		changedLocked()
	}
	threads.Unlock()
	return func() {
		threads.Lock()
		if threads.boosts--; threads.boosts == 0 {
			threads.edges++
			changedLocked()
		}
		threads.Unlock()
	}
}

// reserveFlusherThread adds a thread for the AOF's flusher while on is set
// (appendfsync always), for a server whose count is the default;
// reserved is whether this server holds the reservation now, and the
// result whether it holds it after.
func reserveFlusherThread(on, reserved bool) bool {
	if on == reserved {
		return on
	}
	threads.Lock()
	defer threads.Unlock()
	if on {
		threads.flushers++
	} else {
		threads.flushers--
	}
	threads.edges++ // a probe measuring across this change decides nothing
	changedLocked()
	return on
}

// baseThreads is the thread count outside boosts and the flusher's thread.
func baseThreads() int {
	threads.Lock()
	defer threads.Unlock()
	if threads.base == 0 {
		return runtime.GOMAXPROCS(0) // nothing changed it yet
	}
	return threads.base
}

// setThreads makes n the thread count, unless a boost began or ended
// since the tuner's last look (edges is what it saw then): it reports
// whether it did, and the edges now.
func setThreads(n int, edges int64) (bool, int64) {
	threads.Lock()
	defer threads.Unlock()
	if threads.boosts > 0 || threads.edges != edges {
		return false, threads.edges
	}
	threads.base = n
	changedLocked()
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
	// A probe that decides nothing (the workload changed under it) is
	// retried after tuneRetryWait windows, twice as long after each
	// such probe in a row, up to the wait after a losing probe (up to
	// tuneMaxWait for probes an idle window cut short).
	tuneRetryWait = 4
	// tuneGain is how much better the other count must serve to be kept.
	tuneGain = 1.05
	// tuneDecisive is a gain that ends a probe early: B is kept without
	// measuring A again when it served this much more than A's two
	// windows before it, which agreed within tuneSteady. A workload
	// that changed instead is found out by the next probe, a few seconds
	// later; waiting for A again cost a short burst (a benchmark's run of
	// a few seconds) most of its time at the worse count. Its 20% is
	// twice tuneSteady. At 1.3, the SET benchmark of bench/persistence (two
	// threads serve it 1.28-1.6 times faster) was kept at two threads in
	// some runs and put back on one in others, where the checkpoints
	// left the full probe no steady windows to decide in.
	tuneDecisive = 1.2
)

// threadTuner decides, from the commands served in consecutive windows,
// which of two thread counts to run on. A probe measures two windows at
// the current count (A), two at the other (B), and two at A again, each
// after a window that straddles the switch; B is kept only when it served
// tuneGain times more than A did before and after. Measuring A on both
// sides tells a better count from a workload that changed meanwhile: when
// A's two measures differ by more than tuneSteady, the probe decides
// nothing. A decisive win (tuneDecisive over a steady A) is kept at once.
// The first busy window after an idle one is passed over: the workload
// started during it. A window in which a checkpoint used every CPU says nothing about
// the count and is passed over; a window that is not busy ends the
// workload measured, and cancels the probe (back to A), which then decided
// nothing too. The tuner does not set the thread count itself:
// tuneThreadCount does, and tests drive it window by window.
type threadTuner struct {
	counts   [2]int // the two thread counts
	cur      int    // index into counts of the count in use
	phase    tunePhase
	skip     bool    // the next window straddles a switch
	idle     bool    // the last window was not busy: the next busy one is a workload's start
	samples  []int64 // served in the windows measured so far, this phase
	before   int64   // served in A's two windows before B
	steady   bool    // those two windows agreed within tuneSteady
	during   int64   // served in B's two windows
	wait     int     // windows to let pass before the next probe
	nextGap  int     // wait after the next probe that does not switch
	retryGap int     // wait after the next probe that decides nothing
}

type tunePhase int

const (
	tuneSettled tunePhase = iota // at A, waiting or measuring before a probe
	tuneTrying                   // at B
	tuneBack                     // at A again
)

// tuneSteady is how far A's measures before and after B may differ for a
// probe to decide.
const tuneSteady = 0.10

func newThreadTuner(low, high int) *threadTuner {
	return &threadTuner{counts: [2]int{low, high}, idle: true, nextGap: tuneFirstWait, retryGap: tuneRetryWait}
}

// threads is the thread count in use.
func (t *threadTuner) threads() int { return t.counts[t.cur] }

// reset drops the probe in progress and takes n, one of the two counts,
// as the one in use.
func (t *threadTuner) reset(n int) {
	t.cur = 0
	if n == t.counts[1] {
		t.cur = 1
	}
	t.phase, t.skip, t.samples = tuneSettled, false, t.samples[:0]
}

// backOff sets the wait after a probe that decided nothing: the next comes
// soon, unless they keep failing so (the wait doubles up to limit).
func (t *threadTuner) backOff(limit int) {
	t.wait, t.retryGap = t.retryGap, min(2*t.retryGap, limit)
}

// window takes the commands served in the window that just ended and
// whether every CPU was in use in any part of it; it returns the thread
// count to run on from now.
func (t *threadTuner) window(served int64, boosted bool) int {
	if boosted {
		return t.threads()
	}
	if served < tuneMinServed {
		if t.phase == tuneTrying {
			t.cur = 1 - t.cur
		}
		if t.phase != tuneSettled {
			// A probe cut short decided nothing, and cost the workload
			// its windows at the other count: back off, up to the
			// longest wait, or bursts shorter than a probe (a
			// benchmark's runs, alternating with another server's) would
			// each pay for one.
			t.backOff(tuneMaxWait)
		}
		t.phase, t.skip, t.samples, t.idle = tuneSettled, false, t.samples[:0], true
		return t.threads()
	}
	if t.skip || t.idle {
		// A window that straddles a switch, or in which the workload
		// started (it was busy only for part of it), measures neither
		// count.
		t.skip, t.idle = false, false
		return t.threads()
	}
	if t.wait > 0 && t.phase == tuneSettled {
		t.wait--
		return t.threads()
	}
	if t.samples = append(t.samples, served); len(t.samples) < 2 {
		return t.threads()
	}
	sum := t.samples[0] + t.samples[1]
	steady := agree(t.samples[0], t.samples[1])
	t.samples = t.samples[:0]
	switch t.phase {
	case tuneSettled:
		t.before, t.steady, t.phase = sum, steady, tuneTrying
	case tuneTrying:
		if t.steady && float64(sum) >= tuneDecisive*float64(t.before) {
			t.phase, t.retryGap = tuneSettled, tuneRetryWait
			t.nextGap, t.wait = tuneFirstWait, tuneFirstWait
			return t.threads()
		}
		t.during, t.phase = sum, tuneBack
	case tuneBack:
		t.phase = tuneSettled
		a := max(t.before, sum)
		if !agree(t.before, sum) {
			// The workload changed under the probe: it decides nothing.
			t.backOff(t.nextGap)
			return t.threads()
		}
		t.retryGap = tuneRetryWait
		if float64(t.during) < tuneGain*float64(a) {
			t.nextGap = min(2*t.nextGap, tuneMaxWait)
			t.wait = t.nextGap
			return t.threads()
		}
		t.nextGap, t.wait = tuneFirstWait, tuneFirstWait
	}
	t.cur, t.skip = 1-t.cur, true
	return t.threads()
}

// agree reports whether two measures of the same count differ by at most
// tuneSteady of the larger.
func agree(a, b int64) bool {
	hi := max(a, b)
	return float64(hi-min(a, b)) <= tuneSteady*float64(hi)
}

// tuneThreadCount runs the tuner over this server's commands until the
// server shuts down, and holds the flusher's thread while appendfsync is
// always (reserveFlusherThread), window by window. cmd/structd asks for it
// (Options.TuneThreads) when neither server-threads nor GOMAXPROCS chose
// the count.
func (s *Server) tuneThreadCount() {
	var t *threadTuner // nil on one CPU: nothing to choose from
	if low, high := max(1, runtime.NumCPU()-1), runtime.NumCPU(); low < high {
		t = newThreadTuner(low, high)
		t.reset(baseThreads())
	}
	flusher := reserveFlusherThread(s.persist.syncingLog() != nil, false)
	defer func() { reserveFlusherThread(false, flusher) }()
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
		if on := reserveFlusherThread(s.persist.syncingLog() != nil, flusher); on != flusher {
			flusher = on
			s.log.Debug("a thread for the AOF flusher", "reserved", on)
		}
		if t == nil {
			continue
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
		s.log.Debug("server threads changed", "from", had, "to", want, "probe_phase", int(t.phase))
	}
}
