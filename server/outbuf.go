package server

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/config"
)

// A client's output normally leaves from its own goroutine: replies
// collect in cl.writer and one write sends them after each read. A
// subscriber also receives messages other clients publish while its
// goroutine waits in Read, so from its first subscription on, its output
// goes through an asyncOutput: a mutex-protected pending buffer that any
// goroutine appends to, and a writer goroutine that sends it. A publisher
// never waits for a subscriber's socket; a subscriber that stops reading
// accumulates pending bytes until client-output-buffer-limit disconnects
// it. Replies and messages share the one buffer, so their order is the
// order they were appended in.
type asyncOutput struct {
	mu       sync.Mutex
	pending  []byte // appended, not yet taken by the writer
	spare    []byte // the writer's last buffer, reused
	chunks   int    // appends since the writer last took pending (oll)
	inflight int    // bytes the writer is sending now
	// softSince is when the pending output first exceeded the soft limit
	// (monotonic server time), 0 when it is below.
	softSince time.Duration
	closed    bool
	// draining is set when the client's goroutine ends: the writer sends
	// what is pending, then closes done and exits.
	draining bool
	done     chan struct{}

	wake chan struct{} // one token: pending has data (or draining)

	// omem and oll are published for CLIENT LIST.
	omem atomic.Int64
	oll  atomic.Int64
}

// startAsyncOutput switches cl to asynchronous output and starts its
// writer goroutine. Only cl's goroutine calls it.
func (cl *client) startAsyncOutput() {
	if cl.out.Load() != nil {
		return
	}
	// The writer sends without waiting for fsyncs: a deferred reply goes
	// first, and the buffered ones only once the writes they acknowledge
	// are durable.
	if !cl.awaitDeferred() || !cl.awaitDurable() {
		cl.kill()
	}
	o := &asyncOutput{wake: make(chan struct{}, 1), done: make(chan struct{})}
	cl.out.Store(o)
	cl.srv.wg.Add(1)
	go func() {
		defer cl.srv.wg.Done()
		cl.writeLoop(o)
	}()
}

// writeLoop sends pending output until the connection dies.
func (cl *client) writeLoop(o *asyncOutput) {
	defer close(o.done)
	for {
		select {
		case <-o.wake:
		case <-cl.killed:
			return
		}
		o.mu.Lock()
		buf := o.pending
		o.pending = o.spare[:0]
		o.spare = nil
		o.inflight = len(buf)
		o.chunks = 0
		draining := o.draining
		o.mu.Unlock()
		if len(buf) == 0 {
			if draining {
				return
			}
			continue
		}
		n, err := cl.conn.Write(buf)
		cl.srv.stats.NetOutputBytes.Add(int64(n))
		o.mu.Lock()
		o.inflight = 0
		if cap(buf) <= 1<<20 {
			o.spare = buf[:0]
		}
		o.publishLocked()
		o.mu.Unlock()
		if err != nil {
			cl.kill()
			return
		}
		if draining {
			o.signal()
		}
	}
}

func (o *asyncOutput) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// drainOutput lets the writer send what is pending when the client's
// goroutine ends (QUIT, end of input), waiting at most drainTimeout for a
// peer that does not read.
func (cl *client) drainOutput() {
	o := cl.out.Load()
	if o == nil {
		return
	}
	o.mu.Lock()
	o.draining = true
	o.mu.Unlock()
	o.signal()
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-o.done:
	case <-t.C:
	}
}

const drainTimeout = 2 * time.Second

// enqueue appends b to cl's pending output and wakes its writer. It
// disconnects cl if the output passes its class's limits. Safe from any
// goroutine.
func (o *asyncOutput) enqueue(cl *client, b []byte) {
	if len(b) == 0 {
		return
	}
	o.mu.Lock()
	if o.closed {
		o.mu.Unlock()
		return
	}
	o.pending = append(o.pending, b...)
	o.chunks++
	over := o.overLimitLocked(cl)
	if over {
		o.closed = true
		o.pending = nil
	}
	o.publishLocked()
	o.mu.Unlock()
	if over {
		cl.srv.log.Warn("Client "+cl.describe()+" scheduled to be closed ASAP for overcoming of output buffer limits.",
			slog.Int64("id", cl.session.ID))
		cl.srv.KillClient(cl.session.ID)
		cl.kill()
		return
	}
	o.signal()
}

func (o *asyncOutput) publishLocked() {
	o.omem.Store(int64(len(o.pending) + o.inflight))
	o.oll.Store(int64(o.chunks))
}

// overLimitLocked applies client-output-buffer-limit to the pending output,
// as Redis's checkClientOutputBufferLimits: past the hard limit at once,
// past the soft limit once it has stayed there longer than soft seconds.
func (o *asyncOutput) overLimitLocked(cl *client) bool {
	class := config.ClientNormal
	if cl.subCount.Load() > 0 {
		class = config.ClientPubSub
	}
	l := cl.srv.cfg.Limits().OutputBufferLimits[class]
	used := int64(len(o.pending)+o.inflight) - replyChunkBytes
	if l.Hard > 0 && used >= l.Hard {
		return true
	}
	if l.Soft > 0 && used >= l.Soft {
		now := cl.srv.monoNow()
		if o.softSince == 0 {
			o.softSince = now
			return false
		}
		return now-o.softSince > time.Duration(l.SoftSeconds)*time.Second
	}
	o.softSince = 0
	return false
}

// replyChunkBytes is the size of Redis's static reply buffer, which its
// output-buffer limits do not count: only output beyond it does.
const replyChunkBytes = 16 << 10

// normalOutputOverLimit reports whether a synchronous client's reply
// buffer passes the normal class's hard limit (0, the default, is none).
func (cl *client) normalOutputOverLimit() bool {
	l := cl.srv.cfg.Limits().OutputBufferLimits[config.ClientNormal]
	if l.Hard > 0 && int64(len(cl.writer.Buf))-replyChunkBytes >= l.Hard {
		cl.srv.log.Warn("Client " + cl.describe() + " scheduled to be closed ASAP for overcoming of output buffer limits.")
		return true
	}
	return false
}

// describe is the client as Redis's log lines name it (its CLIENT LIST
// line).
func (cl *client) describe() string {
	ci := cl.info(time.Now(), cl.srv.monoNow())
	return ci.Line()
}
