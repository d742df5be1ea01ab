// Package replication is StructD's master and replica sides: the
// replication stream, its backlog, full and partial resynchronization
// (PSYNC), the replica's link to its master, and WAIT.
//
// # The stream
//
// The stream is DESIGN.md invariant 3's effects: every write that reaches
// the AOF reaches the stream, as the same deterministic commands, in the
// same unit (the effects of one command, transaction or script wrapped in
// MULTI/EXEC when there are several), with a SELECT before a command whose
// database differs from the previous one's. The server feeds it (Feed)
// from the one place the AOF is fed, the commands' EffectLog, while the
// locks of the keys they changed are held; so whatever never reaches the
// AOF never reaches replicas either: a TXN.MULTI or TXN.EVAL that rolls
// back drops its effects before they are logged. Expired keys are fed as
// DEL, and the master feeds PING every repl-ping-replica-period and
// REPLCONF GETACK for WAIT, as Redis does. Offsets count the stream's
// bytes as Redis's master_repl_offset does.
//
// The backlog (Backlog) keeps the last repl-backlog-size bytes for partial
// resynchronization, and is also every replica's output buffer: each
// replica's sender reads from its own position in it, so replicas cost no
// copy of the stream.
//
// # Full synchronization
//
// A replica whose PSYNC cannot continue from the backlog gets the dataset
// as files, not as an RDB: the master takes a checkpoint (an incremental
// one: it writes only what changed since the last) and, still holding the
// checkpoint lock so no other checkpoint can commit in between, makes a
// Pebble checkpoint of its store into a directory: hard links to the
// immutable SST files plus copies of the small manifest and options files.
// That directory is the dataset exactly as of the checkpoint's point in
// time P (invariant 1). Its replication offset is read at P itself, with
// the keyspace locked exclusively (snapshot.Checkpointer.AtPoint), where
// no write is between its change and its feed, so the stream after that
// offset holds exactly the writes after P; a backlog Reader created before
// the checkpoint started keeps those bytes until the replica has loaded
// the files. The master then sends +FULLRESYNC <replid> <offset>, the
// files, and the stream from offset+1. Nothing of the dataset is copied in
// the master's memory: the files are streamed from disk.
//
// The replica writes the files into a directory beside its store, marks
// their checkpoint record as naming no AOF position (they came from another
// server's log), then swaps them in with every command held: its AOF is
// emptied, the store replaced, the keyspace re-attached to it with nothing
// in memory, the script catalog reloaded from it. A checkpoint of its own
// then records its own AOF position, and it applies the stream through a
// client of its own (the master client) whose writes go to its AOF like any
// other, so it restarts from its own files as a master does. On a clean
// shutdown both sides write the replication ID and offset beside the data
// (replication.state), so a restarted replica asks to continue with PSYNC,
// and a restarted master can accept a replica that is exactly at its
// offset.
//
// The files framing, after +FULLRESYNC (and newlines sent while the
// checkpoint runs), is a RESP array of file names and contents:
//
//	*<2n>\r\n  then n times  $<len>\r\n<name>\r\n $<size>\r\n<bytes>\r\n
//
// Only a replica that announced REPLCONF capa structd-checkpoint gets it;
// any other (a Redis replica) is refused with an error.
package replication

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/aof"
)

// CapaCheckpoint is the REPLCONF capa a StructD replica announces: it loads
// a full sync shipped as checkpoint files.
const CapaCheckpoint = "structd-checkpoint"

// Role is master or replica.
type Role uint8

// The roles.
const (
	RoleMaster Role = iota
	RoleReplica
)

// Settings are the replication directives, read when used.
type Settings struct {
	BacklogSize  int64         // repl-backlog-size
	BacklogLimit int64         // client-output-buffer-limit replica hard limit: how far past BacklogSize a replica may lag
	Timeout      time.Duration // repl-timeout
	PingPeriod   time.Duration // repl-ping-replica-period
	MasterAuth   string        // masterauth
	Port         int           // this server's port, announced to the master
}

// Host is what replication needs of the server.
type Host interface {
	// Settings returns the current replication settings.
	Settings() Settings
	// Dir is where full-sync files are staged (the server's data
	// directory), or "" when the server has no store (pure cache).
	Dir() string
	// SyncCheckpoint takes a checkpoint and links its files into dir
	// (which must not exist), returning the stream offset at its point in
	// time.
	SyncCheckpoint(dir string) (offset int64, err error)
	// LoadSync replaces the dataset with the store in storeDir, sent by
	// the master.
	LoadSync(storeDir string) error
	// NewMasterClient registers the link's client, which applies the
	// stream, starting in database db.
	NewMasterClient(conn net.Conn, db int) MasterClient
	// LockWrites stops every command until UnlockWrites: role changes
	// happen between writes.
	LockWrites()
	UnlockWrites()
}

// MasterClient applies the master's stream on a replica.
type MasterClient interface {
	// Apply runs one command from the master. An error means the stream
	// cannot be trusted any more: the link is dropped.
	Apply(args [][]byte) error
	// InTransaction reports whether a MULTI is open (its commands are
	// queued, not applied).
	InTransaction() bool
	// DB is the selected database.
	DB() int
	// Close unregisters the client.
	Close()
}

// Manager is one server's replication state: its role, replication IDs and
// offset, backlog, connected replicas and, as a replica, its link.
type Manager struct {
	host Host
	log  *slog.Logger

	// roleMu serializes role changes (REPLICAOF) from start to end.
	roleMu sync.Mutex

	// feedMu guards enc and appends to the backlog by the master side.
	feedMu sync.Mutex
	enc    encoder
	// feeding is set while writes feed the stream: a master with a
	// backlog. Changed under feedMu and with writes stopped.
	feeding atomic.Bool

	// bl is the backlog, nil until a replica first needs one (master) or
	// until the first sync (replica). base is the offset while there is
	// none.
	bl   atomic.Pointer[Backlog]
	base atomic.Int64
	// replica mirrors role == RoleReplica for the per-command checks.
	replica atomic.Bool

	mu           sync.Mutex // guards what follows
	role         Role
	replid       string
	replid2      string
	secondOffset int64
	// cached says replid and the offset name a history this server holds
	// (a master's own, or the stream a replica applied): PSYNC asks to
	// continue it.
	cached     bool
	masterHost string
	masterPort int
	link       *link
	replicas   map[*replica]struct{}
	nextID     int64
	lastPing   time.Time
	// acked is closed when a replica acknowledges an offset, made only
	// when WAIT waits.
	acked chan struct{}
}

// NewManager returns the replication side of a master with a new
// replication ID and offset 0.
func NewManager(host Host, log *slog.Logger) *Manager {
	m := &Manager{host: host, log: log, replid: newReplID(), replid2: zeroReplID, secondOffset: -1,
		replicas: map[*replica]struct{}{}, cached: true}
	m.enc.db = -1
	return m
}

const zeroReplID = "0000000000000000000000000000000000000000"

func newReplID() string {
	var b [20]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Restore sets the replication ID and offset recorded at a clean shutdown
// (State), before the server serves: a replica continues from them with
// PSYNC, and a master keeps its ID so a replica exactly at its offset can
// continue.
func (m *Manager) Restore(replid string, offset int64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.replid, m.cached = replid, true
	m.setBacklogLocked(offset)
	m.feedMu.Lock()
	m.enc.db = -1
	m.feeding.Store(m.role == RoleMaster)
	m.feedMu.Unlock()
}

// State is the replication ID and offset to record at a clean shutdown.
func (m *Manager) State() (replid string, offset int64, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.replid, m.offset(), m.cached
}

// offset is master_repl_offset: the last byte fed (master) or applied
// (replica).
func (m *Manager) offset() int64 {
	if bl := m.bl.Load(); bl != nil {
		return bl.Offset()
	}
	return m.base.Load()
}

// Offset is master_repl_offset.
func (m *Manager) Offset() int64 { return m.offset() }

// setBacklogLocked replaces the backlog with an empty one ending at
// offset. Caller holds mu.
func (m *Manager) setBacklogLocked(offset int64) {
	s := m.host.Settings()
	m.base.Store(offset)
	m.bl.Store(NewBacklog(offset, s.BacklogSize, s.BacklogLimit))
}

// ensureBacklogLocked creates the backlog a master feeds, at its current
// offset, the first time a replica needs it. Caller holds mu.
func (m *Manager) ensureBacklogLocked() *Backlog {
	if bl := m.bl.Load(); bl != nil {
		return bl
	}
	m.feedMu.Lock()
	m.setBacklogLocked(m.base.Load())
	m.enc.db = -1
	m.feeding.Store(m.role == RoleMaster)
	m.feedMu.Unlock()
	return m.bl.Load()
}

// Feed adds the effects of a write to the stream (a master with a backlog
// only) and returns the offset after them, or 0 when nothing is fed. The
// caller holds the locks of the keys the effects changed.
func (m *Manager) Feed(effects []aof.Command) int64 {
	if !m.feeding.Load() {
		return 0
	}
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	bl := m.bl.Load()
	if !m.feeding.Load() || bl == nil {
		return 0
	}
	m.enc.encode(effects)
	off := bl.Append(m.enc.buf.Buf)
	if cap(m.enc.buf.Buf) > 1<<20 {
		m.enc.buf.Buf = nil // do not pin a huge write's buffer
	}
	m.enc.buf.Reset()
	return off
}

// feedCommand adds one command that needs no database (PING, REPLCONF
// GETACK) to the stream of a master.
func (m *Manager) feedCommand(args ...string) {
	cmd := make([][]byte, len(args))
	for i, a := range args {
		cmd[i] = []byte(a)
	}
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	bl := m.bl.Load()
	if !m.feeding.Load() || bl == nil {
		return
	}
	m.enc.command(cmd)
	bl.Append(m.enc.buf.Buf)
	m.enc.buf.Reset()
}

// AtCheckpoint is called at a checkpoint's point in time P, with the
// keyspace locked exclusively (no write is between its change and its
// feed): it returns the stream offset of P, and makes the stream after P
// start with a SELECT, so a replica loading that checkpoint needs no
// database from before it.
func (m *Manager) AtCheckpoint() int64 {
	m.feedMu.Lock()
	defer m.feedMu.Unlock()
	m.enc.db = -1
	return m.offset()
}

// IsReplica reports whether the server replicates a master.
func (m *Manager) IsReplica() bool { return m.replica.Load() }

// LinkUp reports whether a replica's link to its master is up (always
// true for a master).
func (m *Manager) LinkUp() bool {
	m.mu.Lock()
	l := m.link
	m.mu.Unlock()
	return l == nil || l.state.Load() == stateConnected
}

// ErrReplicaOfSelf and the other errors of ReplicaOf.
var (
	ErrNoStore = errors.New("ERR replication needs persistence: a replica loads its master's checkpoint into its own store, and this server runs without one (appendonly no, save \"\")")
)

// CheckReplicaOf reports what REPLICAOF host port would do, without doing
// it: already is true when the server replicates that master already, and
// err is why it cannot (ErrNoStore).
func (m *Manager) CheckReplicaOf(host string, port int) (already bool, err error) {
	if m.host.Dir() == "" {
		return false, ErrNoStore
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.role == RoleReplica && strings.EqualFold(m.masterHost, host) && m.masterPort == port, nil
}

// ReplicaOf makes the server a replica of host:port (REPLICAOF host port).
// already is true when it replicates that master already. It stops the
// link to a master it had, waiting until that link applies nothing more,
// and locks the keyspace: the caller must hold no keyspace lock.
func (m *Manager) ReplicaOf(host string, port int) (already bool, err error) {
	m.roleMu.Lock()
	defer m.roleMu.Unlock()
	if already, err := m.CheckReplicaOf(host, port); already || err != nil {
		return already, err
	}
	m.stopLink()

	m.host.LockWrites()
	m.mu.Lock()
	var drop []*replica
	if m.role == RoleMaster {
		// Its own history is what it continues from: if the new master
		// was its replica (a failover), PSYNC continues it.
		for r := range m.replicas {
			drop = append(drop, r)
		}
		m.feedMu.Lock()
		m.feeding.Store(false)
		m.feedMu.Unlock()
		if m.bl.Load() == nil {
			m.setBacklogLocked(m.base.Load())
		}
		m.cached = true
	}
	m.role, m.masterHost, m.masterPort = RoleReplica, host, port
	m.replica.Store(true)
	l := newLink(m, host, port)
	m.link = l
	m.mu.Unlock()
	m.host.UnlockWrites()
	for _, r := range drop {
		r.conn.Close()
	}
	m.log.Info("REPLICAOF enabled", "master", net.JoinHostPort(host, itoa(port)))
	go l.run()
	return false, nil
}

// NoOne makes a replica a master (REPLICAOF NO ONE): its data stays, its
// replication ID becomes new and the one it replicated becomes its
// second, so replicas of its old master can continue from it with PSYNC.
// Like ReplicaOf, it waits for the link and locks the keyspace: the caller
// must hold no keyspace lock.
func (m *Manager) NoOne() {
	m.roleMu.Lock()
	defer m.roleMu.Unlock()
	m.stopLink()
	if !m.IsReplica() {
		return
	}
	m.host.LockWrites()
	m.mu.Lock()
	off := m.offset()
	m.replid2, m.secondOffset, m.replid, m.cached = m.replid, off+1, newReplID(), true
	m.role, m.masterHost, m.masterPort = RoleMaster, "", 0
	m.replica.Store(false)
	m.feedMu.Lock()
	m.enc.db = -1
	m.feeding.Store(m.bl.Load() != nil)
	m.feedMu.Unlock()
	m.mu.Unlock()
	m.host.UnlockWrites()
	m.log.Info("MASTER MODE enabled", "replid", m.replid, "offset", off)
}

// Close stops the link and disconnects the replicas.
func (m *Manager) Close() {
	m.roleMu.Lock()
	defer m.roleMu.Unlock()
	m.stopLink()
	m.mu.Lock()
	var conns []net.Conn
	for r := range m.replicas {
		conns = append(conns, r.conn)
	}
	m.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// stopLink stops a replica's link, if any, and waits until it applies
// nothing more. Caller holds roleMu.
func (m *Manager) stopLink() {
	m.mu.Lock()
	l := m.link
	m.link = nil
	m.mu.Unlock()
	if l != nil {
		l.stop()
	}
}

// Cron runs the master's periodic work once a second: the PING it feeds
// every repl-ping-replica-period while replicas are connected.
func (m *Manager) Cron(now time.Time) {
	m.mu.Lock()
	ping := m.role == RoleMaster && len(m.replicas) > 0 && now.Sub(m.lastPing) >= m.host.Settings().PingPeriod
	if ping {
		m.lastPing = now
	}
	m.mu.Unlock()
	if ping {
		m.feedCommand("PING")
	}
}

// SetBacklogSize applies CONFIG SET repl-backlog-size.
func (m *Manager) SetBacklogSize(size, limit int64) {
	if bl := m.bl.Load(); bl != nil {
		bl.Resize(size, limit)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
