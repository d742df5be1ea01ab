package replication

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/disktier"
	"github.com/structd/structd/internal/resp"
)

// The link states, as ROLE names them.
const (
	stateConnect int32 = iota
	stateConnecting
	stateHandshake
	stateSync
	stateConnected
)

var linkStateNames = [...]string{"connect", "connecting", "handshake", "sync", "connected"}

// link is a replica's connection to its master: it connects, hands
// shakes, resynchronizes and applies the stream, and reconnects with PSYNC
// after the connection drops, until stopped.
type link struct {
	m          *Manager
	host       string
	port       int
	ctx        context.Context
	cancel     context.CancelFunc
	done       chan struct{}
	state      atomic.Int32
	lastIO     atomic.Int64 // Unix seconds of the last bytes from the master
	downSince  atomic.Int64 // Unix seconds the link went down; 0 if never up
	syncTotal  atomic.Int64 // full sync: bytes of files announced
	syncRead   atomic.Int64 // full sync: bytes of files received
	syncLastIO atomic.Int64

	connMu sync.Mutex
	conn   net.Conn
	wmu    sync.Mutex // serializes ACKs

	db int // the master client's database at the last applied command
}

func newLink(m *Manager, host string, port int) *link {
	ctx, cancel := context.WithCancel(context.Background())
	return &link{m: m, host: host, port: port, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// stop ends the link and waits until nothing of it runs any more.
func (l *link) stop() {
	l.cancel()
	l.connMu.Lock()
	if l.conn != nil {
		l.conn.Close()
	}
	l.connMu.Unlock()
	<-l.done
}

func (l *link) addr() string { return net.JoinHostPort(l.host, strconv.Itoa(l.port)) }

// run connects again and again until stopped, a second apart.
func (l *link) run() {
	defer close(l.done)
	for l.ctx.Err() == nil {
		err := l.session()
		if l.ctx.Err() != nil {
			return
		}
		if l.state.Load() == stateConnected || l.downSince.Load() == 0 {
			l.downSince.Store(time.Now().Unix())
		}
		l.state.Store(stateConnect)
		l.m.log.Warn("replication link to the master failed; retrying", "master", l.addr(), "err", err)
		select {
		case <-l.ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

// session is one connection to the master, until it fails.
func (l *link) session() error {
	set := l.m.host.Settings()
	l.state.Store(stateConnecting)
	d := net.Dialer{Timeout: set.Timeout}
	conn, err := d.DialContext(l.ctx, "tcp", l.addr())
	if err != nil {
		return err
	}
	l.connMu.Lock()
	if l.ctx.Err() != nil {
		l.connMu.Unlock()
		conn.Close()
		return l.ctx.Err()
	}
	l.conn = conn
	l.connMu.Unlock()
	defer func() {
		l.connMu.Lock()
		l.conn = nil
		l.connMu.Unlock()
		conn.Close()
	}()
	l.state.Store(stateHandshake)
	br := bufio.NewReaderSize(conn, 64<<10)
	reply, err := l.handshake(conn, br, set)
	if err != nil {
		return err
	}
	switch {
	case strings.HasPrefix(reply, "+FULLRESYNC"):
		f := strings.Fields(reply)
		if len(f) != 3 || len(f[1]) != 40 {
			return fmt.Errorf("bad reply to PSYNC: %q", reply)
		}
		off, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil || off < 0 {
			return fmt.Errorf("bad offset in reply to PSYNC: %q", reply)
		}
		if err := l.fullSync(conn, br, f[1], off); err != nil {
			return err
		}
	case strings.HasPrefix(reply, "+CONTINUE"):
		f := strings.Fields(reply)
		if len(f) == 2 {
			l.m.continueWith(f[1])
		}
		l.m.log.Info("partial resynchronization accepted by the master", "master", l.addr(), "offset", l.m.offset())
	default:
		return fmt.Errorf("master refused PSYNC: %s", reply)
	}
	return l.stream(conn, br)
}

// handshake sends PING, AUTH, REPLCONF and PSYNC, and returns the reply to
// PSYNC.
func (l *link) handshake(conn net.Conn, br *bufio.Reader, set Settings) (string, error) {
	call := func(args ...string) (string, error) {
		w := resp.Writer{}
		w.Array(len(args))
		for _, a := range args {
			w.BulkString(a)
		}
		conn.SetWriteDeadline(time.Now().Add(set.Timeout))
		if _, err := conn.Write(w.Buf); err != nil {
			return "", err
		}
		return l.readLine(conn, br, set.Timeout)
	}
	reply, err := call("PING")
	if err != nil {
		return "", err
	}
	if reply[0] == '-' && !strings.HasPrefix(reply, "-NOAUTH") && !strings.HasPrefix(reply, "-NOPERM") && !strings.HasPrefix(reply, "-ERR operation not permitted") {
		return "", fmt.Errorf("error reply to PING from the master: %s", reply)
	}
	if set.MasterAuth != "" {
		if reply, err = call("AUTH", set.MasterAuth); err != nil {
			return "", err
		}
		if reply[0] == '-' {
			return "", fmt.Errorf("unable to AUTH to the master: %s", reply)
		}
	}
	if reply, err = call("REPLCONF", "listening-port", strconv.Itoa(set.Port)); err != nil {
		return "", err
	}
	if reply[0] == '-' {
		if strings.HasPrefix(reply, "-NOAUTH") {
			return "", fmt.Errorf("the master requires a password (masterauth): %s", reply)
		}
		l.m.log.Warn("master did not take REPLCONF listening-port", "reply", reply)
	}
	if reply, err = call("REPLCONF", "capa", "eof", "capa", "psync2", "capa", CapaCheckpoint); err != nil {
		return "", err
	}
	if reply[0] == '-' {
		l.m.log.Warn("master did not take REPLCONF capa", "reply", reply)
	}
	replid, off := l.m.psyncFrom()
	return call("PSYNC", replid, strconv.FormatInt(off, 10))
}

// readLine reads one reply line, skipping the newlines a master sends to
// keep the link alive while it prepares a full synchronization.
func (l *link) readLine(conn net.Conn, br *bufio.Reader, timeout time.Duration) (string, error) {
	for {
		conn.SetReadDeadline(time.Now().Add(timeout))
		line, err := br.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return "", errors.New("reply line from the master too long")
			}
			return "", err
		}
		l.lastIO.Store(time.Now().Unix())
		s := strings.TrimRight(string(line), "\r\n")
		if s != "" {
			return s, nil
		}
	}
}

// psyncFrom is what PSYNC asks for: the history this server holds and the
// offset after it, or "?" -1 for a full synchronization.
func (m *Manager) psyncFrom() (string, int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.cached || m.bl.Load() == nil {
		return "?", -1
	}
	return m.replid, m.offset() + 1
}

// continueWith applies the replication ID a master gave with +CONTINUE:
// one other than the history's means the master was promoted, and the
// history continues under its new ID (the old one becomes the second).
func (m *Manager) continueWith(replid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if replid != m.replid && len(replid) == 40 {
		m.replid2, m.secondOffset, m.replid = m.replid, m.offset()+1, replid
	}
}

// fullSync receives the master's checkpoint files and loads them.
func (l *link) fullSync(conn net.Conn, br *bufio.Reader, replid string, off int64) error {
	l.state.Store(stateSync)
	set := l.m.host.Settings()
	base := l.m.host.Dir()
	if base == "" {
		return ErrNoStore
	}
	dir := filepath.Join(base, "replsync-in.tmp")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(store, 0o755); err != nil {
		return err
	}
	l.m.log.Info("full resynchronization: receiving the master's checkpoint", "master", l.addr(), "replid", replid, "offset", off)
	start := time.Now()
	if err := l.receiveFiles(conn, br, store, set.Timeout); err != nil {
		return fmt.Errorf("full sync transfer: %w", err)
	}
	if err := forgetLogPosition(store); err != nil {
		return err
	}
	if err := l.m.host.LoadSync(store); err != nil {
		return fmt.Errorf("loading the master's checkpoint: %w", err)
	}
	l.m.mu.Lock()
	l.m.replid, l.m.replid2, l.m.secondOffset, l.m.cached = replid, zeroReplID, -1, true
	l.m.setBacklogLocked(off)
	l.m.mu.Unlock()
	l.db = 0 // the stream after a checkpoint starts with a SELECT
	l.m.log.Info("full resynchronization done", "master", l.addr(), "bytes", l.syncRead.Load(), "seconds", time.Since(start).Seconds())
	return nil
}

// forgetLogPosition marks the received store's checkpoint record as
// naming no AOF position: the position is the master's, and means nothing
// in this server's log (opening it then drops any AOF segment here as
// older, until this server's first checkpoint records its own).
func forgetLogPosition(dir string) (err error) {
	defer func() {
		if v := recover(); v != nil { // damaged files must not take the server down
			err = fmt.Errorf("the master's checkpoint does not open: %v", v)
		}
	}()
	st, err := disktier.Open(dir, disktier.Options{})
	if err != nil {
		return err
	}
	err = st.ForgetLogPosition()
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}

// Bounds on what a master may announce in a full sync, so a damaged or
// hostile stream cannot make the replica allocate without limit.
const (
	maxSyncFiles    = 1 << 20
	maxSyncFileSize = 1 << 42
	maxSyncNameLen  = 255
)

// receiveFiles reads the files framing into dir, fsyncing each file and
// the directory.
func (l *link) receiveFiles(conn net.Conn, br *bufio.Reader, dir string, timeout time.Duration) error {
	header, err := l.readLine(conn, br, timeout)
	if err != nil {
		return err
	}
	if header[0] == '-' {
		return fmt.Errorf("master: %s", header)
	}
	n, err := strconv.Atoi(strings.TrimPrefix(header, "*"))
	if header[0] != '*' || err != nil || n < 0 || n%2 != 0 || n/2 > maxSyncFiles {
		return fmt.Errorf("not a StructD checkpoint transfer: %q", truncate(header))
	}
	l.syncRead.Store(0)
	l.syncTotal.Store(-1)
	r := &deadlineReader{conn: conn, br: br, timeout: timeout, l: l}
	for i := 0; i < n/2; i++ {
		name, err := readBulk(r, maxSyncNameLen)
		if err != nil {
			return err
		}
		if !validFileName(string(name)) {
			return fmt.Errorf("bad file name %q", truncate(string(name)))
		}
		size, err := readBulkHeader(r, maxSyncFileSize)
		if err != nil {
			return err
		}
		l.syncTotal.Add(size)
		f, err := os.OpenFile(filepath.Join(dir, string(name)), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		got, err := io.CopyN(f, r, size)
		l.syncRead.Add(got)
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = expectCRLF(r)
		}
		if err != nil {
			return err
		}
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func validFileName(s string) bool {
	if s == "" || s == "." || s == ".." {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// deadlineReader reads the transfer with a fresh read deadline each time,
// so only a master that stops sending for repl-timeout fails it.
type deadlineReader struct {
	conn    net.Conn
	br      *bufio.Reader
	timeout time.Duration
	l       *link
}

func (d *deadlineReader) Read(p []byte) (int, error) {
	d.conn.SetReadDeadline(time.Now().Add(d.timeout))
	n, err := d.br.Read(p)
	if n > 0 {
		now := time.Now().Unix()
		d.l.lastIO.Store(now)
		d.l.syncLastIO.Store(now)
	}
	return n, err
}

// readBulkHeader reads "$<n>\r\n" with n in [0, max].
func readBulkHeader(r io.Reader, max int64) (int64, error) {
	var line []byte
	var b [1]byte
	for len(line) < 32 {
		if _, err := io.ReadFull(r, b[:]); err != nil {
			return 0, err
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	s := strings.TrimSuffix(string(line), "\r")
	if !strings.HasPrefix(s, "$") {
		return 0, fmt.Errorf("expected a bulk header, got %q", truncate(s))
	}
	n, err := strconv.ParseInt(s[1:], 10, 64)
	if err != nil || n < 0 || n > max {
		return 0, fmt.Errorf("bad bulk length %q", truncate(s))
	}
	return n, nil
}

// readBulk reads a bulk string of at most max bytes.
func readBulk(r io.Reader, max int64) ([]byte, error) {
	n, err := readBulkHeader(r, max)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, expectCRLF(r)
}

func expectCRLF(r io.Reader) error {
	var crlf [2]byte
	if _, err := io.ReadFull(r, crlf[:]); err != nil {
		return err
	}
	if crlf != [2]byte{'\r', '\n'} {
		return errors.New("expected CRLF after a bulk string")
	}
	return nil
}

// stream applies the master's stream through the master client, keeps
// the offset, relays the bytes into this server's backlog and answers
// REPLCONF GETACK, until the connection fails or the link stops.
func (l *link) stream(conn net.Conn, br *bufio.Reader) error {
	mc := l.m.host.NewMasterClient(conn, l.db)
	defer mc.Close()
	l.state.Store(stateConnected)
	l.downSince.Store(0)
	l.lastIO.Store(time.Now().Unix())
	l.m.log.Info("MASTER <-> REPLICA sync: master link up", "master", l.addr(), "offset", l.m.offset())

	stopAcks := make(chan struct{})
	var wg sync.WaitGroup
	defer func() {
		close(stopAcks)
		conn.Close()
		wg.Wait()
	}()
	wg.Go(func() { everySecond(stopAcks, func() bool { l.sendAck(conn); return true }) })
	l.sendAck(conn) // tell the master where the stream starts

	var rr resp.RequestReader
	rr.Authenticated = true
	rr.MaxBulkLen = 1 << 32
	if n := br.Buffered(); n > 0 {
		b, _ := br.Peek(n)
		for len(b) > 0 {
			c := copy(rr.Space(), b)
			rr.Commit(c)
			b = b[c:]
		}
	}
	var pending []byte // a transaction's raw bytes, relayed once applied
	var w resp.Writer
	for {
		for {
			before := rr.Buffered()
			args, err := rr.Next()
			if err != nil {
				return fmt.Errorf("bad stream from the master: %w", err)
			}
			if args == nil {
				break
			}
			used := before - rr.Buffered()
			w.Reset()
			w.Array(len(args))
			for _, a := range args {
				w.Bulk(a)
			}
			if len(w.Buf) != used {
				return errors.New("the master's stream is not canonical RESP: its offsets cannot be kept")
			}
			switch name := strings.ToLower(string(args[0])); {
			case name == "replconf" && len(args) >= 2 && strings.EqualFold(string(args[1]), "getack"):
				l.sendAck(conn)
			case name == "ping":
			default:
				if err := mc.Apply(args); err != nil {
					return err
				}
			}
			pending = append(pending, w.Buf...)
			if !mc.InTransaction() {
				l.m.applied(pending)
				l.db = mc.DB()
				pending = pending[:0]
				if cap(pending) > 1<<20 {
					pending = nil
				}
			}
		}
		if rr.Buffered() > 1<<30+1<<20 {
			return errors.New("command from the master too large")
		}
		conn.SetReadDeadline(time.Now().Add(l.m.host.Settings().Timeout))
		n, err := conn.Read(rr.Space())
		if n > 0 {
			rr.Commit(n)
			l.lastIO.Store(time.Now().Unix())
		}
		if err != nil {
			if l.ctx.Err() != nil {
				return l.ctx.Err()
			}
			if isTimeout(err) {
				return errors.New("timeout: no data from the master within repl-timeout")
			}
			return err
		}
	}
}

// applied relays bytes a replica applied into its backlog, advancing its
// offset.
func (m *Manager) applied(b []byte) {
	if bl := m.bl.Load(); bl != nil {
		bl.Append(b)
	} else {
		m.base.Add(int64(len(b)))
	}
}

// sendAck sends REPLCONF ACK <offset applied>.
func (l *link) sendAck(conn net.Conn) {
	w := resp.Writer{}
	w.Array(3)
	w.BulkString("REPLCONF")
	w.BulkString("ACK")
	w.BulkInt(l.m.offset())
	l.wmu.Lock()
	defer l.wmu.Unlock()
	conn.SetWriteDeadline(time.Now().Add(l.m.host.Settings().Timeout))
	conn.Write(w.Buf)
}
