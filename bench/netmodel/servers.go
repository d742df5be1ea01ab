//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"syscall"
)

var pong = []byte("+PONG\r\n")

// servePing answers every command of the benchmark with +PONG, serving
// connections the way model says, until the process is killed.
func servePing(model string, port int) error {
	switch model {
	case "goroutines":
		return serveGoroutines(port)
	case "epoll":
		return serveEpoll(port)
	}
	return fmt.Errorf("unknown model %q (goroutines or epoll)", model)
}

// parsed counts the whole commands at the start of buf (RESP arrays of
// bulk strings, or inline lines) and the bytes they take. It parses only
// what redis-benchmark sends.
func parsed(buf []byte) (commands, used int) {
	for used < len(buf) {
		rest := buf[used:]
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			return
		}
		if rest[0] != '*' {
			commands, used = commands+1, used+end+1
			continue
		}
		n, err := strconv.Atoi(string(bytes.TrimRight(rest[1:end], "\r")))
		if err != nil {
			return
		}
		p := end + 1
		for range n {
			e := bytes.IndexByte(rest[p:], '\n')
			if e < 0 {
				return
			}
			l, err := strconv.Atoi(string(bytes.TrimRight(rest[p+1:p+e], "\r")))
			if err != nil {
				return
			}
			if p += e + 1 + l + 2; p > len(rest) {
				return
			}
		}
		commands, used = commands+1, used+p
	}
	return
}

// conn is one connection's unparsed input.
type conn struct {
	buf  []byte
	have int
	out  []byte
}

// input takes the n bytes just read and returns the replies to them.
func (c *conn) input(n int) []byte {
	c.have += n
	k, used := parsed(c.buf[:c.have])
	c.have = copy(c.buf, c.buf[used:c.have])
	c.out = c.out[:0]
	for range k {
		c.out = append(c.out, pong...)
	}
	return c.out
}

func newConn() *conn { return &conn{buf: make([]byte, 16<<10)} }

// serveGoroutines is StructD's model: a goroutine per connection, blocked
// in net.Conn.Read (the runtime's poller parks it and wakes it), on as
// many threads as StructD starts with (config.Threads: one per CPU but
// one).
func serveGoroutines(port int) error {
	runtime.GOMAXPROCS(max(1, runtime.NumCPU()-1))
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
			c := newConn()
			for {
				n, err := nc.Read(c.buf[c.have:])
				if n > 0 {
					if _, err := nc.Write(c.input(n)); err != nil {
						return
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
// connection (level-triggered) and reads each ready one once.
func serveEpoll(port int) error {
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
					conns[nfd] = newConn()
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
			syscall.Write(fd, c.input(m))
		}
	}
}
