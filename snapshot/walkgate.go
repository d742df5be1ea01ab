package snapshot

import (
	"runtime"
	"runtime/metrics"
	"sync"
	"time"
)

// walkGate decides how many of a checkpoint's walkers run at once. One
// always may, so a checkpoint ends however busy the server is, as Redis's
// fork child gets its share of the CPUs; the others run only while no
// other goroutine (a client's, the AOF's) waits for a CPU. Go's scheduler
// lets a goroutine that never blocks run 10 ms at a time, so eight walkers
// on two CPUs left each client one turn in 40 ms: SET -P 16 from 50
// clients fell from about 90k commands per 250 ms to 1k-12k while a
// checkpoint ran, and 4 clients asking for 10k SETs/s got 5.4k/s during a
// full checkpoint (bench/persistence, run 12). With the gate the clients
// keep a CPU, and an idle server's checkpoint still uses every one.
//
// A walker holds the gate for a turn of walkTurn, then lets a waiting one
// in: long enough that reading the scheduler's figures costs nothing,
// short enough that a client waits little.
type walkGate struct {
	mu      sync.Mutex
	changed sync.Cond // a walker left: the waiting ones look again
	running int
	waiting int // walkers blocked in enter
	// othersWaiting reports whether goroutines other than walkers wait
	// for a CPU; called with mu held.
	othersWaiting func() bool
}

// walkTurn is how long a walker walks before it lets another in.
const walkTurn = time.Millisecond

func newWalkGate() *walkGate {
	g := &walkGate{othersWaiting: runnableGoroutines()}
	g.changed.L = &g.mu
	return g
}

// runnableGoroutines returns a function reporting whether any goroutine is
// ready to run but not running. Walkers waiting at the gate are blocked,
// not runnable, so they do not count.
func runnableGoroutines() func() bool {
	sample := []metrics.Sample{{Name: "/sched/goroutines/runnable:goroutines"}}
	return func() bool {
		metrics.Read(sample)
		return sample[0].Value.Uint64() > 0
	}
}

// enter waits for the walker's turn.
func (g *walkGate) enter() {
	g.mu.Lock()
	for g.running > 0 && (g.running >= runtime.GOMAXPROCS(0) || g.othersWaiting()) {
		g.waiting++
		g.changed.Wait()
		g.waiting--
	}
	g.running++
	g.mu.Unlock()
}

// leave ends the walker's turn.
func (g *walkGate) leave() {
	g.mu.Lock()
	g.running--
	g.changed.Broadcast()
	g.mu.Unlock()
}
