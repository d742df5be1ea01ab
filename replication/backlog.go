package replication

import (
	"errors"
	"sync"
)

// Backlog is the replication backlog: the latest bytes of the replication
// stream, numbered as Redis numbers them (the first byte of a stream is
// offset 1, and the offset of the stream is the number of its last byte:
// master_repl_offset).
//
// It is also the output buffer of every replica: a replica's sender reads
// the stream from its own position out of the backlog (a Reader), so a
// replica costs no copy of the stream, as in Redis 7's shared replication
// buffer. The backlog keeps at least Size bytes of history (for partial
// resynchronization), and more while a Reader still needs them, up to
// Size+Limit bytes (client-output-buffer-limit replica, hard limit): a
// Reader that falls further behind is dropped, as Redis drops a replica
// over its output buffer limit, and must resynchronize.
//
// All methods are safe for concurrent use.
type Backlog struct {
	mu     sync.Mutex
	chunks []chunk // in stream order: chunks[0] holds the first byte kept
	first  int64   // offset of the first byte kept (end+1 when empty)
	end    int64   // offset of the last byte appended
	held   int64   // bytes kept
	size   int64
	limit  int64
	// readers are the positions replicas read from; a dropped Reader is
	// removed.
	readers map[*Reader]struct{}
	// wake is closed when bytes are appended, and made only when a Reader
	// waits, so appends with nobody waiting allocate nothing.
	wake chan struct{}
}

// chunk is a run of stream bytes starting at offset start.
type chunk struct {
	start int64
	b     []byte
}

// chunkSize is the capacity of a new chunk: big enough that a busy stream
// allocates rarely, small enough that the history kept stays close to Size.
const chunkSize = 16 << 10

// ErrReaderDropped is returned by a Reader whose position left the
// backlog: its replica fell more than the limit behind.
var ErrReaderDropped = errors.New("replication: replica fell behind the backlog's limit")

// NewBacklog returns an empty backlog whose next byte has offset end+1.
func NewBacklog(end, size, limit int64) *Backlog {
	return &Backlog{first: end + 1, end: end, size: max(size, 1), limit: max(limit, 0), readers: map[*Reader]struct{}{}}
}

// Append adds p to the stream and returns the offset of its last byte.
func (b *Backlog) Append(p []byte) int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.appendLocked(p)
}

func (b *Backlog) appendLocked(p []byte) int64 {
	if len(p) == 0 {
		return b.end
	}
	n := len(b.chunks)
	if n == 0 || len(b.chunks[n-1].b)+len(p) > cap(b.chunks[n-1].b) {
		b.chunks = append(b.chunks, chunk{start: b.end + 1, b: make([]byte, 0, max(chunkSize, len(p)))})
		n++
	}
	c := &b.chunks[n-1]
	c.b = append(c.b, p...)
	b.end += int64(len(p))
	b.held += int64(len(p))
	b.trimLocked()
	if b.wake != nil {
		close(b.wake)
		b.wake = nil
	}
	return b.end
}

// trimLocked drops the oldest chunks the history does not need: those
// beyond Size that no Reader needs, and any beyond Size+Limit, dropping the
// Readers that still needed them.
func (b *Backlog) trimLocked() {
	for len(b.chunks) > 1 {
		c := b.chunks[0]
		rest := b.held - int64(len(c.b))
		if rest < b.size {
			return
		}
		if c.start+int64(len(c.b)) > b.minReaderLocked() && rest < b.size+b.limit {
			return // a Reader still needs it, and the limit allows it
		}
		b.chunks[0] = chunk{}
		b.chunks = b.chunks[1:]
		b.held = rest
		b.first = c.start + int64(len(c.b))
		for r := range b.readers {
			if r.next < b.first {
				r.dropped = true
				delete(b.readers, r)
			}
		}
	}
}

// minReaderLocked is the lowest offset a Reader will read next.
func (b *Backlog) minReaderLocked() int64 {
	m := b.end + 1
	for r := range b.readers {
		m = min(m, r.next)
	}
	return m
}

// Offset is the offset of the last byte appended (master_repl_offset).
func (b *Backlog) Offset() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.end
}

// Stats are INFO replication's backlog figures.
type BacklogStats struct {
	Size      int64 // repl-backlog-size
	FirstByte int64 // repl_backlog_first_byte_offset
	HistLen   int64 // repl_backlog_histlen
}

// Stats returns the backlog's figures.
func (b *Backlog) Stats() BacklogStats {
	b.mu.Lock()
	defer b.mu.Unlock()
	return BacklogStats{Size: b.size, FirstByte: b.first, HistLen: b.held}
}

// Covers reports whether a replica that wants the stream from offset off
// can be served from the backlog: off is kept, or is the next byte.
func (b *Backlog) Covers(off int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return off >= b.first && off <= b.end+1
}

// Resize sets the history size and the limit beyond it (CONFIG SET
// repl-backlog-size).
func (b *Backlog) Resize(size, limit int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.size, b.limit = max(size, 1), max(limit, 0)
	b.trimLocked()
}

// Reader reads the stream from a position onwards: one replica's sender.
type Reader struct {
	b       *Backlog
	next    int64 // offset of the next byte to read
	dropped bool
}

// NewReader returns a Reader whose first byte is at offset from, which
// must be kept or be the next byte (Covers).
func (b *Backlog) NewReader(from int64) (*Reader, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if from < b.first || from > b.end+1 {
		return nil, errors.New("replication: offset not in the backlog")
	}
	r := &Reader{b: b, next: from}
	b.readers[r] = struct{}{}
	return r, nil
}

// NewReaderAtEnd returns a Reader of every byte appended from now on.
func (b *Backlog) NewReaderAtEnd() *Reader {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := &Reader{b: b, next: b.end + 1}
	b.readers[r] = struct{}{}
	return r
}

// MoveTo moves the Reader forward to offset to (a full sync's point, known
// only once its checkpoint has run). It fails if the Reader was dropped or
// to lies outside what the backlog holds and will hold.
func (r *Reader) MoveTo(to int64) error {
	b := r.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if r.dropped {
		return ErrReaderDropped
	}
	if to < r.next || to > b.end+1 {
		return errors.New("replication: seek outside the backlog")
	}
	r.next = to
	b.trimLocked()
	return nil
}

// Next is the offset of the next byte the Reader reads.
func (r *Reader) Next() int64 {
	r.b.mu.Lock()
	defer r.b.mu.Unlock()
	return r.next
}

// Read copies the next bytes of the stream into p, waiting until there are
// some or done is closed (then it returns 0 bytes and no error). It
// returns ErrReaderDropped once the Reader has fallen out of the backlog.
func (r *Reader) Read(p []byte, done <-chan struct{}) (int, error) {
	b := r.b
	for {
		b.mu.Lock()
		if r.dropped {
			b.mu.Unlock()
			return 0, ErrReaderDropped
		}
		if r.next <= b.end {
			n := b.copyLocked(p, r.next)
			r.next += int64(n)
			b.trimLocked()
			b.mu.Unlock()
			return n, nil
		}
		if b.wake == nil {
			b.wake = make(chan struct{})
		}
		wake := b.wake
		b.mu.Unlock()
		select {
		case <-wake:
		case <-done:
			return 0, nil
		}
	}
}

// copyLocked copies bytes from offset off (kept) into p.
func (b *Backlog) copyLocked(p []byte, off int64) int {
	i := len(b.chunks) - 1
	for i > 0 && b.chunks[i].start > off {
		i--
	}
	n := 0
	for ; i < len(b.chunks) && n < len(p); i++ {
		c := b.chunks[i]
		from := off + int64(n) - c.start
		if from < 0 || from >= int64(len(c.b)) {
			continue
		}
		n += copy(p[n:], c.b[from:])
	}
	return n
}

// Close releases the Reader: the backlog no longer keeps bytes for it.
func (r *Reader) Close() {
	b := r.b
	b.mu.Lock()
	delete(b.readers, r)
	b.trimLocked()
	b.mu.Unlock()
}
