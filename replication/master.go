package replication

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/internal/resp"
)

// SyncRequest is a replica's SYNC or PSYNC and what it announced before
// with REPLCONF.
type SyncRequest struct {
	PSync  bool   // PSYNC (else SYNC)
	ReplID string // PSYNC's replication ID ("?" for none)
	Offset int64  // PSYNC's offset: the first byte it wants
	// ListeningPort and Capa are from REPLCONF listening-port and capa.
	ListeningPort int
	Capa          []string
	Addr          string // the connection's remote address
}

// replica is one replica connected to this master.
type replica struct {
	id    int64
	conn  net.Conn
	ip    string
	port  int
	state atomic.Pointer[string] // wait_bgsave, send_bulk, online
	ack   atomic.Int64           // last offset it acknowledged
	ackAt atomic.Int64           // when (Unix seconds)
	wmu   sync.Mutex             // serializes writes to conn
}

var (
	stateWaitBgsave = "wait_bgsave"
	stateSendBulk   = "send_bulk"
	stateOnline     = "online"
)

// write writes b to the replica within repl-timeout.
func (r *replica) write(b []byte, timeout time.Duration) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := r.conn.Write(b)
	return err
}

// ServeReplica runs the master side of a replica's connection after its
// SYNC or PSYNC, on the connection's goroutine, until the link ends:
// partial or full resynchronization, then the stream (sent by a goroutine
// of its own, from the backlog) while this one reads the replica's
// acknowledgements. pending are bytes the replica sent after its PSYNC.
func (m *Manager) ServeReplica(conn net.Conn, pending []byte, req SyncRequest) {
	defer conn.Close()
	r := &replica{conn: conn, port: req.ListeningPort}
	r.ip, _, _ = net.SplitHostPort(req.Addr)
	r.state.Store(&stateWaitBgsave)
	r.ackAt.Store(time.Now().Unix())
	timeout := m.host.Settings().Timeout

	m.mu.Lock()
	if m.role == RoleReplica {
		m.mu.Unlock()
		r.write([]byte("-ERR this server is a replica: StructD replicas do not serve replicas of their own (chained replication is not supported)\r\n"), timeout)
		return
	}
	m.nextID++
	r.id = m.nextID
	m.mu.Unlock()

	rd, err := m.resync(r, req)
	if err != nil {
		m.log.Warn("replica synchronization failed", "replica", replicaName(r), "err", err)
		return
	}
	defer rd.Close()
	r.state.Store(&stateOnline)
	m.log.Info("replica online", "replica", replicaName(r), "offset", rd.Next()-1)

	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { m.sendStream(r, rd, done) })
	m.readAcks(r, pending)
	close(done)
	conn.Close()
	wg.Wait()
	m.unregister(r)
	m.log.Info("replica disconnected", "replica", replicaName(r))
}

func replicaName(r *replica) string {
	return net.JoinHostPort(r.ip, strconv.Itoa(r.port))
}

func (m *Manager) register(r *replica) {
	m.mu.Lock()
	m.replicas[r] = struct{}{}
	m.mu.Unlock()
}

func (m *Manager) unregister(r *replica) {
	m.mu.Lock()
	delete(m.replicas, r)
	m.mu.Unlock()
}

// resync answers the SYNC or PSYNC: +CONTINUE when the backlog holds what
// the replica lacks, else a full synchronization. It returns the Reader of
// the stream the replica gets next; the replica is registered.
func (m *Manager) resync(r *replica, req SyncRequest) (*Reader, error) {
	timeout := m.host.Settings().Timeout
	m.mu.Lock()
	if req.PSync {
		if rd := m.partialLocked(req); rd != nil {
			reply := "+CONTINUE " + m.replid + "\r\n"
			if !slices.Contains(req.Capa, "psync2") {
				reply = "+CONTINUE\r\n"
			}
			m.replicas[r] = struct{}{}
			m.mu.Unlock()
			if err := r.write([]byte(reply), timeout); err != nil {
				m.unregister(r)
				rd.Close()
				return nil, err
			}
			m.log.Info("partial resynchronization accepted", "replica", replicaName(r), "offset", req.Offset)
			return rd, nil
		}
	}
	m.mu.Unlock()
	if !slices.Contains(req.Capa, CapaCheckpoint) {
		msg := "-ERR StructD ships a full synchronization as checkpoint files, which only a StructD replica loads (this replica did not announce REPLCONF capa " + CapaCheckpoint + ")\r\n"
		r.write([]byte(msg), timeout)
		return nil, errors.New("the replica cannot load checkpoint files")
	}
	if m.host.Dir() == "" {
		r.write([]byte("-ERR this master runs without persistence (appendonly no, save \"\"): it has no checkpoint to ship\r\n"), timeout)
		return nil, errors.New("no store to ship")
	}
	return m.fullSync(r)
}

// partialLocked returns a Reader from the replica's offset if the backlog
// continues the history it names. Caller holds mu.
func (m *Manager) partialLocked(req SyncRequest) *Reader {
	bl := m.bl.Load()
	if bl == nil || !m.cached {
		return nil
	}
	if req.ReplID != m.replid && (req.ReplID != m.replid2 || req.Offset > m.secondOffset) {
		return nil
	}
	rd, err := bl.NewReader(req.Offset)
	if err != nil {
		return nil
	}
	return rd
}

// fullSync ships a checkpoint: the stream from now on is held for the
// replica, the checkpoint runs (newlines keep the replica waiting), its
// files go out after +FULLRESYNC, and the Reader is moved to the
// checkpoint's offset.
func (m *Manager) fullSync(r *replica) (*Reader, error) {
	timeout := m.host.Settings().Timeout
	m.mu.Lock()
	bl := m.ensureBacklogLocked()
	m.replicas[r] = struct{}{}
	m.mu.Unlock()
	rd := bl.NewReaderAtEnd()
	ok := false
	defer func() {
		if !ok {
			rd.Close()
			m.unregister(r)
		}
	}()
	m.log.Info("full resynchronization starts: taking a checkpoint", "replica", replicaName(r))

	dir := filepath.Join(m.host.Dir(), fmt.Sprintf("replsync-out-%d-%d.tmp", os.Getpid(), r.id))
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { keepAlive(r, stop, timeout) })
	off, err := m.host.SyncCheckpoint(dir)
	close(stop)
	wg.Wait()
	if err != nil {
		r.write([]byte("-ERR checkpoint for the full synchronization failed: "+oneLine(err.Error())+"\r\n"), timeout)
		return nil, err
	}
	if err := rd.MoveTo(off + 1); err != nil {
		return nil, err
	}
	m.mu.Lock()
	replid := m.replid
	m.mu.Unlock()
	if err := r.write([]byte("+FULLRESYNC "+replid+" "+strconv.FormatInt(off, 10)+"\r\n"), timeout); err != nil {
		return nil, err
	}
	r.state.Store(&stateSendBulk)
	r.ack.Store(off)
	n, err := sendFiles(r.conn, dir, timeout)
	if err != nil {
		return nil, err
	}
	m.log.Info("full resynchronization sent", "replica", replicaName(r), "offset", off, "bytes", n)
	ok = true
	return rd, nil
}

// keepAlive writes a newline every second until stop: a replica takes
// them as the master still working on its PSYNC, as Redis's do.
func keepAlive(r *replica, stop <-chan struct{}, timeout time.Duration) {
	everySecond(stop, func() bool { return r.write([]byte("\n"), timeout) == nil })
}

// everySecond calls fn once a second until stop is closed or fn returns
// false.
func everySecond(stop <-chan struct{}, fn func() bool) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if !fn() {
				return
			}
		}
	}
}

// sendStream sends the stream from the Reader until done or an error.
func (m *Manager) sendStream(r *replica, rd *Reader, done <-chan struct{}) {
	buf := make([]byte, 64<<10)
	for {
		n, err := rd.Read(buf, done)
		if err != nil {
			m.log.Warn("replica dropped: it fell behind the replication backlog's limit", "replica", replicaName(r))
			r.conn.Close()
			return
		}
		if n == 0 {
			return
		}
		if err := r.write(buf[:n], m.host.Settings().Timeout); err != nil {
			r.conn.Close()
			return
		}
	}
}

// readAcks reads what the replica sends (REPLCONF ACK) until the
// connection ends or says nothing for repl-timeout.
func (m *Manager) readAcks(r *replica, pending []byte) {
	var rr resp.RequestReader
	rr.Authenticated = true
	rr.MaxBulkLen = 1 << 20
	copy(rr.Space(), pending)
	rr.Commit(len(pending))
	for {
		for {
			args, err := rr.Next()
			if err != nil {
				m.log.Warn("protocol error from replica", "replica", replicaName(r), "err", err)
				return
			}
			if args == nil {
				break
			}
			if len(args) >= 3 && strings.EqualFold(string(args[0]), "replconf") && strings.EqualFold(string(args[1]), "ack") {
				if off, ok := resp.ParseInt(args[2]); ok {
					m.acknowledge(r, off)
				}
			}
		}
		r.conn.SetReadDeadline(time.Now().Add(m.host.Settings().Timeout))
		n, err := r.conn.Read(rr.Space())
		rr.Commit(n)
		if err != nil {
			if isTimeout(err) {
				m.log.Warn("disconnecting timed out replica", "replica", replicaName(r))
			}
			return
		}
		if rr.Buffered() > 1<<20 {
			return
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// acknowledge records a replica's REPLCONF ACK and wakes WAIT.
func (m *Manager) acknowledge(r *replica, off int64) {
	if off > r.ack.Load() {
		r.ack.Store(off)
	}
	r.ackAt.Store(time.Now().Unix())
	m.mu.Lock()
	if m.acked != nil {
		close(m.acked)
		m.acked = nil
	}
	m.mu.Unlock()
}

// Wait is WAIT: it returns how many replicas acknowledged offset target,
// waiting until n have or timeout passes (0: no limit) or done is closed.
// It asks the replicas to acknowledge (REPLCONF GETACK) when too few have.
func (m *Manager) Wait(target int64, n int, timeout time.Duration, done <-chan struct{}) int {
	var deadline <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		deadline = t.C
	}
	asked := false
	for {
		m.mu.Lock()
		count := 0
		for r := range m.replicas {
			if r.state.Load() == &stateOnline && r.ack.Load() >= target {
				count++
			}
		}
		if count >= n {
			m.mu.Unlock()
			return count
		}
		if m.acked == nil {
			m.acked = make(chan struct{})
		}
		acked := m.acked
		m.mu.Unlock()
		if !asked {
			m.feedCommand("REPLCONF", "GETACK", "*")
			asked = true
		}
		select {
		case <-acked:
		case <-deadline:
			return m.CountAcked(target)
		case <-done:
			return count
		}
	}
}

// CountAcked is how many online replicas acknowledged offset target.
func (m *Manager) CountAcked(target int64) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	count := 0
	for r := range m.replicas {
		if r.state.Load() == &stateOnline && r.ack.Load() >= target {
			count++
		}
	}
	return count
}

// sendFiles writes the files of dir in the full-sync framing and returns
// the bytes of file data sent.
func sendFiles(conn net.Conn, dir string, timeout time.Duration) (int64, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(deadlineWriter{conn, timeout}, 64<<10)
	fmt.Fprintf(w, "*%d\r\n", 2*len(entries))
	var total int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			return total, fmt.Errorf("checkpoint holds %s, not a regular file", e.Name())
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return total, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return total, err
		}
		fmt.Fprintf(w, "$%d\r\n%s\r\n$%d\r\n", len(e.Name()), e.Name(), st.Size())
		n, err := w.ReadFrom(io.LimitReader(f, st.Size()))
		f.Close()
		total += n
		if err == nil && n != st.Size() {
			err = fmt.Errorf("%s changed size while sent", e.Name())
		}
		if err != nil {
			return total, err
		}
		w.WriteString("\r\n")
	}
	return total, w.Flush()
}

// deadlineWriter writes to a connection with a fresh write deadline each
// time, so a big transfer only fails when the peer stops reading.
type deadlineWriter struct {
	conn    net.Conn
	timeout time.Duration
}

func (d deadlineWriter) Write(p []byte) (int, error) {
	d.conn.SetWriteDeadline(time.Now().Add(d.timeout))
	return d.conn.Write(p)
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }
