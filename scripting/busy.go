package scripting

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/commands"
)

// Busy scripts, as Redis 7.0's busy-reply-threshold (lua-time-limit).
//
// A script runs with the keyspace locked exclusively (EVAL and FCALL are
// KeyspaceWide), so another client's command would simply wait on the
// lock until the script ends. Redis instead answers every command but the
// allow-busy ones with -BUSY once a script has run past the threshold. A
// goroutine blocked on a sync.RWMutex cannot be woken, so the server never
// lets a command wait on the lock while a keyspace-wide command holds it:
// the Gate sits in front of the lock.
//
//   - A keyspace-wide command (script or not) calls Begin before it takes
//     the lock: it becomes the gate's current run, then waits until the
//     commands already past the gate are done (they hold, or are about to
//     take, the lock shared, and would otherwise wait on it behind the
//     run).
//   - Every other command that takes locks calls Enter, and Leave when
//     done. While a run is current Enter waits for it to end, or answers
//     BUSY once the run turns busy.
//   - Enter and Begin publish themselves (the in-flight counter, the
//     current run) before reading the other's, with sequentially
//     consistent atomics: of a command and a run racing, at least one sees
//     the other, so no command waits on the lock behind a run.
//
// Allow-busy commands do not pass the gate. SCRIPT KILL and FUNCTION KILL
// take no lock (they are Unlocked) and reach the running script through
// its watch (Engine.Kill).

// Gate orders keyspace-wide runs against the other commands; its zero
// value is ready. One per server (each server has its own engine).
type Gate struct {
	cur      atomic.Pointer[Run]
	inflight atomic.Int64

	mu      sync.Mutex
	drained chan struct{} // closed when inflight reaches 0 while a run waits
}

// Run is one keyspace-wide command between Begin and End.
type Run struct {
	done chan struct{} // closed by End
	busy chan struct{} // closed when a script in it passes the threshold
	// function says a function (not an EVAL script) made it busy: the
	// BUSY text names FUNCTION KILL instead of SCRIPT KILL.
	function atomic.Bool
	once     sync.Once
}

// The BUSY replies, as Redis's shared.slowevalerr and slowscripterr.
const (
	errBusyEval     = "BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE."
	errBusyFunction = "BUSY Redis is busy running a script. You can only call FUNCTION KILL or SHUTDOWN NOSAVE."
)

// BusyError is the BUSY reply for this run.
func (r *Run) BusyError() string {
	if r.function.Load() {
		return errBusyFunction
	}
	return errBusyEval
}

// setBusy marks the run busy (once).
func (r *Run) setBusy(function bool) {
	r.once.Do(func() {
		r.function.Store(function)
		close(r.busy)
	})
}

// IsBusy reports whether the run has turned busy.
func (r *Run) IsBusy() bool {
	select {
	case <-r.busy:
		return true
	default:
		return false
	}
}

// Busy returns the current run if it is busy, else nil: the check a
// command makes before it is queued or run.
func (g *Gate) Busy() *Run {
	if r := g.cur.Load(); r != nil && r.IsBusy() {
		return r
	}
	return nil
}

// Enter admits a command that takes keyspace locks. It returns "" once the
// command may take them (call Leave after it ran), or the BUSY error to
// answer (Leave must not be called).
func (g *Gate) Enter() string {
	for {
		g.inflight.Add(1)
		r := g.cur.Load()
		if r == nil {
			return ""
		}
		g.Leave()
		select {
		case <-r.done:
		case <-r.busy:
			return r.BusyError()
		}
	}
}

// Leave ends what Enter admitted.
func (g *Gate) Leave() {
	if g.inflight.Add(-1) == 0 && g.cur.Load() != nil {
		g.mu.Lock()
		if g.drained != nil {
			close(g.drained)
			g.drained = nil
		}
		g.mu.Unlock()
	}
}

// Begin makes a keyspace-wide command the current run, once the previous
// one ended, and waits for the commands past the gate to finish. It
// returns the run (to End), or nil and the BUSY error when the run before
// it turned busy.
func (g *Gate) Begin() (*Run, string) {
	r := &Run{done: make(chan struct{}), busy: make(chan struct{})}
	for {
		old := g.cur.Load()
		if old == nil {
			if g.cur.CompareAndSwap(nil, r) {
				break
			}
			continue
		}
		select {
		case <-old.done:
		case <-old.busy:
			return nil, old.BusyError()
		}
	}
	for {
		g.mu.Lock()
		if g.inflight.Load() == 0 {
			g.mu.Unlock()
			return r, ""
		}
		if g.drained == nil {
			g.drained = make(chan struct{})
		}
		ch := g.drained
		g.mu.Unlock()
		<-ch
	}
}

// End ends run r: the commands waiting at the gate go on.
func (g *Gate) End(r *Run) {
	g.cur.Store(nil)
	close(r.done)
}

// busyState is the engine's part in busy scripts: the server's gate and
// the running script's watch.
type busyState struct {
	gate   Gate
	mu     sync.Mutex // guards watch
	watch  *watch
	killMu sync.Mutex // one SCRIPT/FUNCTION KILL at a time
}

// Gate is the engine's gate, for the server's dispatch.
func (e *Engine) Gate() *Gate { return &e.busy.gate }

// Script memory. gopher-lua has no allocator hook, so a script's memory
// is bounded in two ways: the Go functions that build big values at once
// (string.rep, table.concat, cjson, cmsgpack, struct) refuse results past
// lualib.MaxOutputBytes, and every watchInterval the script's own
// goroutine measures the Go heap between two instructions: when the heap
// has grown by more than ScriptMemoryLimit since the script started, it
// collects garbage and, if the live heap itself grew by more than the
// limit, stops the script with "not enough memory" (the message Lua gives
// when its allocator fails), as the script could otherwise take the
// server's memory. Measured on the script's goroutine, a script cannot
// outrun the measure; one instruction (a concatenation) can at most
// double what it holds past the limit. Other clients wait while a script
// runs, so the growth is the script's. Tests lower the limit.
var ScriptMemoryLimit uint64 = 512 << 20

// watchInterval is how often the watchdog samples a running script.
const watchInterval = 10 * time.Millisecond

// Why a script was stopped.
const (
	stopNone = iota
	stopKill
	stopMemory
	stopShutdown
)

const errNotBusy = "NOTBUSY No scripts in execution right now."

const errKilled = "Script killed by user with SCRIPT KILL..."

// watch is the context a script runs under (LState.SetContext): the only
// way to stop gopher-lua between instructions. gopher-lua calls Done
// before every instruction, on the script's goroutine, so a SCRIPT KILL
// request is decided there, where the run's state (has it written?) is
// read without a race. Memory and SHUTDOWN NOSAVE stop it from outside.
type watch struct {
	v    *vm
	r    *run
	gate *Run // the gate's run the script is part of (nil if none)
	// name and function are the script's, for the watchdog (r.script
	// changes while CALL.<alias> runs another).
	name     string
	function bool

	stopCh   chan struct{}
	stopOnce sync.Once
	reason   atomic.Int32

	// killReq is a pending SCRIPT KILL (1) or FUNCTION KILL (2); the
	// script's goroutine answers on verdict.
	killReq atomic.Int32
	// memCheck asks the script's goroutine to measure the heap (set by
	// the watchdog each interval): measured there, a script cannot run
	// ahead of the measure (a concatenation loop doubles its string in
	// one instruction).
	memCheck atomic.Bool
	verdict  chan string

	timer     *time.Timer
	start     time.Time
	threshold time.Duration
	baseAlloc uint64 // heap object bytes when the script started
	baseLive  uint64 // live heap at the last GC before it started
	nextCheck uint64 // heap bytes that trigger the next forced GC
	stopped   atomic.Bool

	afterMu sync.Mutex
	after   map[*afterFn]struct{}
}

type afterFn struct{ f func() }

var _ context.Context = (*watch)(nil)

func (w *watch) Deadline() (time.Time, bool) { return time.Time{}, false }
func (w *watch) Value(any) any               { return nil }

// Done is called by the VM before each instruction.
func (w *watch) Done() <-chan struct{} {
	if w.killReq.Load() != 0 {
		w.decideKill()
	}
	if w.memCheck.Load() {
		w.checkMemory()
	}
	return w.stopCh
}

func (w *watch) Err() error {
	switch w.reason.Load() {
	case stopNone:
		return nil
	case stopMemory:
		return stopError("not enough memory")
	case stopShutdown:
		return stopError("Script killed by SHUTDOWN NOSAVE")
	}
	return stopError(errKilled)
}

type stopError string

func (e stopError) Error() string { return string(e) }

// AfterFunc lets context.WithCancel(w) (gopher-lua gives each coroutine
// one) cancel its child without a goroutine per coroutine.
func (w *watch) AfterFunc(f func()) func() bool {
	a := &afterFn{f}
	w.afterMu.Lock()
	if w.after == nil {
		w.after = map[*afterFn]struct{}{}
	}
	w.after[a] = struct{}{}
	w.afterMu.Unlock()
	return func() bool {
		w.afterMu.Lock()
		defer w.afterMu.Unlock()
		_, ok := w.after[a]
		delete(w.after, a)
		return ok
	}
}

// stop aborts the script for reason (the first reason wins).
func (w *watch) stop(reason int32) {
	w.stopOnce.Do(func() {
		w.reason.Store(reason)
		close(w.stopCh)
		w.afterMu.Lock()
		fns := w.after
		w.after = nil
		w.afterMu.Unlock()
		for a := range fns {
			a.f()
		}
	})
}

// decideKill answers a pending kill request on the script's goroutine.
func (w *watch) decideKill() {
	req := w.killReq.Swap(0)
	if req == 0 {
		return
	}
	function := req == 2
	var reply string
	switch {
	case w.r.wrote:
		reply = "UNKILLABLE Sorry the script already executed write commands against the dataset. " +
			"You can either wait the script termination or kill the server in a hard way using the SHUTDOWN NOSAVE command."
	case function && !w.function:
		reply = errBusyEval
	case !function && w.function:
		reply = errBusyFunction
	default:
		w.stop(stopKill)
		slog.Warn("Lua script killed by user with SCRIPT KILL.")
	}
	w.verdict <- reply
}

// startWatch arms the busy threshold and the memory watchdog for run r of
// v, and sets the watch as the Lua state's context.
func (v *vm) startWatch(r *run) *watch {
	c := r.c
	w := &watch{v: v, r: r, gate: v.e.busy.gate.cur.Load(), name: r.script.Name, function: r.script.fn != nil,
		stopCh: make(chan struct{}), verdict: make(chan string, 1), start: time.Now(), threshold: busyThreshold(c)}
	w.baseAlloc, w.baseLive = heapSample()
	w.nextCheck = w.baseAlloc + ScriptMemoryLimit
	v.e.setWatch(w)
	// Armed only once w.timer is set: tick re-arms it.
	w.timer = time.AfterFunc(time.Hour, w.tick)
	w.timer.Reset(watchInterval)
	v.L.SetContext(w)
	return w
}

// end disarms the watch once the script returned.
func (w *watch) end() {
	w.stopped.Store(true)
	w.timer.Stop()
	w.v.L.RemoveContext()
	w.v.e.setWatch(nil)
	// A kill request that came too late: the script is done.
	if w.killReq.Swap(0) != 0 {
		w.verdict <- errNotBusy
	}
}

// tick is the watchdog: the threshold, then the heap.
func (w *watch) tick() {
	if w.stopped.Load() {
		return
	}
	if w.threshold > 0 && w.gate != nil && !w.gate.IsBusy() && time.Since(w.start) >= w.threshold {
		w.gate.setBusy(w.function)
		slog.Warn("Slow script detected: still in execution after "+w.threshold.String()+
			". You can try killing the script using the SCRIPT KILL command.", "script", w.name)
	}
	w.memCheck.Store(true)
	w.timer.Reset(watchInterval)
}

// checkMemory stops the script when the live heap grew past the limit
// since it started; it runs on the script's goroutine.
func (w *watch) checkMemory() {
	w.memCheck.Store(false)
	if w.reason.Load() != stopNone {
		return
	}
	alloc, _ := heapSample()
	if alloc <= w.nextCheck {
		return
	}
	runtime.GC()
	alloc, live := heapSample()
	if live > w.baseLive && live-w.baseLive > ScriptMemoryLimit {
		w.stop(stopMemory)
		slog.Warn("script stopped: its memory passed the limit", "script", w.name,
			"limit", ScriptMemoryLimit, "growth", live-w.baseLive)
		return
	}
	w.nextCheck = alloc + ScriptMemoryLimit
}

var heapMetrics = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/gc/heap/live:bytes"}}
var heapMetricsMu sync.Mutex

// heapSample returns the bytes of heap objects (live or not yet swept)
// and the live heap as of the last GC.
func heapSample() (alloc, live uint64) {
	heapMetricsMu.Lock()
	defer heapMetricsMu.Unlock()
	metrics.Read(heapMetrics)
	return heapMetrics[0].Value.Uint64(), heapMetrics[1].Value.Uint64()
}

// busyThreshold is busy-reply-threshold (0 disables it).
func busyThreshold(c *commands.Ctx) time.Duration {
	if c.Server == nil {
		return 0
	}
	cfg := c.Server.Config()
	cfg.RLock()
	ms := cfg.BusyReplyThreshold
	cfg.RUnlock()
	return time.Duration(ms) * time.Millisecond
}

// setWatch publishes the running script's watch for Kill.
func (e *Engine) setWatch(w *watch) {
	e.busy.mu.Lock()
	e.busy.watch = w
	e.busy.mu.Unlock()
}

// Kill is SCRIPT KILL (function false) and FUNCTION KILL (true). Like
// Redis, which can only see the command once the script is busy, it waits
// until the running script turns busy or ends: then it stops a script that
// has not written, and answers UNKILLABLE for one that has, NOTBUSY when
// none runs. It returns the error to answer, or "" when it stopped the
// script.
func (e *Engine) Kill(function bool) string {
	e.busy.killMu.Lock()
	defer e.busy.killMu.Unlock()
	r := e.busy.gate.cur.Load()
	if r == nil {
		return errNotBusy
	}
	select {
	case <-r.done:
		return errNotBusy
	case <-r.busy:
	}
	e.busy.mu.Lock()
	w := e.busy.watch
	if w == nil {
		e.busy.mu.Unlock()
		return errNotBusy
	}
	req := int32(1)
	if function {
		req = 2
	}
	w.killReq.Store(req)
	e.busy.mu.Unlock()
	select {
	case reply := <-w.verdict:
		return reply
	case <-r.done:
		return errNotBusy
	}
}

// StopForShutdown stops the running script, whether it wrote or not, for
// SHUTDOWN NOSAVE: what it changed is not logged (the Lua goroutine drops
// its effects when it sees the reason).
func (e *Engine) StopForShutdown() {
	e.busy.mu.Lock()
	w := e.busy.watch
	e.busy.mu.Unlock()
	if w != nil {
		w.stop(stopShutdown)
	}
}
