package server

import "github.com/structd/structd/aof"

// Replies that wait for an fsync leave from the log's flusher.
//
// Under appendfsync always a reply that acknowledges a write may leave only
// after the fsync that covers it. A client's goroutine used to wait for
// that fsync itself (aof.Writer.Wait), then hand its reply to a batch
// (replybatch.go): two more wake-ups of the goroutine per command, each
// costing more than the command. Now the goroutine hands its replies to the
// log (aof.Writer.NotifyDurable) and reads on; the flusher sends every
// reply its fsync covered as soon as the fsync returns, one non-blocking
// write each, as Redis writes the replies of an event-loop pass after its
// fsync.
//
// Measured with redis-benchmark -t set -P 1 -c 50 -d 3 -r 1000 under
// always, alternating with Redis: the flusher's reserved segments and raw
// fdatasync alone (aof.Writer) served 61-64k requests per second at 11.3-11.7
// µs of server CPU each; with the replies sent from the flusher, 70-74k at
// 9.7-10 µs; Redis 76-81k at 7.4-7.9 µs (before both: 45k at 18-19 µs).
//
// Order: a client has at most one deferred reply in flight. Anything that
// sends to the client later (its next replies, a switch to asynchronous
// output for pub/sub) first waits for it (awaitDeferred), and so does the
// end of the connection, so a reply is never lost to a close that follows
// it.

// deferredReply is a client's reply handed to the log's flusher.
type deferredReply struct {
	// pending is set, by the client's goroutine, while buf is the
	// flusher's; done then receives one token when the flusher (or the
	// goroutine finishing a partial write) is through with it, and err is
	// the send's outcome, read after done. A failed send sticks in err.
	pending bool
	buf     []byte
	done    chan struct{}
	err     error
	// spare is the buffer of the previous deferred reply, reused.
	spare []byte
}

// deferReplies hands the buffered replies to the log's flusher, when they
// acknowledge writes that must be fsynced first (appendfsync always), and
// reports whether it did. Otherwise the caller flushes.
func (cl *client) deferReplies() bool {
	pos := cl.ctx.LogPos
	if pos.IsZero() || cl.ctx.LogErr != nil || cl.writer.Len() == 0 || cl.batch.raw == nil || cl.out.Load() != nil {
		return false
	}
	w := cl.srv.persist.syncingLog()
	if w == nil || !cl.awaitDeferred() || cl.normalOutputOverLimit() {
		return false // flush sends, fails or closes as for any reply
	}
	cl.flushCalls()
	cl.ctx.LogPos = aof.Pos{}
	d := &cl.deferred
	if d.done == nil {
		d.done = make(chan struct{}, 1)
	}
	d.buf, cl.writer.Buf, d.spare = cl.writer.Buf, d.spare, nil
	d.pending = true
	w.NotifyDurable(pos, cl)
	return true
}

// Durable sends the deferred reply once the writes it acknowledges are
// durable (aof.Notifier). It runs on the log's flusher and must not block:
// a reply the socket cannot take whole is finished by a goroutine of its
// own. If the writes cannot be made durable, no reply is sent and the
// connection closes, as in awaitDurable.
func (cl *client) Durable(err error) {
	d := &cl.deferred
	if err != nil {
		cl.srv.log.Error("closing a client whose writes could not be logged", "id", cl.session.ID, "addr", cl.addr, "err", err)
		d.err = err
		cl.kill()
		d.done <- struct{}{}
		return
	}
	n, err := writeOnce(cl.batch.raw, d.buf)
	cl.srv.stats.NetOutputBytes.Add(int64(n))
	if err == nil && n < len(d.buf) {
		go func() {
			m, err := cl.conn.Write(d.buf[n:])
			cl.srv.stats.NetOutputBytes.Add(int64(m))
			d.err = err
			d.done <- struct{}{}
		}()
		return
	}
	d.err = err
	d.done <- struct{}{}
}

// awaitDeferred waits until the client's deferred reply, if any, has been
// sent, and reports whether every deferred reply went out.
func (cl *client) awaitDeferred() bool {
	d := &cl.deferred
	if d.pending {
		<-d.done
		d.pending = false
		if cap(d.buf) <= maxKeptReplyBuffer {
			d.spare = d.buf[:0]
		}
		d.buf = nil
	}
	return d.err == nil
}
