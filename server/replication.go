package server

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/structd/structd/aof"
	"github.com/structd/structd/commands"
	"github.com/structd/structd/config"
	"github.com/structd/structd/disktier"
	"github.com/structd/structd/internal/vfs"
	"github.com/structd/structd/replication"
	"github.com/structd/structd/snapshot"
)

// The server's side of replication (package replication does the
// protocol): the effect log that feeds the stream, the master client that
// applies a master's stream, the checkpoint a full sync ships and the
// store swap that loads one.

// Client roles, for CLIENT LIST flags and the checks that exempt them.
const (
	roleNormal  uint32 = iota
	roleMaster         // a replica's link to its master (flag M)
	roleReplica        // a replica's link to this master (flag S)
)

// effectLog is a connection's EffectLog: the AOF, and the replication
// stream of a master. It remembers the stream offset after the
// connection's last write, which WAIT waits for.
type effectLog struct {
	s *Server
	// master is set for the master client: its writes reach this
	// replica's AOF, and its stream is relayed into the backlog as
	// received, not fed again.
	master bool
	// commits is set while the event loop serves the connection: the loop
	// commits the log itself after each pass (eventloop.go).
	commits bool
	woff    int64
}

// LogEffects implements commands.EffectLog.
func (l *effectLog) LogEffects(effects []commands.Effect) (aof.Pos, error) {
	var pos aof.Pos
	var err error
	if p := l.s.persist; p != nil {
		pos, err = p.logEffects(effects, l.commits)
	}
	if !l.master {
		if off := l.s.repl.Feed(effects); off > 0 {
			l.woff = off
		}
	}
	return pos, err
}

// WriteOffset implements commands.WriteOffsetter.
func (l *effectLog) WriteOffset() int64 { return l.woff }

// Replication implements commands.Server.
func (s *Server) Replication() *replication.Manager { return s.repl }

// ReadOnlyReplica implements commands.ReadOnlyReplica.
func (s *Server) ReadOnlyReplica() bool {
	return s.repl.IsReplica() && s.cfg.ReplicationSettings().ReadOnly
}

// replicaRefusal is the error a client of a replica gets for cmd, or "":
// READONLY for a write on a read-only replica, MASTERDOWN for a command
// that needs fresh data while the link is down and
// replica-serve-stale-data is off, as Redis's processCommand.
func (s *Server) replicaRefusal(cl *client, cmd *commands.Command) string {
	if cl.role.Load() == roleMaster || !s.repl.IsReplica() {
		return ""
	}
	set := s.cfg.ReplicationSettings()
	if set.ReadOnly && cmd.Flags&commands.Write != 0 {
		return commands.ErrReadOnlyReplica
	}
	if !set.ServeStale && cmd.Flags&commands.Stale == 0 && !s.repl.LinkUp() {
		return "MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."
	}
	return ""
}

// replicationHost implements replication.Host over the server.
type replicationHost struct{ s *Server }

func (h replicationHost) Settings() replication.Settings {
	set := h.s.cfg.ReplicationSettings()
	limit := h.s.cfg.Limits().OutputBufferLimits[config.ClientReplica].Hard
	if limit <= 0 {
		limit = math.MaxInt64 / 2 // no limit
	}
	return replication.Settings{
		BacklogSize:  set.BacklogSize,
		BacklogLimit: limit,
		Timeout:      set.ReplTimeout(),
		PingPeriod:   time.Duration(set.PingPeriod) * time.Second,
		MasterAuth:   set.MasterAuth,
		Port:         h.s.Port(),
	}
}

func (h replicationHost) Dir() string {
	if p := h.s.persist; p != nil {
		return p.dir
	}
	return ""
}

func (h replicationHost) LockWrites()   { h.s.ks.LockAll() }
func (h replicationHost) UnlockWrites() { h.s.ks.UnlockAll() }

// SyncCheckpoint takes a checkpoint and, before another can commit, links
// the store's files into dir (Pebble's checkpoint: hard links to the
// immutable tables, copies of the manifest and options): the dataset as
// of the checkpoint's point in time, whose stream offset it returns.
func (h replicationHost) SyncCheckpoint(dir string) (int64, error) {
	p := h.s.persist
	if p == nil {
		return 0, errors.New("no store")
	}
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	if err := p.runCheckpoint("replication full sync"); err != nil {
		return 0, err
	}
	if err := p.store.Pebble().Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return 0, fmt.Errorf("linking the checkpoint's files: %w", err)
	}
	return p.pointOffset, nil
}

// LoadSync replaces the dataset with the store a master shipped, with
// every command held, then checkpoints so the store records this server's
// own AOF position.
func (h replicationHost) LoadSync(storeDir string) error {
	s := h.s
	p := s.persist
	if p == nil {
		return replication.ErrNoStore
	}
	p.stopWarmUp()
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	p.logMu.Lock()
	s.ks.LockAll()
	err := p.swapStore(storeDir)
	s.ks.UnlockAll()
	p.logMu.Unlock()
	if err != nil {
		return err
	}
	return p.runCheckpoint("full sync loaded")
}

// emptyCatalog is the script catalog's encoding with nothing in it
// (scripting's catalog_codec.go: version 1, no library, no script, no
// alias): what a replica loads when its master's store has none.
var emptyCatalog = []byte{1, 0, 0, 0}

// swapStore closes the AOF and the store, puts storeDir in the store's
// place, and opens everything again over it. Caller holds saveMu, logMu
// and LockAll.
func (p *persistence) swapStore(storeDir string) error {
	s := p.srv
	if w := p.log.Load(); w != nil {
		p.log.Store(nil)
		if err := w.Close(); err != nil {
			s.log.Warn("closing the AOF before loading the master's checkpoint", "err", err)
		}
	}
	if err := p.store.Close(); err != nil {
		s.log.Warn("closing the store before loading the master's checkpoint", "err", err)
	}
	live := filepath.Join(p.dir, "store")
	old := live + ".old"
	err := os.RemoveAll(old)
	if err == nil {
		err = os.Rename(live, old)
	}
	if err == nil {
		if err = os.Rename(storeDir, live); err != nil {
			os.Rename(old, live)
		}
	}
	if err == nil {
		err = vfs.Default.SyncDir(p.dir)
		os.RemoveAll(old)
	}
	// Whatever happened, the server needs a store: the new one, or the
	// old one back.
	store, openErr := disktier.Open(live, disktier.Options{Logger: s.log})
	if openErr != nil {
		return fmt.Errorf("the store cannot be opened after loading the master's checkpoint (restart the server): %w", errors.Join(err, openErr))
	}
	p.store, p.ckpt.Store = store, store
	if rerr := s.ks.ReplaceStore(snapshot.ColdStore{Store: store}); rerr != nil {
		err = errors.Join(err, rerr)
	}
	if err == nil {
		err = p.removeSegments()
	}
	if err == nil && s.scripts != nil {
		data, ok, cerr := store.Catalog()
		if !ok {
			data = emptyCatalog
		}
		if err = cerr; err == nil {
			err = s.scripts.LoadCatalog(data)
		}
	}
	if s.cfg.PersistenceSettings().AppendOnly {
		w, werr := aof.Open(p.aofOp)
		if werr != nil {
			return errors.Join(err, werr)
		}
		p.log.Store(w)
		p.logBase.Store(0)
	}
	p.aofBaseSize.Store(store.DiskSize())
	return err
}

// masterClient is the client that applies a master's stream: a client
// of the registry (CLIENT LIST shows it with flag M, CLIENT KILL TYPE
// master closes its link) whose replies are dropped.
type masterClient struct{ cl *client }

// NewMasterClient implements replication.Host.
func (h replicationHost) NewMasterClient(conn net.Conn, db int) replication.MasterClient {
	s := h.s
	cl := s.newClient(conn)
	cl.role.Store(roleMaster)
	cl.ctx.Log = &effectLog{s: s, master: true}
	cl.session.Authenticated = true
	cl.session.Master = true
	cl.session.DB = db
	cl.publish()
	s.mu.Lock()
	s.clients[cl.session.ID] = cl
	s.mu.Unlock()
	return &masterClient{cl: cl}
}

// Apply implements replication.MasterClient: the command runs as any
// client's would, its reply is dropped (an error reply is logged: the
// replica and its master disagree), and a panic drops the link rather
// than the server.
func (mc *masterClient) Apply(args [][]byte) (err error) {
	cl := mc.cl
	s := cl.srv
	defer func() {
		if v := recover(); v != nil {
			s.stats.HandlerPanics.Add(1)
			err = fmt.Errorf("BUG: command from the master panicked: %v", v)
		}
	}()
	if cmd := s.table.Lookup(args[0]); cmd != nil && cmd.Flags&commands.Blocking != 0 && !cl.session.Multi.Active {
		// A master sends the pops blocking commands made, never one
		// that waits.
		s.log.Warn("blocking command from the master skipped", "cmd", string(args[0]))
		return nil
	}
	cl.cmdStart = s.monoNow()
	cl.lastInteraction.Store(int64(cl.cmdStart))
	cl.writer.Reset()
	s.dispatch(cl, args)
	if b := cl.writer.Buf; len(b) > 0 && b[0] == '-' {
		s.log.Warn("command from the master answered an error", "cmd", string(args[0]), "reply", string(trimCRLF(b[1:min(len(b), 200)])))
	}
	cl.writer.Reset()
	cl.session.Replica.Sync = nil
	if cl.session.CloseAfterReply {
		return errors.New("the master sent a command that closes its link")
	}
	c := &cl.ctx
	logErr := c.LogErr
	c.LogPos, c.LogErr = aof.Pos{}, nil
	if logErr != nil {
		s.log.Error("the stream from the master could not be logged to the AOF", "err", logErr)
	}
	return nil
}

func trimCRLF(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

func (mc *masterClient) InTransaction() bool { return mc.cl.session.Multi.Active }
func (mc *masterClient) DB() int             { return mc.cl.session.DB }

func (mc *masterClient) Close() {
	mc.cl.flushCalls()
	mc.cl.srv.unregister(mc.cl)
}

// serveReplica hands the connection, after the reply to its SYNC or
// PSYNC, to the master side of replication until the replica's link ends.
func (cl *client) serveReplica(req *replication.SyncRequest) {
	cl.role.Store(roleReplica)
	cl.publish()
	cl.srv.repl.ServeReplica(cl.conn, nil, *req)
}

// Killed implements commands.Killable.
func (cl *client) Killed() <-chan struct{} { return cl.killed }

// startReplication restores the replication ID and offset a clean
// shutdown recorded, and starts replicating the configured master.
func (s *Server) restoreReplication() error {
	p := s.persist
	if p == nil {
		return nil
	}
	replid, off, ok, err := replication.TakeState(p.dir)
	if err != nil {
		return err
	}
	if ok {
		s.repl.Restore(replid, off)
		s.log.Info("replication state restored", "replid", replid, "offset", off)
	}
	return nil
}

// recoverStoreSwap finishes, before the store opens, a replica's store
// swap that a crash interrupted between its two renames (swapStore): the
// old store is put back, and a full sync follows. It also removes the
// files of full syncs a crash left behind.
func recoverStoreSwap(dir string) error {
	live := filepath.Join(dir, "store")
	if _, err := os.Stat(live); errors.Is(err, os.ErrNotExist) {
		if _, err := os.Stat(live + ".old"); err == nil {
			if err := os.Rename(live+".old", live); err != nil {
				return err
			}
		}
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "replsync-*.tmp"))
	stale = append(stale, live+".old")
	for _, path := range stale {
		os.RemoveAll(path)
	}
	return nil
}

// saveReplicationState records the replication ID and offset of the data
// on disk, at a clean shutdown (after the AOF is closed).
func (s *Server) saveReplicationState() {
	p := s.persist
	if p == nil {
		return
	}
	replid, off, ok := s.repl.State()
	if !ok {
		return
	}
	if err := replication.SaveState(p.dir, replid, off); err != nil {
		s.log.Warn("replication state not saved: a restarted replica will resynchronize fully", "err", err)
	}
}
