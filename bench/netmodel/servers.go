//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

var (
	pong = []byte("+PONG\r\n")
	ok   = []byte("+OK\r\n")
)

// serve answers the benchmark's commands the way model says, until the
// process is killed. Without a log every command is answered +PONG. With
// logPath, each SET is appended to that file and answered +OK only after
// an fdatasync covers it (appendfsync always); other commands get +PONG.
func serve(model string, port int, logPath string) error {
	var log *groupLog
	if logPath != "" {
		f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		log = &groupLog{file: f}
		log.wake.L = &log.mu
	}
	switch model {
	case "goroutines":
		return serveGoroutines(port, log, false)
	case "goroutines-inline":
		return serveGoroutines(port, log, true)
	case "epoll":
		return serveEpoll(port, log, false)
	case "epoll-inline":
		if log == nil {
			return errors.New("model epoll-inline needs a log")
		}
		return serveEpoll(port, log, true)
	}
	return fmt.Errorf("unknown model %q (goroutines, epoll or epoll-inline)", model)
}

// parsed calls each for every whole command at the start of buf (RESP
// arrays of bulk strings, or inline lines) with the command's bytes and
// whether it is a SET, and returns the bytes they take. It parses only
// what redis-benchmark sends.
func parsed(buf []byte, each func(command []byte, isSet bool)) (used int) {
	for used < len(buf) {
		rest := buf[used:]
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			return
		}
		if rest[0] != '*' {
			each(rest[:end+1], false)
			used += end + 1
			continue
		}
		n, err := strconv.Atoi(string(bytes.TrimRight(rest[1:end], "\r")))
		if err != nil {
			return
		}
		p, isSet := end+1, false
		for i := range n {
			e := bytes.IndexByte(rest[p:], '\n')
			if e < 0 {
				return
			}
			l, err := strconv.Atoi(string(bytes.TrimRight(rest[p+1:p+e], "\r")))
			if err != nil {
				return
			}
			if i == 0 && p+e+1+l <= len(rest) {
				isSet = bytes.EqualFold(rest[p+e+1:p+e+1+l], []byte("SET"))
			}
			if p += e + 1 + l + 2; p > len(rest) {
				return
			}
		}
		each(rest[:p], isSet)
		used += p
	}
	return
}

// conn is one connection's unparsed input.
type conn struct {
	fd   int
	buf  []byte
	have int
	out  []byte
}

func newConn(fd int) *conn { return &conn{fd: fd, buf: make([]byte, 16<<10)} }

// logAdd hands a SET to the log, with its reply to send after the fsync.
type logAdd func(fd int, command, reply []byte)

// input takes the n bytes just read and returns the replies that can be
// sent at once. With a log (add not nil) each SET goes to it instead.
func (c *conn) input(n int, add logAdd) []byte {
	c.have += n
	c.out = c.out[:0]
	used := parsed(c.buf[:c.have], func(command []byte, isSet bool) {
		switch {
		case add != nil && isSet:
			add(c.fd, command, ok)
		default:
			c.out = append(c.out, pong...)
		}
	})
	c.have = copy(c.buf, c.buf[used:c.have])
	return c.out
}

// serveGoroutines is StructD's model: a goroutine per connection, blocked
// in net.Conn.Read (the runtime's poller parks it and wakes it), on as
// many threads as StructD starts with (config.Threads: one per CPU but
// one, and one more for the log's flusher when there is a log). Inline,
// there is no flusher: the goroutine that finds no commit in progress
// commits the batches itself (groupLog.addAndLead).
func serveGoroutines(port int, log *groupLog, inline bool) error {
	threads := max(1, runtime.NumCPU()-1)
	var add logAdd
	switch {
	case log != nil && inline:
		add = log.addAndLead
	case log != nil:
		threads++
		go log.flushLoop()
		add = log.add
	}
	runtime.GOMAXPROCS(threads)
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return err
	}
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			fd := -1
			if raw, err := nc.(*net.TCPConn).SyscallConn(); err == nil {
				raw.Control(func(f uintptr) { fd = int(f) })
			}
			c := newConn(fd)
			for {
				n, err := nc.Read(c.buf[c.have:])
				if n > 0 {
					if out := c.input(n, add); len(out) > 0 {
						if _, err := nc.Write(out); err != nil {
							return
						}
					}
				}
				if err != nil {
					return
				}
			}
		}()
	}
}

// serveEpoll is Redis's model: one loop waits on epoll for every
// connection (level-triggered) and reads each ready one once. With a log,
// either a flusher goroutine of its own writes, fsyncs and replies while
// the loop reads on (StructD's group commit), or, inline, the loop does
// that itself after each pass over the ready connections, as Redis does
// before it waits again.
func serveEpoll(port int, log *groupLog, inline bool) error {
	var add logAdd
	if log != nil {
		add = log.add
		if !inline {
			go log.flushLoop()
		}
	}
	lfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK, 0)
	if err != nil {
		return err
	}
	if err := syscall.SetsockoptInt(lfd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1); err != nil {
		return err
	}
	if err := syscall.Bind(lfd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return err
	}
	if err := syscall.Listen(lfd, 1024); err != nil {
		return err
	}
	ep, err := syscall.EpollCreate1(0)
	if err != nil {
		return err
	}
	watch := func(fd int) error {
		return syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
	}
	if err := watch(lfd); err != nil {
		return err
	}
	conns := map[int]*conn{}
	events := make([]syscall.EpollEvent, 256)
	var batch logBatch
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return err
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == lfd {
				for {
					nfd, _, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK)
					if err != nil {
						break
					}
					syscall.SetsockoptInt(nfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
					conns[nfd] = newConn(nfd)
					watch(nfd)
				}
				continue
			}
			c := conns[fd]
			m, err := syscall.Read(fd, c.buf[c.have:])
			if errors.Is(err, syscall.EAGAIN) {
				continue
			}
			if m <= 0 {
				syscall.Close(fd) // also leaves the epoll set
				delete(conns, fd)
				continue
			}
			if out := c.input(m, add); len(out) > 0 {
				syscall.Write(fd, out)
			}
		}
		if inline {
			batch = log.take(batch)
			log.commit(&batch)
		}
	}
}
