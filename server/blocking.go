package server

import (
	"errors"
	"os"
	"time"

	"github.com/structd/structd/commands"
)

// waitBlocked is the connection side of a blocking command (BLPOP, ...)
// that registered the client as waiting (commands.Blocked). It flushes the
// replies before it, then waits for the first of: a command serving the
// client, the timeout, CLIENT KILL or server close (cl.killed), shutdown,
// CLIENT UNBLOCK, or the peer disconnecting. Served, its reply is appended;
// timed out or unblocked, the timeout reply (or UNBLOCKED error) is
// written; otherwise the connection is marked to close. In
// every case the waiter is unregistered before waitBlocked returns, so
// nothing leaks. It returns the writer mark the reply starts at (dispatch
// counts errors and applies CLIENT REPLY from there).
//
// While blocked, the client's goroutine does not read requests, so a
// watcher goroutine reads the socket meanwhile: Redis notices a blocked
// client disconnecting, and so must StructD. Bytes it reads (requests
// pipelined after the blocking command) are handed back to the request
// reader afterwards, in order; the watcher stops at the query buffer limit.
func (cl *client) waitBlocked(b *commands.Blocked) int {
	cl.ctx.Blocked = nil
	if !cl.flush() {
		b.End(cl.srv.ks, &cl.writer, false)
		cl.writer.Reset()
		cl.session.CloseAfterReply = true
		return 0
	}
	cl.blocked.Store(true)
	defer cl.blocked.Store(false)
	cl.pubBlocked.Store(b)
	defer cl.pubBlocked.Store(nil)

	var pending []byte
	gone := make(chan struct{})
	watched := make(chan struct{})
	limit := cl.srv.cfg.Limits().ClientQueryBufferLimit
	go func() {
		defer close(watched)
		buf := make([]byte, 4096)
		for int64(len(pending)) < limit {
			n, err := cl.conn.Read(buf)
			pending = append(pending, buf[:n]...)
			if err != nil {
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					close(gone)
				}
				return
			}
		}
	}()

	var timeout <-chan time.Time
	if b.Timeout > 0 {
		t := time.NewTimer(b.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	timedOut := false
	select {
	case <-b.Done():
	case <-b.Unblocked():
	case <-timeout:
		timedOut = true
	case <-cl.killed:
	case <-gone:
	case <-cl.srv.ctx.Done():
	}

	// Stop the watcher: an expired deadline ends its Read at once.
	cl.conn.SetReadDeadline(time.Unix(1, 0))
	<-watched
	cl.conn.SetReadDeadline(time.Time{})

	if !b.End(cl.srv.ks, &cl.writer, timedOut) {
		cl.session.CloseAfterReply = true
		return 0
	}
	// Served by another client's write: the pop was logged before the
	// wake-up, so the log's end covers it.
	cl.awaitLogEnd()
	for len(pending) > 0 {
		n := copy(cl.reader.Space(), pending)
		cl.reader.Commit(n)
		pending = pending[n:]
	}
	return 0
}

// UnblockClient implements commands.Server (CLIENT UNBLOCK).
func (s *Server) UnblockClient(id int64, withError bool) bool {
	s.mu.Lock()
	cl := s.clients[id]
	s.mu.Unlock()
	if cl == nil {
		return false
	}
	b := cl.pubBlocked.Load()
	return b != nil && b.Unblock(withError)
}
