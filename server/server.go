// Package server accepts Redis clients, speaks RESP2/RESP3 to them, keeps
// their state (database, protocol, authentication, name) and dispatches
// their commands through the command table.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/vfs"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/replication"
	_ "github.com/structd/structd/scripting" // installs the Lua engine behind EVAL and SCRIPT
)

// Server is a running StructD server.
type Server struct {
	cfg   *config.Config
	ks    *memtier.Keyspace
	table commands.Table
	log   *slog.Logger
	start time.Time

	listeners []net.Listener
	nextID    atomic.Int64
	// loop serves the connections accepted under appendfsync always
	// (eventloop.go), from Start on.
	loop *eventLoop

	mu      sync.Mutex // guards clients
	clients map[int64]*client

	slowlog commands.SlowLog

	pubsub pubsubHub
	// scripts is this server's Lua engine: its script cache, aliases and
	// function libraries belong to it alone.
	scripts commands.ScriptEngine

	stats   Stats
	metrics instantMetrics // guarded by its own mutex
	pause   pauseState

	// persist is the disk side (persist.go); nil when the server runs as
	// a pure cache (appendonly no, save "").
	persist *persistence
	aofFS   vfs.FS
	// repl is the replication side (replication.go).
	repl *replication.Manager
	// tuneThreads: Options.TuneThreads.
	tuneThreads bool
	// shutdownSaved is set by SHUTDOWN, which took (or declined) the final
	// checkpoint itself: Close does not take another.
	shutdownSaved atomic.Bool
	persistClosed atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Stats are server-wide counters INFO reports.
type Stats struct {
	ConnectionsReceived atomic.Int64
	RejectedConnections atomic.Int64
	CommandsProcessed   atomic.Int64
	NetInputBytes       atomic.Int64
	NetOutputBytes      atomic.Int64
	ErrorReplies        atomic.Int64
	// HandlerPanics counts connections closed because a command panicked.
	// Every one is a bug; the tests require it to stay zero.
	HandlerPanics atomic.Int64

	errMu       sync.Mutex
	errorCounts map[string]int64 // by error prefix, for INFO errorstats
}

// HandlerPanics is how many commands have panicked since start (see
// client.serve); tests assert it is zero.
func (s *Server) HandlerPanics() int64 { return s.stats.HandlerPanics.Load() }

// Options configure New beyond the Config.
type Options struct {
	Logger *slog.Logger
	// Clock replaces the wall clock for expiry (tests).
	Clock memtier.Clock
	// AOFFS is the file system under the AOF; default the operating
	// system's. Tests pass a vfs.MemFS to drop unsynced writes or fail
	// fsyncs deterministically.
	AOFFS vfs.FS
	// TuneThreads lets the server choose how many threads run Go code by
	// measuring (threads.go); cmd/structd sets it when the operator did
	// not choose. Tests leave it off: it sets GOMAXPROCS process-wide.
	TuneThreads bool
}

// New builds a server from cfg and recovers its dataset from disk (unless
// it is a pure cache): the Pebble store opens and the AOF tail is replayed
// before it returns (invariant 4). It listens when Start is called.
func New(cfg *config.Config, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Clock == nil {
		opts.Clock = memtier.SystemClock{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.RLock()
	dbs := cfg.Databases
	cfg.RUnlock()
	s := &Server{
		cfg:     cfg,
		ks:      memtier.New(dbs, opts.Clock),
		table:   commands.All(),
		log:     opts.Logger,
		start:   time.Now(),
		clients: make(map[int64]*client),
		scripts: commands.NewScriptEngine(),
		ctx:     ctx,
		cancel:  cancel,
	}
	s.aofFS, s.tuneThreads = opts.AOFFS, opts.TuneThreads
	if s.aofFS == nil {
		s.aofFS = vfs.Default
	}
	s.ks.OnExpired = s.keyExpired
	s.ks.OnKeyMiss = s.keyMissed
	s.ks.OnNewKey = s.keyAdded
	s.repl = replication.NewManager(replicationHost{s}, s.log)
	if err := s.openPersistence(); err != nil {
		cancel()
		return nil, err
	}
	if err := s.restoreReplication(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// monoNow is the time since the server was created on the monotonic clock:
// half the cost of time.Now, for timings taken per command.
func (s *Server) monoNow() time.Duration { return time.Since(s.start) }

// Keyspace is the server's keyspace.
func (s *Server) Keyspace() *memtier.Keyspace { return s.ks }

// Table implements commands.Server.
func (s *Server) Table() commands.Table { return s.table }

// Config implements commands.Server.
func (s *Server) Config() *config.Config { return s.cfg }

// ScriptEngine implements commands.Server.
func (s *Server) ScriptEngine() commands.ScriptEngine { return s.scripts }

// loadScriptCatalog loads the script catalog (function libraries, script
// aliases) the store's last checkpoint holds into the server's engine,
// before the AOF replays the changes made after it, and has checkpoints
// store the catalog when it changes.
func (s *Server) loadScriptCatalog(p *persistence) error {
	if s.scripts == nil {
		return nil
	}
	p.ckpt.Catalog = s.scripts
	data, ok, err := p.store.Catalog()
	if err != nil || !ok {
		return err
	}
	return s.scripts.LoadCatalog(data)
}

// Start listens on every bind address and serves clients in the background.
// Port 0 picks a free port (the same one for every address when possible);
// Addr tells which.
func (s *Server) Start() error {
	s.cfg.RLock()
	binds, port := s.cfg.Bind, s.cfg.Port
	s.cfg.RUnlock()
	for _, addr := range binds {
		ln, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			s.closeListeners()
			return err
		}
		if port == 0 {
			port = ln.Addr().(*net.TCPAddr).Port
		}
		s.listeners = append(s.listeners, ln)
	}
	loop, err := newEventLoop(s)
	if err != nil {
		s.closeListeners()
		return fmt.Errorf("event loop: %w", err)
	}
	s.loop = loop
	for _, ln := range s.listeners {
		s.wg.Add(1)
		go s.acceptLoop(ln)
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.cron() }()
	if s.tuneThreads {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.tuneThreadCount() }()
	}
	s.log.Info("ready to accept connections", "addr", s.Addr())
	if set := s.cfg.ReplicationSettings(); set.MasterHost != "" {
		if _, err := s.repl.ReplicaOf(set.MasterHost, set.MasterPort); err != nil {
			s.Close()
			return err
		}
	}
	return nil
}

// Addr is the first listening address.
func (s *Server) Addr() string {
	if len(s.listeners) == 0 {
		return ""
	}
	return s.listeners[0].Addr().String()
}

// Port is the TCP port the server listens on (the one chosen for port 0).
func (s *Server) Port() int {
	if len(s.listeners) == 0 {
		return 0
	}
	return s.listeners[0].Addr().(*net.TCPAddr).Port
}

// Done is closed when the server begins shutting down (Close, or the
// SHUTDOWN command).
func (s *Server) Done() <-chan struct{} { return s.ctx.Done() }

// Shutdown implements commands.Server: it begins shutting down; the owner
// of the server sees Done and calls Close.
func (s *Server) Shutdown() {
	s.log.Warn("user requested shutdown")
	s.shutdownSaved.Store(true)
	s.cancel()
}

// Close stops accepting, disconnects every client and waits for the
// server's goroutines to finish.
func (s *Server) Close() {
	s.cancel()
	s.closeListeners()
	s.repl.Close() // the link applies nothing more: the data on disk is at its offset
	s.mu.Lock()
	for _, cl := range s.clients {
		cl.kill() // also wakes a client waiting out a pause
	}
	s.mu.Unlock()
	if s.loop != nil {
		s.loop.stop()
	}
	s.wg.Wait()
	if p := s.persist; p != nil && s.persistClosed.CompareAndSwap(false, true) {
		// A signal, not SHUTDOWN: save as SHUTDOWN would with save points.
		save := !s.shutdownSaved.Load() && s.cfg.PersistenceSettings().Save != ""
		if err := p.close(save); err != nil {
			s.log.Error("closing persistence", "err", err)
		} else {
			s.saveReplicationState()
		}
	}
}

func (s *Server) closeListeners() {
	for _, ln := range s.listeners {
		ln.Close()
	}
}

func (s *Server) acceptLoop(ln net.Listener) {
	defer s.wg.Done()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "err", err)
			time.Sleep(10 * time.Millisecond)
			continue
		}
		s.stats.ConnectionsReceived.Add(1)
		s.setKeepAlive(nc)
		cl := s.newClient(nc)
		if !s.register(cl) {
			s.stats.RejectedConnections.Add(1)
			nc.Write([]byte("-ERR max number of clients reached\r\n"))
			nc.Close()
			continue
		}
		if s.servesFromLoop() {
			err := s.loop.adopt(cl, nc)
			if err == nil {
				continue
			}
			s.log.Warn("event loop: cannot take a connection; it gets a goroutine", "addr", cl.addr, "err", err)
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer s.unregister(cl)
			cl.serve()
		}()
	}
}

// servesFromLoop reports whether a connection accepted now goes to the
// event loop: event-loop is yes and appendfsync always.
func (s *Server) servesFromLoop() bool {
	if s.persist.syncingLog() == nil {
		return false
	}
	s.cfg.RLock()
	defer s.cfg.RUnlock()
	return s.cfg.EventLoop
}

// setKeepAlive applies tcp-keepalive to a new connection.
func (s *Server) setKeepAlive(nc net.Conn) {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return
	}
	s.cfg.RLock()
	secs := s.cfg.TCPKeepAlive
	s.cfg.RUnlock()
	if secs <= 0 {
		tc.SetKeepAlive(false)
		return
	}
	tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true, Idle: time.Duration(secs) * time.Second,
		Interval: time.Duration(max(secs/3, 1)) * time.Second, Count: 3})
}

// register adds cl to the client registry unless maxclients is reached.
func (s *Server) register(cl *client) bool {
	max := s.cfg.Limits().MaxClients
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.clients) >= max {
		return false
	}
	s.clients[cl.session.ID] = cl
	return true
}

func (s *Server) unregister(cl *client) {
	s.mu.Lock()
	delete(s.clients, cl.session.ID)
	s.mu.Unlock()
	cl.releaseState()
	cl.drainOutput()
	cl.kill()
}

// cron runs periodic housekeeping hz times a second, like Redis's
// serverCron: active expiry (with a quarter of each period as its budget),
// closing idle clients, sampling the instantaneous metrics, refreshing the
// access clock. A CONFIG SET hz takes effect at the next tick.
func (s *Server) cron() {
	hz := s.hz()
	t := time.NewTicker(time.Second / time.Duration(hz))
	defer t.Stop()
	lastSample := time.Now()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.ks.RefreshAccessClock()
		if !s.repl.IsReplica() {
			// A replica's keys expire when its master's DEL arrives.
			s.ks.ActiveExpireCycle(time.Second / time.Duration(4*hz))
		}
		s.closeIdleClients()
		if s.persist != nil {
			s.persist.cron()
		}
		if now := time.Now(); now.Sub(lastSample) >= 100*time.Millisecond {
			s.sampleMetrics(now)
			s.repl.Cron(now)
			lastSample = now
		}
		if h := s.hz(); h != hz {
			hz = h
			t.Reset(time.Second / time.Duration(hz))
		}
	}
}

func (s *Server) hz() int {
	s.cfg.RLock()
	defer s.cfg.RUnlock()
	return max(s.cfg.Hz, 1)
}

func (s *Server) closeIdleClients() {
	timeout := s.cfg.Limits().Timeout
	if timeout <= 0 {
		return
	}
	now := int64(s.monoNow())
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, cl := range s.clients {
		if cl.blocked.Load() || cl.subCount.Load() > 0 || cl.role.Load() != roleNormal {
			continue // paused clients wait, as Redis's blocked clients do; subscribers are exempt
		}
		if now-cl.lastInteraction.Load() > int64(timeout) {
			s.log.Debug("closing idle client", "id", cl.session.ID, "addr", cl.addr)
			delete(s.clients, cl.session.ID)
			cl.kill()
		}
	}
}
