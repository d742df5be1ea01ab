//go:build linux

package main

import (
	"os"
	"runtime"
	"sync"
	"syscall"
)

// groupLog is the always workload's log: SETs are appended to a batch,
// and one write and one fdatasync commit the whole batch before its
// replies are sent (group commit), one non-blocking write per reply, as
// StructD's flusher sends deferred replies.
type groupLog struct {
	file    *os.File
	mu      sync.Mutex
	wake    sync.Cond // signalled when pending gets its first command
	pending logBatch
	// leading is set while a connection's goroutine commits batches
	// (addAndLead).
	leading bool
	spare   logBatch
}

// logBatch is the commands of one commit and the replies to send after it.
type logBatch struct {
	data    []byte
	replies []byte
	sends   []send
}

// send is one reply of a batch: the next n bytes of replies go to fd.
type send struct{ fd, n int }

// add appends command to the pending batch, with reply for fd once the
// batch is durable.
func (l *groupLog) add(fd int, command, reply []byte) {
	l.mu.Lock()
	first := len(l.pending.data) == 0
	l.pending.add(fd, command, reply)
	l.mu.Unlock()
	if first {
		l.wake.Signal()
	}
}

// add appends command, and reply for fd.
func (b *logBatch) add(fd int, command, reply []byte) {
	b.data = append(b.data, command...)
	b.replies = append(b.replies, reply...)
	b.sends = append(b.sends, send{fd, len(reply)})
}

// take swaps the pending batch for spare, emptied.
func (l *groupLog) take(spare logBatch) logBatch {
	l.mu.Lock()
	b := l.pending
	l.pending = logBatch{data: spare.data[:0], replies: spare.replies[:0], sends: spare.sends[:0]}
	l.mu.Unlock()
	return b
}

// commit writes b, fsyncs it and sends its replies. Errors are not
// handled: this is a benchmark's server, and a failed fsync shows as a
// stalled client.
func (l *groupLog) commit(b *logBatch) {
	if len(b.data) == 0 {
		return
	}
	l.file.Write(b.data)
	syscall.Fdatasync(int(l.file.Fd()))
	off := 0
	for _, s := range b.sends {
		syscall.Write(s.fd, b.replies[off:off+s.n])
		off += s.n
	}
}

// flushLoop commits batches, one at a time, on a thread of its own, while
// the connections add to the next one.
func (l *groupLog) flushLoop() {
	runtime.LockOSThread()
	var b logBatch
	for {
		l.mu.Lock()
		for len(l.pending.data) == 0 {
			l.wake.Wait()
		}
		l.mu.Unlock()
		b = l.take(b)
		l.commit(&b)
	}
}

// addAndLead adds command as add does; then, if no goroutine is committing,
// the caller commits the pending batches itself, on its own thread, until
// none is left: it yields once first, so that the goroutines already
// runnable add their commands to the batch.
func (l *groupLog) addAndLead(fd int, command, reply []byte) {
	l.mu.Lock()
	l.pending.add(fd, command, reply)
	lead := !l.leading
	l.leading = true
	l.mu.Unlock()
	if !lead {
		return
	}
	for {
		runtime.Gosched()
		l.spare = l.take(l.spare)
		l.commit(&l.spare)
		l.mu.Lock()
		if len(l.pending.data) == 0 {
			l.leading = false
			l.mu.Unlock()
			return
		}
		l.mu.Unlock()
	}
}
