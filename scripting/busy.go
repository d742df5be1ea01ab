package scripting

import (
	"bytes"
	"log/slog"
	"runtime"
	"runtime/metrics"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

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
//
// Runs take turns on a one-slot channel (turn): of the runs waiting, one
// is woken when a run ends, not all of them to race for the next turn
// (50 clients of EVALSHA woke 49 goroutines per script). A waiting run
// also watches busy, closed while the current run is busy, to answer BUSY.
type Gate struct {
	cur      atomic.Pointer[Run]
	inflight atomic.Int64

	once sync.Once
	turn chan struct{} // holds a token from Begin to End

	mu      sync.Mutex
	drained chan struct{} // closed when inflight reaches 0 while a run waits
	busy    chan struct{} // closed when the current run turns busy; renewed as it ends
}

// Run is one keyspace-wide command between Begin and End.
type Run struct {
	g    *Gate
	busy atomic.Bool // a script in it passed the threshold
	// function says a function (not an EVAL script) made it busy: the
	// BUSY text names FUNCTION KILL instead of SCRIPT KILL.
	function atomic.Bool
	// Guarded by g.mu: ended is set by End, which closes done if a
	// command waiting for the run's end made it.
	ended bool
	done  chan struct{}
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

// setBusy marks the run busy (once), waking the commands that wait.
func (r *Run) setBusy(function bool) {
	g := r.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.ended || r.busy.Load() {
		return
	}
	r.function.Store(function)
	r.busy.Store(true)
	close(g.busy)
}

// IsBusy reports whether the run has turned busy.
func (r *Run) IsBusy() bool { return r.busy.Load() }

// init makes the channels of the zero Gate.
func (g *Gate) init() {
	g.once.Do(func() {
		g.turn = make(chan struct{}, 1)
		g.busy = make(chan struct{})
	})
}

// busyChan is the channel closed when the current run turns busy.
func (g *Gate) busyChan() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy
}

// wait waits until run r ended or turned busy, and reports whether it is
// busy.
func (g *Gate) wait(r *Run) bool {
	g.mu.Lock()
	if r.ended || r.busy.Load() {
		g.mu.Unlock()
		return r.busy.Load()
	}
	if r.done == nil {
		r.done = make(chan struct{})
	}
	done, busy := r.done, g.busy
	g.mu.Unlock()
	select {
	case <-done:
	case <-busy:
	}
	return r.busy.Load()
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
		if g.wait(r) {
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
	g.init()
	select {
	case g.turn <- struct{}{}:
	default:
		if msg := g.waitTurn(); msg != "" {
			return nil, msg
		}
	}
	r := &Run{g: g}
	g.cur.Store(r)
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

// waitTurn waits for the turn, or returns the BUSY error once the run
// holding it turns busy.
func (g *Gate) waitTurn() string {
	busy := g.busyChan()
	for {
		select {
		case g.turn <- struct{}{}:
			return ""
		case <-busy:
			if r := g.Busy(); r != nil {
				return r.BusyError()
			}
			busy = g.busyChan() // that busy run ended
		}
	}
}

// End ends run r: the commands waiting at the gate go on.
func (g *Gate) End(r *Run) {
	g.cur.Store(nil)
	g.mu.Lock()
	r.ended = true
	if r.done != nil {
		close(r.done)
	}
	if r.busy.Load() {
		g.busy = make(chan struct{})
	}
	g.mu.Unlock()
	<-g.turn
}

// busyState is the engine's part in busy scripts: the server's gate, the
// running script's watch and the watchdog.
type busyState struct {
	gate Gate

	// mu guards watch, the watched run's fields the watchdog reads
	// (watch.gate, name, function, start, server) and the watchdog's state.
	mu    sync.Mutex
	watch *watch // the running script's, nil between runs
	// The watchdog is one timer per engine, armed by the first run after
	// an idle interval and re-armed by itself while scripts keep running:
	// a run only publishes its watch, it starts no timer of its own.
	timer *time.Timer
	armed bool
	runs  uint64 // runs started, so the watchdog sees runs between ticks
	seen  uint64 // runs as of the last tick
	// The heap as of the last tick (or the arming): the baseline of the
	// runs that start before the next one (see ScriptMemoryLimit).
	heapAlloc, heapLive uint64

	killMu sync.Mutex // one SCRIPT/FUNCTION KILL at a time
}

// busyScript describes the script that runs busy, for FUNCTION STATS: ok
// is false when none does. The caller of the script is blocked in it while
// its watch is published, so its arguments are stable and copied here.
func (e *Engine) busyScript() (name string, command [][]byte, ran time.Duration, function, ok bool) {
	e.busy.mu.Lock()
	defer e.busy.mu.Unlock()
	w := e.busy.watch
	if w == nil || w.gate == nil || !w.gate.IsBusy() {
		return "", nil, 0, false, false
	}
	command = make([][]byte, len(w.r.c.Args))
	for i, a := range w.r.c.Args {
		command[i] = bytes.Clone(a)
	}
	return w.name, command, monoNow() - w.start, w.function, true
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
// runs, so the growth is the script's. The baseline is the watchdog's
// last sample, at most watchInterval old when the script starts (reading
// the heap costs a global lock: not per run). Tests lower the limit.
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

// closedChan is the Done of a stopped watch.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// watch is the context a script runs under (LState.SetContext): the only
// way to stop gopher-lua between instructions. gopher-lua calls Done
// before an instruction, on the script's goroutine, so a SCRIPT KILL
// request is decided there, where the run's state (has it written?) is
// read without a race. Memory and SHUTDOWN NOSAVE stop it from outside.
//
// A vm has one watch, reused by its runs. The watch is a
// lua.PendingContext: the VM loads its pending flag before each
// instruction and calls Done only while something asks for the script's
// attention; Done returns nil (never done) until the run is stopped, then
// a closed channel. That bends context's rule that Done
// returns the same value each call; gopher-lua only selects on it, and the
// threads coroutine.create makes run under the watch itself (sandbox.go),
// so context.WithCancel, which would read a nil Done as never cancelled,
// is never relied on.
type watch struct {
	v *vm
	r *run
	// Guarded by busyState.mu while published: the gate's run the script
	// is part of (nil if none), the script's name and kind for the
	// watchdog (r.script changes while CALL.<alias> runs another), when it
	// started and its server (for the threshold).
	gate     *Run
	name     string
	function bool
	start    time.Duration // monoNow
	server   commands.Server

	// pending says one of killReq, memCheck or reason is set: Done's one
	// load.
	pending atomic.Bool
	reason  atomic.Int32 // why the run was stopped (the first reason wins)
	// killReq is a pending SCRIPT KILL (1) or FUNCTION KILL (2); the
	// script's goroutine answers on verdict (every request gets exactly
	// one verdict: decideKill's, or end's NOTBUSY).
	killReq atomic.Int32
	// memCheck asks the script's goroutine to measure the heap (set by
	// the watchdog each interval): measured there, a script cannot run
	// ahead of the measure (a concatenation loop doubles its string in
	// one instruction).
	memCheck atomic.Bool
	verdict  chan string
	// tasks are the commands waiting to run inside the script
	// (RunInBusyScript), guarded by busyState.mu; hasTasks says there are.
	tasks    []busyTask
	hasTasks atomic.Bool

	baseLive  uint64 // live heap at the last GC before it started
	nextCheck uint64 // heap bytes that trigger the next forced GC
}

var _ lua.PendingContext = (*watch)(nil)

// Pending is the flag that tells the VM when to call Done: Done returns
// nil while it is clear.
func (w *watch) Pending() *atomic.Bool { return &w.pending }

func (w *watch) Deadline() (time.Time, bool) { return time.Time{}, false }
func (w *watch) Value(any) any               { return nil }

// Done is called by the VM before each instruction.
func (w *watch) Done() <-chan struct{} {
	if !w.pending.Load() {
		return nil
	}
	return w.attend()
}

// attend serves what pending announced, on the script's goroutine.
func (w *watch) attend() <-chan struct{} {
	if w.reason.Load() != stopNone {
		return closedChan // pending stays set: every later instruction stops too
	}
	w.pending.Store(false) // before reading the requests: a later one sets it again
	if w.killReq.Load() != 0 {
		w.decideKill()
	}
	if w.memCheck.Load() {
		w.checkMemory()
	}
	if w.hasTasks.Load() {
		w.runTasks()
	}
	if w.reason.Load() != stopNone {
		return closedChan
	}
	return nil
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

// stop aborts the script for reason (the first reason wins).
func (w *watch) stop(reason int32) {
	if w.reason.CompareAndSwap(stopNone, reason) {
		w.pending.Store(true)
	}
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

// startWatch publishes v's watch for run r (for the watchdog, Kill and
// StopForShutdown), arms the watchdog if it slept, and sets the watch as
// the Lua state's context.
func (v *vm) startWatch(r *run) *watch {
	w := v.watch
	if w == nil {
		w = &watch{v: v, verdict: make(chan string, 1)}
		v.watch = w
	}
	w.r = r
	w.reason.Store(stopNone)
	w.memCheck.Store(false)
	w.pending.Store(false)
	b := &v.e.busy
	b.mu.Lock()
	w.gate, w.name, w.function, w.start, w.server = b.gate.cur.Load(), r.script.Name, r.script.fn != nil, monoNow(), r.c.Server
	if !b.armed {
		b.heapAlloc, b.heapLive = heapSample()
		b.armed = true
		if b.timer == nil {
			b.timer = time.AfterFunc(watchInterval, v.e.watchdog)
		} else {
			b.timer.Reset(watchInterval)
		}
	}
	w.baseLive, w.nextCheck = b.heapLive, b.heapAlloc+ScriptMemoryLimit
	b.runs++
	b.watch = w
	b.mu.Unlock()
	v.L.SetContext(w)
	return w
}

// end unpublishes the watch once the script returned.
func (w *watch) end() {
	w.v.L.RemoveContext()
	b := &w.v.e.busy
	b.mu.Lock()
	b.watch = nil
	w.gate, w.server = nil, nil
	b.mu.Unlock()
	w.runTasks() // those that came as it returned; the lock is still held
	// A kill request that came too late: the script is done.
	if w.killReq.Swap(0) != 0 {
		w.verdict <- errNotBusy
	}
	w.r = nil
}

// watchdog is the engine's timer, every watchInterval while scripts run:
// it samples the heap (the next runs' baseline), turns the gate's run busy
// once the running script passed the threshold, and asks the script to
// measure its memory. After an interval in which no script ran it sleeps
// until the next run arms it.
func (e *Engine) watchdog() {
	alloc, live := heapSample()
	b := &e.busy
	b.mu.Lock()
	defer b.mu.Unlock()
	b.heapAlloc, b.heapLive = alloc, live
	w := b.watch
	if w == nil && b.runs == b.seen {
		b.armed = false
		return
	}
	b.seen = b.runs
	if w != nil {
		if th := busyThreshold(w.server); th > 0 && w.gate != nil && !w.gate.IsBusy() && monoNow()-w.start >= th {
			w.gate.setBusy(w.function)
			slog.Warn("Slow script detected: still in execution after "+th.String()+
				". You can try killing the script using the SCRIPT KILL command.", "script", w.name)
		}
		w.memCheck.Store(true)
		w.pending.Store(true)
	}
	b.timer.Reset(watchInterval)
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

// busyThreshold is busy-reply-threshold of srv (0 disables it, as does
// no server).
func busyThreshold(srv commands.Server) time.Duration {
	if srv == nil {
		return 0
	}
	cfg := srv.Config()
	cfg.RLock()
	ms := cfg.BusyReplyThreshold
	cfg.RUnlock()
	return time.Duration(ms) * time.Millisecond
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
	if r == nil || !e.busy.gate.wait(r) {
		return errNotBusy
	}
	e.busy.mu.Lock()
	w := e.busy.watch
	if w == nil || w.gate != r {
		// The busy run ended; the script running now is another's.
		e.busy.mu.Unlock()
		return errNotBusy
	}
	req := int32(1)
	if function {
		req = 2
	}
	w.killReq.Store(req)
	w.pending.Store(true)
	e.busy.mu.Unlock()
	// The run answers while it runs (decideKill) or as it ends (end):
	// waiting for r.done instead could leave the verdict behind for the
	// next Kill, the watch being reused.
	return <-w.verdict
}

// busyTask is a command waiting to run inside the busy script.
type busyTask struct {
	run  func()
	done chan any // receives nil, or what run panicked with
}

// RunInBusyScript runs f on the goroutine of the script running busy,
// between two of its instructions or as it returns, and returns true once
// f ran; it returns false, running nothing, when no script runs busy. A
// panic in f is raised again on the caller's goroutine, not the script's.
// The script holds the keyspace lock, and f runs under it: how the
// allow-busy commands that need the keyspace (WATCH, and UNWATCH of
// watched keys) answer while a script is busy, as Redis runs them from its
// event loop between the script's instructions. A later write of the
// script to a key f watched makes the watcher's EXEC fail, as in Redis.
func (e *Engine) RunInBusyScript(f func()) bool {
	b := &e.busy
	b.mu.Lock()
	w := b.watch
	if w == nil || w.gate == nil || !w.gate.IsBusy() {
		b.mu.Unlock()
		return false
	}
	t := busyTask{run: f, done: make(chan any, 1)}
	w.tasks = append(w.tasks, t)
	w.hasTasks.Store(true)
	w.pending.Store(true)
	b.mu.Unlock()
	if v := <-t.done; v != nil {
		panic(v)
	}
	return true
}

// runTasks runs the tasks RunInBusyScript handed over, on the script's
// goroutine.
func (w *watch) runTasks() {
	b := &w.v.e.busy
	b.mu.Lock()
	tasks := w.tasks
	w.tasks = nil
	w.hasTasks.Store(false)
	b.mu.Unlock()
	for _, t := range tasks {
		t.done <- runTask(t.run)
	}
}

// runTask runs f and returns what it panicked with, or nil.
func runTask(f func()) (panicked any) {
	defer func() { panicked = recover() }()
	f()
	return nil
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
