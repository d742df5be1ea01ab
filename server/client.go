package server

import (
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/resp"
)

// client is one connection. Its goroutine owns the reader, writer and
// session; fields other goroutines read are atomics.
type client struct {
	srv     *Server
	conn    net.Conn
	addr    string
	laddr   string
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
}

func (s *Server) newClient(nc net.Conn) *client {
	cl := &client{
		srv:     s,
		conn:    nc,
		addr:    nc.RemoteAddr().String(),
		laddr:   nc.LocalAddr().String(),
		created: time.Now(),
	}
	cl.session.ID = s.nextID.Add(1)
	cl.session.Proto = 2
	cl.lastInteraction.Store(int64(s.monoNow()))
	cl.ctx = commands.Ctx{W: &cl.writer, Session: &cl.session, Server: s, KS: s.ks}
	return cl
}

// serve reads requests, runs them and writes replies until the connection
// ends. All commands parsed from one read run before one write of their
// replies, so a pipeline costs one syscall each way.
func (cl *client) serve() {
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

// refreshLimits applies the current protocol limits before each read.
func (cl *client) refreshLimits() {
	cfg := cl.srv.cfg
	cfg.RLock()
	cl.reader.MaxBulkLen = cfg.ProtoMaxBulkLen
	cl.reader.Authenticated = cl.session.Authenticated || cfg.RequirePass == ""
	cfg.RUnlock()
}

// processInput runs every complete command in the query buffer and flushes
// the replies. It returns false when the connection must close.
func (cl *client) processInput() bool {
	for {
		args, err := cl.reader.Next()
		if err != nil {
			cl.writer.Error(err.Error())
			cl.flush()
			cl.srv.log.Debug("protocol error", "id", cl.session.ID, "addr", cl.addr, "err", err)
			return false
		}
		if args == nil {
			break
		}
		cl.srv.dispatch(cl, args)
		if cl.session.CloseAfterReply {
			cl.flush()
			return false
		}
	}
	cl.srv.cfg.RLock()
	limit := cl.srv.cfg.ClientQueryBufferLimit
	cl.srv.cfg.RUnlock()
	if int64(cl.reader.Buffered()) > limit {
		cl.srv.log.Warn("closing client that reached max query buffer length",
			slog.Int64("id", cl.session.ID), slog.String("addr", cl.addr), slog.Int("qbuf", cl.reader.Buffered()))
		return false
	}
	return cl.flush()
}

// flush writes buffered replies. It returns false if the write failed.
func (cl *client) flush() bool {
	if cl.writer.Len() == 0 {
		return true
	}
	n, err := cl.conn.Write(cl.writer.Buf)
	cl.srv.stats.NetOutputBytes.Add(int64(n))
	if cap(cl.writer.Buf) > 1<<20 {
		cl.writer.Buf = nil // do not pin a large reply buffer
	} else {
		cl.writer.Reset()
	}
	return err == nil
}
