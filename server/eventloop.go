package server

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/structd/structd/commands"
)

// The event loop serves connections as Redis does: one goroutine waits on
// epoll for every connection it holds, reads each ready one once and runs
// its commands, and after the pass over the ready ones commits the log
// (aof.Writer.Commit: one write, one fdatasync) and then writes their
// replies. It serves the connections accepted while appendfsync is always
// (and event-loop is yes); the others have a goroutine of their own.
//
// Why: under always without pipelining, a goroutine per connection and a
// flusher thread cost a wake-up of a parked goroutine or thread for every
// request and every fsync. Measured with redis-benchmark -t set -P 1 -d 3
// -r 1000 under always, alternating with Redis (2026-11-29): at 50 clients
// 75-80k requests per second against Redis's 72-75k and 8.4-8.7 µs of CPU
// a request (goroutines: 67-68k at 11.0-11.7), at 200 clients 111-114k
// against 111-118k (goroutines: 92-95k); at -P 16 -d 256 (the persistence
// benchmark's SET row) 276-282k against 257-259k, where goroutines served
// 312-334k: the loop runs commands on one thread, and never while it
// fsyncs. bench/netmodel -workload always measures the models bare.
//
// A command that may wait (Blocking, PubSub, Admin, MayWait: BLPOP,
// SUBSCRIBE, SAVE, EVAL, EXEC, WAIT ...) or one sent while CLIENT PAUSE is
// in force would hold up every connection of the loop, so before it runs
// the loop hands its connection to a goroutine of its own, which runs it
// and serves the connection from then on (handOver). So does a reply the
// socket cannot take whole: the goroutine sends the rest with a blocking
// write. A connection never comes back to the loop. Short waits stay on
// it: a slot lock another goroutine holds, a cold key read from Pebble,
// and a CLIENT PAUSE that begins between waitsOffLoop's look and the
// command's own (the loop waits it out as the client would).
//
// Ownership: the loop's goroutine alone reads and writes a connection it
// holds, as a connection's goroutine does its own. Other goroutines end it
// with kill, which shuts the socket down (shutdown(2)); the loop then
// reads its end and closes the descriptor.
type eventLoop struct {
	srv  *Server
	epfd int
	wake int // an eventfd in the epoll set: written once, by stop

	mu      sync.Mutex
	clients map[int32]*client // by descriptor; the accept goroutines add to it
	stopped bool

	// ready are the clients of this pass with replies to send after the
	// commit; loop goroutine only.
	ready []*client
}

var errLoopStopped = errors.New("the event loop has stopped")

// newEventLoop creates the loop and starts its goroutine.
func newEventLoop(s *Server) (*eventLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wake, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		syscall.Close(epfd)
		return nil, fmt.Errorf("eventfd2: %w", errno)
	}
	l := &eventLoop{srv: s, epfd: epfd, wake: int(wake), clients: make(map[int32]*client)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, l.wake, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.wake)}); err != nil {
		syscall.Close(l.wake)
		syscall.Close(epfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	s.wg.Add(1)
	go l.run()
	return l, nil
}

// adopt moves cl's connection nc into the loop: the loop serves a
// duplicate of its descriptor, and nc is closed, which takes the original
// out of the runtime's poller. On an error nc is left as it was.
func (l *eventLoop) adopt(cl *client, nc net.Conn) error {
	if cl.batch.raw == nil {
		return errors.New("the connection has no descriptor")
	}
	fd := -1
	var dupErr error
	if err := cl.batch.raw.Control(func(f uintptr) { fd, dupErr = dupCloexec(int(f)) }); err != nil {
		return err
	}
	if dupErr != nil {
		return dupErr
	}
	raw, ncFD := cl.batch.raw, cl.fd
	cl.connMu.Lock()
	cl.loopFD, cl.fd, cl.batch.raw = fd, fd, nil
	cl.connMu.Unlock()
	setCommits(cl, true)
	undo := func(err error) error {
		setCommits(cl, false)
		cl.connMu.Lock()
		cl.loopFD, cl.fd, cl.batch.raw = -1, ncFD, raw
		cl.connMu.Unlock()
		syscall.Close(fd)
		return err
	}
	l.mu.Lock()
	if l.stopped {
		l.mu.Unlock()
		return undo(errLoopStopped)
	}
	l.clients[int32(fd)] = cl // the loop reads cl from here on
	l.mu.Unlock()
	if err := syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)}); err != nil {
		l.forget(fd)
		return undo(fmt.Errorf("epoll_ctl: %w", err))
	}
	nc.Close() // fd keeps the connection open
	cl.connMu.Lock()
	if isClosed(cl.killed) && cl.loopFD == fd {
		shutdown(fd) // killed before loopFD was set: kill closed nc only
	}
	cl.connMu.Unlock()
	return nil
}

// stop makes the loop close its connections and exit; safe to call again.
func (l *eventLoop) stop() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped { // else exit closed wake, whose number may be reused
		one := [8]byte{1}
		syscall.Write(l.wake, one[:])
	}
}

func (l *eventLoop) run() {
	defer l.srv.wg.Done()
	defer l.exit()
	events := make([]syscall.EpollEvent, 256)
	for {
		n, err := syscall.EpollWait(l.epfd, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			l.srv.log.Error("event loop: epoll_wait failed; closing its connections", "err", err)
			return
		}
		for _, ev := range events[:n] {
			if int(ev.Fd) == l.wake {
				return
			}
			l.mu.Lock()
			cl := l.clients[ev.Fd]
			l.mu.Unlock()
			if cl != nil {
				l.serveReady(cl)
			}
		}
		l.commit()
	}
}

// exit closes every connection still in the loop, and the loop's own
// descriptors.
func (l *eventLoop) exit() {
	l.commit()
	l.mu.Lock()
	l.stopped = true
	held := make([]*client, 0, len(l.clients))
	for _, cl := range l.clients {
		held = append(held, cl)
	}
	l.mu.Unlock()
	for _, cl := range held {
		l.drop(cl)
	}
	l.mu.Lock()
	syscall.Close(l.wake)
	l.mu.Unlock()
	syscall.Close(l.epfd)
}

// serveReady reads what cl sent and runs its commands. A panicking
// command closes the connection, as it does a goroutine's (recoverPanic).
func (l *eventLoop) serveReady(cl *client) {
	served := false
	defer func() {
		if !served {
			l.drop(cl)
		}
	}()
	defer cl.recoverPanic()
	cl.refreshLimits()
	n, err := syscall.Read(cl.loopFD, cl.reader.Space())
	switch {
	case n > 0:
		cl.reader.Commit(n)
		cl.srv.stats.NetInputBytes.Add(int64(n))
		cl.cmdStart = cl.srv.monoNow()
		cl.lastInteraction.Store(int64(cl.cmdStart))
		served = l.runInput(cl)
	case errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR):
		served = true
	}
}

// runInput runs every whole command cl's query buffer holds, as
// processInput does, leaving the replies for the pass's end, or hands the
// connection over before a command that may wait. It returns false when
// the connection must close.
func (l *eventLoop) runInput(cl *client) bool {
	keep, handedOver := cl.runCommands()
	if !keep || handedOver {
		return keep
	}
	if !cl.inputDone() {
		return false
	}
	if cl.writer.Len() > 0 || !cl.ctx.LogPos.IsZero() {
		l.ready = append(l.ready, cl)
	}
	return true
}

// waitsOffLoop reports whether the command args may wait, so that its
// connection must leave the loop before it runs.
func (s *Server) waitsOffLoop(args [][]byte) bool {
	if s.pause.mode.Load() != uint32(commands.PauseOff) {
		return true
	}
	cmd := s.table.Resolve(args)
	return cmd != nil && cmd.Flags&(commands.Blocking|commands.PubSub|commands.Admin|commands.MayWait) != 0
}

// commit ends a pass: it commits the log if a ready client logged writes
// and the mode asks for an fsync before the reply, then sends the ready
// clients' replies (a commit that failed closes the clients whose writes
// it did not make durable, in flush, as for any client).
func (l *eventLoop) commit() {
	if len(l.ready) == 0 {
		return
	}
	if w := l.srv.persist.syncingLog(); w != nil {
		for _, cl := range l.ready {
			if !cl.ctx.LogPos.IsZero() {
				w.Commit() // its error reaches each client through flush
				break
			}
		}
	}
	for i, cl := range l.ready {
		l.ready[i] = nil
		switch {
		case !cl.flush():
			l.drop(cl)
		case cl.writer.Len() > 0:
			l.handOver(cl, nil) // the socket took part of the replies
		}
	}
	l.ready = l.ready[:0]
}

// forget takes the descriptor out of the loop.
func (l *eventLoop) forget(fd int) {
	syscall.EpollCtl(l.epfd, syscall.EPOLL_CTL_DEL, fd, nil)
	l.mu.Lock()
	delete(l.clients, int32(fd))
	l.mu.Unlock()
}

// drop ends a connection the loop holds.
func (l *eventLoop) drop(cl *client) {
	cl.connMu.Lock()
	fd := cl.loopFD
	cl.loopFD = -1
	cl.connMu.Unlock()
	if fd < 0 {
		return // dropped already
	}
	l.forget(fd)
	syscall.Close(fd)
	cl.flushCalls()
	l.srv.unregister(cl)
}

// handOver gives cl's connection a goroutine of its own, which first sends
// the replies still buffered, then runs args (the command that may wait;
// nil for none) and serves the connection from then on.
func (l *eventLoop) handOver(cl *client, args [][]byte) {
	fd := cl.loopFD
	l.forget(fd)
	f := os.NewFile(uintptr(fd), "client")
	nc, err := net.FileConn(f) // a descriptor of its own, in the runtime's poller
	setCommits(cl, false)
	cl.connMu.Lock()
	f.Close()
	cl.loopFD = -1
	if err == nil {
		cl.conn = nc
		cl.batch.raw, cl.fd = rawConn(nc)
	}
	cl.connMu.Unlock()
	if err != nil {
		cl.srv.log.Error("event loop: cannot hand a connection to a goroutine; closing it", "id", cl.session.ID, "addr", cl.addr, "err", err)
		cl.flushCalls()
		cl.srv.unregister(cl)
		return
	}
	if isClosed(cl.killed) {
		nc.Close() // killed before conn was set: kill shut the old descriptor down
	}
	cl.srv.wg.Add(1)
	go func() {
		defer cl.srv.wg.Done()
		defer cl.srv.unregister(cl)
		cl.serveFrom(args)
	}()
}

// setCommits says whether the loop commits what cl's commands log
// (effectLog.commits). A connection on the loop runs no script, so its
// Ctx.Log is its own effectLog.
func setCommits(cl *client, on bool) { cl.ctx.Log.(*effectLog).commits = on }

// isClosed reports whether ch is closed.
func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// dupCloexec duplicates fd, close-on-exec.
func dupCloexec(fd int) (int, error) {
	nfd, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, fmt.Errorf("dup: %w", errno)
	}
	return int(nfd), nil
}

// shutdown shuts a connection's socket down both ways.
func shutdown(fd int) { syscall.Shutdown(fd, syscall.SHUT_RDWR) }

// writeLoopFD makes one non-blocking write of buf to a connection the loop
// holds; a full socket buffer is no error, it writes less.
func writeLoopFD(fd int, buf []byte) (int, error) {
	n, err := syscall.Write(fd, buf)
	if n < 0 {
		n = 0
	}
	if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EINTR) {
		err = nil
	}
	return n, err
}
