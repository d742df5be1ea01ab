package server

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/commands"
)

// pauseState is CLIENT PAUSE: the mode and deadline, and a channel closed
// whenever either changes so waiting clients re-check. mode is also an
// atomic so the dispatcher tests "no pause" with one load.
type pauseState struct {
	mode atomic.Uint32 // a commands.PauseMode

	mu    sync.Mutex
	until time.Time
	wake  chan struct{}
}

// PauseClients implements commands.Server. As in Redis, a pause never
// weakens one in force: the stricter mode and the later deadline win.
func (s *Server) PauseClients(mode commands.PauseMode, until time.Time) {
	p := &s.pause
	p.mu.Lock()
	defer p.mu.Unlock()
	if cur := commands.PauseMode(p.mode.Load()); cur != commands.PauseOff && time.Now().Before(p.until) {
		mode = max(mode, cur)
		if p.until.After(until) {
			until = p.until
		}
	}
	p.until = until
	p.mode.Store(uint32(mode))
	p.signal()
}

// UnpauseClients implements commands.Server.
func (s *Server) UnpauseClients() {
	p := &s.pause
	p.mu.Lock()
	p.mode.Store(uint32(commands.PauseOff))
	p.signal()
	p.mu.Unlock()
}

// signal wakes every waiting client. The caller holds mu.
func (p *pauseState) signal() {
	if p.wake != nil {
		close(p.wake)
		p.wake = nil
	}
}

// pauses reports whether mode holds cmd: every command under ALL; under
// WRITE, those that write or may replicate, as Redis decides.
func pauses(mode commands.PauseMode, cmd *commands.Command) bool {
	switch mode {
	case commands.PauseAll:
		return true
	case commands.PauseWrite:
		return cmd.Flags&(commands.Write|commands.MayReplicate) != 0
	}
	return false
}

// waitPause blocks cl until the pause no longer holds cmd: unpaused, timed
// out, or the mode changed. Replies of earlier pipelined commands are
// flushed first, as Redis sends them before blocking. It returns false if
// the client was killed while waiting.
func (s *Server) waitPause(cl *client, cmd *commands.Command) bool {
	p := &s.pause
	for {
		p.mu.Lock()
		mode := commands.PauseMode(p.mode.Load())
		if !pauses(mode, cmd) {
			p.mu.Unlock()
			return true
		}
		wait := time.Until(p.until)
		if wait <= 0 {
			p.mode.Store(uint32(commands.PauseOff))
			p.signal()
			p.mu.Unlock()
			return true
		}
		if p.wake == nil {
			p.wake = make(chan struct{})
		}
		wake := p.wake
		p.mu.Unlock()

		cl.flush()
		cl.blocked.Store(true)
		t := time.NewTimer(wait)
		select {
		case <-wake:
		case <-t.C:
		case <-cl.killed:
			t.Stop()
			cl.blocked.Store(false)
			return false
		}
		t.Stop()
		cl.blocked.Store(false)
	}
}
