// Command memory measures the bytes per key of StructD against
// redis-server on this machine, in the same run: it builds StructD, starts
// both servers on free ports with persistence off, and for each type loads
// the same N keys of small values into both. Before and after each load it
// runs MEMORY PURGE on both and reads INFO memory's used_memory and the
// process's RSS (VmRSS). Each type gets freshly started servers: after a
// FLUSHALL, both allocators keep pages the next type would reuse, so its
// RSS growth would be understated. It prints bytes per key side by side with the ratio StructD/Redis
// and whether it meets the target (used_memory ratio ≤ 1.5).
//
//	go run ./bench/memory [-n 1000000] [-types string,hash,set,intset,zset,list]
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/redisproc"
	"github.com/structd/structd/internal/resp"
)

// target is the bound on StructD's used_memory per key over Redis's.
const target = 1.5

// loads are the key shapes measured: what one key holds, as the command
// that writes key number i.
var loads = map[string]func(i string) []string{
	"string": func(i string) []string { return []string{"SET", "key:" + i, "value:" + i} },
	"hash": func(i string) []string {
		return []string{"HSET", "h:" + i, "f1", "v1", "f2", "v2", "f3", "v3", "f4", "v4", "f5", "v5"}
	},
	"set":    func(i string) []string { return []string{"SADD", "s:" + i, "red", "green", "blue", "cyan", "black"} },
	"intset": func(i string) []string { return []string{"SADD", "i:" + i, "1", "2", "3", "4", "5"} },
	"zset": func(i string) []string {
		return []string{"ZADD", "z:" + i, "1", "m1", "2", "m2", "3", "m3", "4", "m4", "5", "m5"}
	},
	"list": func(i string) []string { return []string{"RPUSH", "l:" + i, "e1", "e2", "e3", "e4", "e5"} },
}

func main() {
	n := flag.Int("n", 1000000, "keys per type")
	types := flag.String("types", "string,hash,set,intset,zset,list", "comma-separated key types to measure")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *n, strings.Split(*types, ",")); err != nil {
		if ctx.Err() != nil {
			err = errors.New("interrupted")
		}
		fmt.Fprintln(os.Stderr, "memory:", err)
		stop()
		os.Exit(1)
	}
}

// server is one running server and a connection to it.
type server struct {
	proc *redisproc.Proc
	conn *conn
}

// figures are one server's memory after loading one type.
type figures struct {
	usedPerKey, rssPerKey float64
	encoding              string
	err                   error // the load failed (StructD lacks the command, ...)
}

func run(ctx context.Context, n int, types []string) error {
	for _, t := range types {
		if loads[t] == nil {
			return fmt.Errorf("unknown type %q in -types", t)
		}
	}
	dir, bin, err := redisproc.BuildStructD(ctx, "structd-bench-memory-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	fmt.Printf("%d keys per type, StructD vs redis-server, each type on freshly started servers\n", n)
	fmt.Printf("%-7s %11s %13s %6s %14s %16s %9s %-22s %7s\n", "type", "redis B/key", "structd B/key", "ratio",
		"redis RSS/key", "structd RSS/key", "RSS ratio", "encoding (redis/ours)", "target")
	for _, t := range types {
		redis, err := measureOn(ctx, "redis-server", dir, n, loads[t])
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		ours, err := measureOn(ctx, bin, dir, n, loads[t])
		if err != nil {
			return fmt.Errorf("%s: %w", t, err)
		}
		printRow(t, redis, ours)
	}
	return nil
}

// measureOn starts the server bin, measures n keys made by load on it and
// stops it.
func measureOn(ctx context.Context, bin, dir string, n int, load func(string) []string) (figures, error) {
	p, err := redisproc.Start(bin, dir, "--dir", dir, "--save", "", "--appendonly", "no")
	if err != nil {
		return figures{}, err
	}
	defer p.Stop()
	c, err := dial(ctx, p.Addr)
	if err != nil {
		return figures{}, err
	}
	defer c.Close()
	f, err := measure(&server{proc: p, conn: c}, n, load)
	if err != nil {
		return figures{}, fmt.Errorf("%s: %w", filepath.Base(bin), err)
	}
	return f, nil
}

// measure loads n keys made by load into an empty server and returns the
// growth of used_memory and RSS per key, each read after MEMORY PURGE.
func measure(s *server, n int, load func(string) []string) (figures, error) {
	if _, err := s.conn.do("MEMORY", "PURGE"); err != nil {
		return figures{}, err
	}
	used0, rss0, err := s.memory()
	if err != nil {
		return figures{}, err
	}
	if err := s.conn.pipeline(n, load); err != nil {
		var srvErr serverError
		if errors.As(err, &srvErr) {
			return figures{err: err}, nil
		}
		return figures{}, err
	}
	if _, err := s.conn.do("MEMORY", "PURGE"); err != nil {
		return figures{}, err
	}
	used, rss, err := s.memory()
	if err != nil {
		return figures{}, err
	}
	enc, err := s.conn.do("OBJECT", "ENCODING", load("0")[1])
	if err != nil {
		return figures{}, err
	}
	return figures{
		usedPerKey: (float64(used) - float64(used0)) / float64(n),
		rssPerKey:  (float64(rss) - float64(rss0)) / float64(n),
		encoding:   string(enc.Str),
	}, nil
}

// memory is INFO memory's used_memory and the process's VmRSS, in bytes.
func (s *server) memory() (used, rss uint64, err error) {
	info, err := s.conn.do("INFO", "memory")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(info.Str), "\r\n") {
		if v, ok := strings.CutPrefix(line, "used_memory:"); ok {
			used, err = strconv.ParseUint(v, 10, 64)
		}
	}
	if used == 0 || err != nil {
		return 0, 0, fmt.Errorf("no used_memory in INFO memory: %v", err)
	}
	if rss = commands.ProcessRSS(s.proc.Pid()); rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS for pid %d", s.proc.Pid())
	}
	return used, rss, nil
}

func printRow(t string, redis, ours figures) {
	if redis.err != nil || ours.err != nil {
		fmt.Printf("%-7s skipped: %v\n", t, errors.Join(redis.err, ours.err))
		return
	}
	ratio := ours.usedPerKey / redis.usedPerKey
	verdict := "PASS"
	if ratio > target {
		verdict = "MISS"
	}
	fmt.Printf("%-7s %11.1f %13.1f %6.2f %14.1f %16.1f %9.2f %-22s %7s %s\n", t, redis.usedPerKey, ours.usedPerKey, ratio,
		redis.rssPerKey, ours.rssPerKey, ours.rssPerKey/redis.rssPerKey, redis.encoding+"/"+ours.encoding,
		fmt.Sprintf("≤ %.1f", target), verdict)
}

// conn is a RESP connection that can pipeline.
type conn struct {
	nc net.Conn
	r  *bufio.Reader
	w  *bufio.Writer
}

// serverError is an error reply.
type serverError string

func (e serverError) Error() string { return string(e) }

// dial connects to addr; the connection is closed if ctx ends, so an
// interrupted load stops at once.
func dial(ctx context.Context, addr string) (*conn, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	context.AfterFunc(ctx, func() { nc.Close() })
	return &conn{nc: nc, r: bufio.NewReaderSize(nc, 64<<10), w: bufio.NewWriterSize(nc, 64<<10)}, nil
}

func (c *conn) Close() error { return c.nc.Close() }

func (c *conn) write(args []string) {
	fmt.Fprintf(c.w, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(c.w, "$%d\r\n%s\r\n", len(a), a)
	}
}

// read reads one reply; an error reply is a serverError.
func (c *conn) read() (resp.Value, error) {
	v, err := resp.ReadReply(c.r)
	if err == nil && v.Kind == resp.KindError {
		err = serverError(v.Str)
	}
	return v, err
}

// do sends one command and reads its reply.
func (c *conn) do(args ...string) (resp.Value, error) {
	c.write(args)
	if err := c.w.Flush(); err != nil {
		return resp.Value{}, err
	}
	return c.read()
}

// pipeline sends the n commands load makes for 0..n-1 while reading their
// replies, and returns the first error reply after reading them all.
func (c *conn) pipeline(n int, load func(string) []string) error {
	written := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			c.write(load(strconv.Itoa(i)))
		}
		written <- c.w.Flush()
	}()
	var first error
	for i := 0; i < n; i++ {
		_, err := c.read()
		var srvErr serverError
		switch {
		case errors.As(err, &srvErr):
			if first == nil {
				first = fmt.Errorf("%s: %w", load(strconv.Itoa(i))[0], err)
			}
		case err != nil:
			c.nc.Close() // unblocks the writer
			<-written
			return err
		}
	}
	if err := <-written; err != nil {
		return err
	}
	return first
}
