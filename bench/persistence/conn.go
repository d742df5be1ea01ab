//go:build linux

package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/structd/structd/internal/resp"
)

// conn is one RESP connection to a server. A command is buffered by send
// and goes out on flush, so a client can pipeline; do is one round trip.
type conn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

// replyError is an error reply from the server ("ERR ...", "LOADING ...").
type replyError string

func (e replyError) Error() string { return string(e) }

// dial connects to addr within timeout. The connection is closed when ctx
// ends, so a blocked read returns at once on Ctrl-C.
func dial(ctx context.Context, addr string, timeout time.Duration) (*conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { nc.Close() })
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}, nil
}

func (c *conn) Close() error { return c.nc.Close() }

// send buffers one command as a RESP array of bulk strings.
func (c *conn) send(args ...[]byte) {
	c.w.WriteByte('*')
	c.w.WriteString(strconv.Itoa(len(args)))
	c.w.WriteString("\r\n")
	for _, a := range args {
		c.w.WriteByte('$')
		c.w.WriteString(strconv.Itoa(len(a)))
		c.w.WriteString("\r\n")
		c.w.Write(a)
		c.w.WriteString("\r\n")
	}
}

// receive reads one reply; an error reply is returned as a replyError.
func (c *conn) receive() (resp.Value, error) {
	v, err := resp.ReadReply(c.r)
	if err == nil && v.Kind == resp.KindError {
		err = replyError(v.Str)
	}
	return v, err
}

// do sends one command and reads its reply.
func (c *conn) do(args ...string) (resp.Value, error) {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	c.send(b...)
	if err := c.w.Flush(); err != nil {
		return resp.Value{}, err
	}
	return c.receive()
}

// info returns the "field:value" lines of INFO section as a map.
func (c *conn) info(section string) (map[string]string, error) {
	v, err := c.do("INFO", section)
	if err != nil {
		return nil, fmt.Errorf("INFO %s: %w", section, err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(v.Str), "\n") {
		if k, val, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			fields[k] = val
		}
	}
	return fields, nil
}

// infoInt reads one integer field of INFO section; a missing field is an
// error that names it, so the row that needs it can say why it is n/a.
func (c *conn) infoInt(section, field string) (int64, error) {
	fields, err := c.info(section)
	if err != nil {
		return 0, err
	}
	return intField(fields, section, field)
}

// intField parses fields[field] of an INFO section.
func intField(fields map[string]string, section, field string) (int64, error) {
	s, ok := fields[field]
	if !ok {
		return 0, fmt.Errorf("INFO %s has no %s field", section, field)
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("INFO %s: %s:%s is not an integer", section, field, s)
	}
	return n, nil
}
