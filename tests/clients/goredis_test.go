// Package clients checks that real Redis client libraries work against
// StructD unchanged: connection handshake (HELLO, CLIENT SETINFO, the
// maintenance-notification probe), commands, pipelines, RESP2 and RESP3.
package clients

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/structd/structd/config"
	"github.com/structd/structd/server"
)

// fsyncModes are the appendfsync settings the clients are checked under:
// the default, where each connection has a goroutine, and always, where
// the event loop serves them (server/eventloop.go).
var fsyncModes = []string{"everysec", "always"}

// startStructD starts a server with persistence on, under appendfsync
// fsync.
func startStructD(t *testing.T, fsync string) *server.Server {
	t.Helper()
	cfg, err := config.Load([]string{"--port", "0", "--bind", "127.0.0.1", "--dir", t.TempDir(), "--appendfsync", fsync})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, server.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func TestGoRedis(t *testing.T) {
	for _, fsync := range fsyncModes {
		for _, proto := range []int{2, 3} {
			t.Run(fsync+"/"+map[int]string{2: "RESP2", 3: "RESP3"}[proto], func(t *testing.T) {
				srv := startStructD(t, fsync)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				rdb := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: proto, ClientName: "gotest"})
				defer rdb.Close()
				testCommands(ctx, t, rdb, proto)
			})
		}
	}
}

func testCommands(ctx context.Context, t *testing.T, rdb *redis.Client, proto int) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	if v, err := rdb.Ping(ctx).Result(); err != nil || v != "PONG" {
		t.Fatalf("PING: %q %v", v, err)
	}
	must(rdb.Set(ctx, "k", "v\x00\r\n", 0).Err())
	if v, err := rdb.Get(ctx, "k").Result(); err != nil || v != "v\x00\r\n" {
		t.Fatalf("GET: %q %v", v, err)
	}
	if _, err := rdb.Get(ctx, "missing").Result(); err != redis.Nil {
		t.Fatalf("GET missing: %v, want redis.Nil", err)
	}
	if n, err := rdb.Incr(ctx, "n").Result(); err != nil || n != 1 {
		t.Fatalf("INCR: %d %v", n, err)
	}
	if ok, err := rdb.Expire(ctx, "n", time.Hour).Result(); err != nil || !ok {
		t.Fatalf("EXPIRE: %v %v", ok, err)
	}
	if ttl, err := rdb.TTL(ctx, "n").Result(); err != nil || ttl <= 59*time.Minute || ttl > time.Hour {
		t.Fatalf("TTL: %v %v", ttl, err)
	}
	if err := rdb.Incr(ctx, "k").Err(); err == nil || !strings.Contains(err.Error(), "not an integer") {
		t.Fatalf("INCR of a non-number: %v", err)
	}

	// A pipeline of 100 commands in one round trip.
	cmds, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i := 0; i < 50; i++ {
			p.Incr(ctx, "p")
			p.Get(ctx, "p")
		}
		return nil
	})
	must(err)
	if got := cmds[99].(*redis.StringCmd).Val(); got != "50" {
		t.Fatalf("pipeline's last GET = %q", got)
	}

	// The name given in Options was set on connect (HELLO SETNAME or
	// CLIENT SETNAME); ClientSetName on a pinned connection changes it.
	if name, err := rdb.ClientGetName(ctx).Result(); err != nil || name != "gotest" {
		t.Fatalf("CLIENT GETNAME: %q %v", name, err)
	}
	conn := rdb.Conn()
	defer conn.Close()
	if ok, err := conn.ClientSetName(ctx, "renamed").Result(); err != nil || !ok {
		t.Fatalf("CLIENT SETNAME: %v %v", ok, err)
	}
	info, err := conn.ClientInfo(ctx).Result()
	must(err)
	if info.Name != "renamed" || info.LibName == "" || info.Resp != proto {
		t.Fatalf("CLIENT INFO: %+v", info)
	}
	list, err := rdb.ClientList(ctx).Result()
	must(err)
	if !strings.Contains(list, "name=renamed") || !strings.Contains(list, "lib-name=go-redis") {
		t.Fatalf("CLIENT LIST:\n%s", list)
	}

	cfg, err := rdb.ConfigGet(ctx, "maxclients").Result()
	must(err)
	if cfg["maxclients"] != "10000" {
		t.Fatalf("CONFIG GET maxclients: %v", cfg)
	}
	must(rdb.ConfigSet(ctx, "timeout", "300").Err())
	if cfg, _ := rdb.ConfigGet(ctx, "time*").Result(); cfg["timeout"] != "300" {
		t.Fatalf("CONFIG GET time*: %v", cfg)
	}
	must(rdb.ConfigSet(ctx, "timeout", "0").Err())

	if ts, err := rdb.Time(ctx).Result(); err != nil || time.Since(ts).Abs() > time.Minute {
		t.Fatalf("TIME: %v %v", ts, err)
	}
	if n, err := rdb.Do(ctx, "COMMAND", "COUNT").Int(); err != nil || n < 20 {
		t.Fatalf("COMMAND COUNT: %d %v", n, err)
	}
	if s, err := rdb.Info(ctx, "server").Result(); err != nil || !strings.Contains(s, "redis_version:7.0.15") {
		t.Fatalf("INFO server: %v", err)
	}
}

// TestGoRedisPassword connects with a password (HELLO 3 AUTH on connect)
// and checks that a wrong one fails cleanly.
func TestGoRedisPassword(t *testing.T) {
	for _, fsync := range fsyncModes {
		t.Run(fsync, func(t *testing.T) {
			srv := startStructD(t, fsync)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			admin := redis.NewClient(&redis.Options{Addr: srv.Addr()})
			defer admin.Close()
			if err := admin.ConfigSet(ctx, "requirepass", "s3cret").Err(); err != nil {
				t.Fatal(err)
			}
			for _, proto := range []int{2, 3} {
				good := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: proto, Password: "s3cret"})
				if v, err := good.Ping(ctx).Result(); err != nil || v != "PONG" {
					t.Fatalf("RESP%d with the password: %q %v", proto, v, err)
				}
				good.Close()
				bad := redis.NewClient(&redis.Options{Addr: srv.Addr(), Protocol: proto, Password: "wrong", MaxRetries: -1})
				if err := bad.Ping(ctx).Err(); err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
					t.Fatalf("RESP%d with a wrong password: %v", proto, err)
				}
				bad.Close()
			}
		})
	}
}
