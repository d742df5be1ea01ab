package snapshot

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// blocked waits until n walkers wait in g's enter.
func blocked(g *walkGate, n int) {
	for {
		g.mu.Lock()
		w := g.waiting
		g.mu.Unlock()
		if w >= n {
			return
		}
		runtime.Gosched()
	}
}

// entered starts a walker that enters g and reports on done when it is in.
func entered(g *walkGate) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		g.enter()
		close(done)
	}()
	return done
}

// TestWalkGateOneWalkerWhileOthersWait: while other goroutines wait for a
// CPU, a second walker waits for the first to leave; the first never
// waits.
func TestWalkGateOneWalkerWhileOthersWait(t *testing.T) {
	var busy atomic.Bool
	busy.Store(true)
	g := newWalkGate()
	g.othersWaiting = busy.Load
	g.enter() // alone: in at once, busy or not
	second := entered(g)
	blocked(g, 1)
	// A look on a leave while the server stays busy lets it in only
	// because the gate is then empty.
	g.leave()
	<-second
	g.leave()
}

// TestWalkGateEveryCPUWhenIdle: with nothing else waiting, as many walkers
// as CPUs run at once, and no more.
func TestWalkGateEveryCPUWhenIdle(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	g := newWalkGate()
	g.othersWaiting = func() bool { return false }
	for range procs {
		g.enter()
	}
	extra := entered(g)
	blocked(g, 1)
	g.leave()
	<-extra
	for range procs {
		g.leave()
	}
}
