package server

import (
	"fmt"
	"log/slog"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/resp"
)

// client is one connection. Its goroutine, or the event loop while the
// loop serves it (eventloop.go), owns the reader, writer and
// session; fields other goroutines read are atomics, published once per
// read (see publish) so the per-command path stays free of them.
type client struct {
	srv *Server
	// connMu guards conn and loopFD where a goroutine other than the
	// owner reads them (kill); the owner changes them under it.
	connMu sync.Mutex
	conn   net.Conn
	// loopFD is the connection's descriptor while the event loop serves
	// it (conn is then closed: the loop reads and writes loopFD), else -1.
	loopFD  int
	addr    string
	laddr   string
	fd      int
	created time.Time

	session commands.Session
	reader  resp.RequestReader
	writer  resp.Writer
	ctx     commands.Ctx

	// lastInteraction is when the client last sent data, in nanoseconds of
	// the server's monotonic clock (Server.monoNow), for idle timeout.
	lastInteraction atomic.Int64
	// cmdStart is the monotonic time the current command began; each
	// command's end is the next one's start, so timing costs one clock
	// read per command.
	cmdStart time.Duration
	// lastCmd is the last command dispatched (CLIENT LIST's cmd field).
	lastCmd *commands.Command

	// Published for CLIENT LIST and INFO by the owner goroutine.
	pubState atomic.Uint64 // db | resp<<32 | noEvict<<40
	pubCmd   atomic.Pointer[commands.Command]
	pubQbuf  atomic.Int64 // bytes buffered, not yet parsed
	pubRbs   atomic.Int64 // query buffer capacity
	pubRbp   atomic.Int64 // largest query buffer capacity seen
	// blocked is set while the client waits for CLIENT PAUSE to end or in
	// a blocking command.
	blocked atomic.Bool
	// pubBlocked is the blocking command the client waits in, for CLIENT
	// UNBLOCK (blocking.go).
	pubBlocked atomic.Pointer[commands.Blocked]

	// killed is closed (once) when the connection is being torn down, to
	// wake a client waiting in a pause.
	killOnce sync.Once
	killed   chan struct{}

	// Pub/sub and transactions (pubsub.go, outbuf.go, multi.go). out is
	// set once, by the client's goroutine, at its first subscription.
	out      atomic.Pointer[asyncOutput]
	subs     subscriptions
	subCount atomic.Int64
	pubSubs  atomic.Uint64 // channels | patterns<<21 | shard<<42
	pubMulti atomic.Int64  // 0 outside MULTI, else 1 + queued commands

	// calls are the calls not yet added to the command statistics
	// (dispatch.go).
	calls callStats

	// role is roleNormal, or the end of a replication link this
	// connection is (replication.go).
	role atomic.Uint32

	// batch is the client's write handed to the reply writer
	// (replybatch.go).
	batch batchedWrite
	// deferred is the client's reply handed to the log's flusher, to send
	// after an fsync (deferred.go).
	deferred deferredReply
}

// maxKeptReplyBuffer is the largest reply buffer kept for the next replies
// once sent: a larger one is dropped rather than pinned.
const maxKeptReplyBuffer = 1 << 20

func (s *Server) newClient(nc net.Conn) *client {
	raw, fd := rawConn(nc)
	cl := &client{
		srv:     s,
		conn:    nc,
		addr:    nc.RemoteAddr().String(),
		laddr:   nc.LocalAddr().String(),
		fd:      fd,
		loopFD:  -1,
		created: time.Now(),
		killed:  make(chan struct{}),
		batch:   batchedWrite{raw: raw, done: make(chan struct{}, 1)},
	}
	cl.session.ID = s.nextID.Add(1)
	cl.session.Proto = 2
	cl.session.User = "default"
	cl.session.Authenticated = s.cfg.Limits().RequirePass == ""
	cl.publish()
	cl.lastInteraction.Store(int64(s.monoNow()))
	cl.ctx = commands.Ctx{W: &cl.writer, Session: &cl.session, Server: s, KS: s.ks, Conn: cl, Log: &effectLog{s: s}}
	return cl
}

// serve reads requests, runs them and writes replies until the connection
// ends. All commands parsed from one read run before one write of their
// replies, so a pipeline costs one syscall each way.
func (cl *client) serve() { cl.serveFrom(nil) }

// serveFrom is serve for a connection the event loop hands over: first it
// sends the replies the loop left buffered, then runs args (the request
// the loop parsed and left to the goroutine, if any) and the rest of what
// the loop read.
func (cl *client) serveFrom(args [][]byte) {
	defer cl.awaitDeferred() // the last reply leaves before the connection closes
	defer cl.flushCalls()
	defer cl.recoverPanic()
	if !cl.flush() {
		return
	}
	if args != nil && !(cl.runCommand(args) && cl.processInput()) {
		return
	}
	for {
		cl.refreshLimits()
		n, err := cl.conn.Read(cl.reader.Space())
		if n > 0 {
			cl.reader.Commit(n)
			cl.srv.stats.NetInputBytes.Add(int64(n))
			cl.cmdStart = cl.srv.monoNow()
			cl.lastInteraction.Store(int64(cl.cmdStart))
			if !cl.processInput() {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// recoverPanic keeps a panicking command from taking the server down: the
// command's locks were released by Exec's deferred unlocks, the panic is
// logged with its stack and counted, and only this connection is closed.
// A panic is always a bug to fix; this is the last line of defence.
func (cl *client) recoverPanic() {
	if v := recover(); v != nil {
		cl.srv.stats.HandlerPanics.Add(1)
		cl.srv.log.Error("BUG: command panicked; closing the client",
			"id", cl.session.ID, "addr", cl.addr, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
		cl.writer.Error("ERR internal error")
		cl.flush()
	}
}

// refreshLimits applies the current protocol limits before each read.
func (cl *client) refreshLimits() {
	limits := cl.srv.cfg.Limits()
	cl.reader.MaxBulkLen = limits.ProtoMaxBulkLen
	cl.reader.Authenticated = cl.session.Authenticated || limits.RequirePass == ""
}

// processInput runs every complete command in the query buffer and flushes
// the replies. It returns false when the connection must close.
func (cl *client) processInput() bool {
	keep, _ := cl.runCommands()
	return keep && cl.inputDone() && (cl.deferReplies() || cl.flush())
}

// runCommands runs every whole command in the query buffer. On the event
// loop, a command that may wait is left to a goroutine the connection is
// handed to with it, and handedOver is set. keep is false when the
// connection must close.
func (cl *client) runCommands() (keep, handedOver bool) {
	for {
		args, ok := cl.nextCommand()
		if !ok {
			return false, false
		}
		if args == nil {
			return true, false
		}
		if cl.loopFD >= 0 && cl.srv.waitsOffLoop(args) {
			cl.srv.loop.handOver(cl, args)
			return true, true
		}
		if !cl.runCommand(args) {
			return false, false
		}
	}
}

// nextCommand parses the next request in the query buffer: nil when none
// is whole yet, and false after a protocol error, whose reply it sent (the
// connection must close).
func (cl *client) nextCommand() ([][]byte, bool) {
	args, err := cl.reader.Next()
	if err != nil {
		cl.writer.Error(err.Error())
		cl.flush()
		cl.srv.log.Debug("protocol error", "id", cl.session.ID, "addr", cl.addr, "err", err)
		return nil, false
	}
	return args, true
}

// runCommand runs one request and what its reply asks of the connection.
// It returns false when the connection must close.
func (cl *client) runCommand(args [][]byte) bool {
	cl.srv.dispatch(cl, args)
	if cl.out.Load() != nil {
		// A subscriber's replies join its pending output after each
		// command, so a message queued while the next one runs (a
		// keyspace event of its own write) follows them.
		cl.flushAsync()
	}
	if cl.session.CloseAfterReply {
		cl.flush()
		return false
	}
	if req := cl.session.Replica.Sync; req != nil {
		if cl.flush() {
			cl.serveReplica(req)
		}
		return false
	}
	return true
}

// inputDone publishes the client's state once the commands of a read have
// run, and returns false if the query buffer outgrew its limit (the
// connection must close).
func (cl *client) inputDone() bool {
	cl.publish()
	if int64(cl.reader.Buffered()) > cl.srv.cfg.Limits().ClientQueryBufferLimit {
		cl.srv.log.Warn("closing client that reached max query buffer length",
			slog.Int64("id", cl.session.ID), slog.String("addr", cl.addr), slog.Int("qbuf", cl.reader.Buffered()))
		return false
	}
	return true
}

// flush writes buffered replies. It returns false if the write failed, or
// if the writes they acknowledge could not be made durable.
func (cl *client) flush() bool {
	cl.flushCalls()
	if !cl.awaitDeferred() || !cl.awaitDurable() {
		return false
	}
	if cl.writer.Len() == 0 {
		return true
	}
	if cl.out.Load() != nil {
		cl.flushAsync()
		return true
	}
	if cl.normalOutputOverLimit() {
		return false
	}
	n, err := cl.writeReplies(cl.writer.Buf)
	cl.srv.stats.NetOutputBytes.Add(int64(n))
	if err == nil && n < len(cl.writer.Buf) {
		// Only the event loop's writes stop short: the rest stays buffered
		// for the goroutine the loop hands the connection to.
		cl.writer.Buf = cl.writer.Buf[:copy(cl.writer.Buf, cl.writer.Buf[n:])]
		return true
	}
	if cap(cl.writer.Buf) > maxKeptReplyBuffer {
		cl.writer.Buf = nil
	} else {
		cl.writer.Reset()
	}
	return err == nil
}

// awaitDurable waits until the writes whose replies are buffered are as
// durable as appendfsync asks (fsynced under always: the reply is sent only
// after the fsync that covers it, shared by every client waiting for it).
// If they cannot be, no reply is sent and the connection closes: a client
// is never told a write is safe when it is not (the next writes get
// MISCONF).
func (cl *client) awaitDurable() bool {
	c := &cl.ctx
	pos, logErr := c.LogPos, c.LogErr
	c.LogPos, c.LogErr = aof.Pos{}, nil
	if logErr == nil && !pos.IsZero() {
		logErr = cl.srv.persist.waitDurable(pos)
	}
	if logErr != nil {
		cl.srv.log.Error("closing a client whose writes could not be logged", "id", cl.session.ID, "addr", cl.addr, "err", logErr)
		cl.writer.Reset()
		return false
	}
	return true
}

// awaitLogEnd makes the next flush wait for everything logged so far.
func (cl *client) awaitLogEnd() {
	if p := cl.srv.persist; p != nil {
		if w := p.log.Load(); w != nil {
			if pos := w.Pos(); cl.ctx.LogPos.Less(pos) {
				cl.ctx.LogPos = pos
			}
		}
	}
}

// publish makes the state CLIENT LIST shows visible to other goroutines.
// It runs once per read, not per command.
func (cl *client) publish() {
	st := uint64(uint32(cl.session.DB)) | uint64(cl.session.Proto)<<32
	if cl.session.NoEvict {
		st |= 1 << 40
	}
	cl.pubState.Store(st)
	cl.pubCmd.Store(cl.lastCmd)
	cl.pubQbuf.Store(int64(cl.reader.Buffered()))
	cl.publishTx()
	if c := int64(cl.reader.Capacity()); c != cl.pubRbs.Load() {
		cl.pubRbs.Store(c)
		if c > cl.pubRbp.Load() {
			cl.pubRbp.Store(c)
		}
	}
}

// kill closes the connection; safe from any goroutine, any number of times.
// A connection the event loop serves is shut down instead: the loop finds
// it ended and closes it (closing its descriptor here could close another
// connection's that reused the number before the loop looked).
func (cl *client) kill() {
	cl.killOnce.Do(func() {
		close(cl.killed)
		cl.connMu.Lock()
		defer cl.connMu.Unlock()
		if cl.loopFD >= 0 {
			shutdown(cl.loopFD)
			return
		}
		cl.conn.Close()
	})
}
