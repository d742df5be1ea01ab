package differential

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/redisproc"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/server"
)

// replyTimeout bounds the wait for any one reply, so a server that never
// answers fails its case instead of hanging the test run.
const replyTimeout = 10 * time.Second

// appendfsync is what both servers run the corpus with: everysec (the
// default), or DIFFERENTIAL_APPENDFSYNC's value. Under always StructD
// serves the connections from its event loop (server/eventloop.go).
func appendfsync() string {
	if v := os.Getenv("DIFFERENTIAL_APPENDFSYNC"); v != "" {
		return v
	}
	return "everysec"
}

// startRedis runs redis-server in dir with the AOF on and no snapshots,
// the persistence StructD runs the corpus with.
func startRedis(dir string) (*redisproc.Proc, error) {
	return redisproc.Start("redis-server", dir,
		"--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", appendfsync(), "--daemonize", "no")
}

// startStructD runs StructD in this process on a free port.
func startStructD(dir string) (*server.Server, error) {
	cfg, err := config.Load([]string{"--port", "0", "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "yes", "--appendfsync", appendfsync()})
	if err != nil {
		return nil, err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := server.New(cfg, server.Options{Logger: quiet})
	if err != nil {
		return nil, err
	}
	if err := srv.Start(); err != nil {
		return nil, err
	}
	return srv, nil
}

// conn is a client connection that sends commands as multibulk requests,
// as redis-cli does, and reads typed replies.
type conn struct {
	nc net.Conn
	br *bufio.Reader
}

func dial(addr string) (*conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	return &conn{nc: nc, br: bufio.NewReader(nc)}, nil
}

func (c *conn) close() { c.nc.Close() }

// do sends one command and reads its reply.
func (c *conn) do(args ...[]byte) (resp.Value, error) {
	if err := c.send(args); err != nil {
		return resp.Value{}, err
	}
	return c.read()
}

func (c *conn) send(args [][]byte) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n", len(a))
		b.Write(a)
		b.WriteString("\r\n")
	}
	c.nc.SetDeadline(time.Now().Add(replyTimeout))
	_, err := c.nc.Write(b.Bytes())
	return err
}

func (c *conn) read() (resp.Value, error) {
	c.nc.SetDeadline(time.Now().Add(replyTimeout))
	return resp.ReadReply(c.br)
}

// doStrings is do with string arguments.
func (c *conn) doStrings(args ...string) (resp.Value, error) {
	b := make([][]byte, len(args))
	for i, a := range args {
		b[i] = []byte(a)
	}
	return c.do(b...)
}

// rawExchange sends data, half-closes the connection and reads every reply
// until the server closes it. Ending on the server's close, not on a quiet
// period, makes the result independent of timing: both servers close a
// client whose input ended, after answering what it had sent. The write
// runs beside the reads, so a server that answers (or closes) before it
// has read everything neither deadlocks the exchange nor changes its
// result. The result lists the replies, then how the stream ended.
func (c *conn) rawExchange(data []byte) resp.Value {
	c.nc.SetDeadline(time.Now().Add(replyTimeout))
	wrote := make(chan struct{})
	go func() {
		defer close(wrote)
		if _, err := c.nc.Write(data); err == nil {
			c.nc.(*net.TCPConn).CloseWrite()
		}
	}()
	defer func() { <-wrote }()
	var replies []resp.Value
	for {
		v, err := resp.ReadReply(c.br)
		if err != nil {
			end := "(connection closed)"
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				end = "(no close within " + replyTimeout.String() + ")"
			case !errors.Is(err, io.EOF) && !isReset(err):
				end = "(unreadable reply: " + err.Error() + ")"
			}
			return resp.Value{Kind: resp.KindArray, Elems: append(replies, endMarker(end))}
		}
		replies = append(replies, v)
	}
}

// endMarker is a pseudo-reply naming how a raw exchange ended.
func endMarker(s string) resp.Value { return resp.Value{Kind: resp.KindSimple, Str: []byte(s)} }

// isReset reports a connection reset: a server that closes with our unread
// bytes in its buffer resets instead of closing, after its replies.
func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }
