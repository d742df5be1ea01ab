package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/structd/structd/internal/redisproc"
)

// TestShutdownExitsZero runs the server as main does, with a config file,
// a pid file and a log file, and stops it with SHUTDOWN.
func TestShutdownExitsZero(t *testing.T) {
	port, err := redisproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := filepath.Join(dir, "structd.conf")
	pid := filepath.Join(dir, "structd.pid")
	logf := filepath.Join(dir, "structd.log")
	os.WriteFile(conf, []byte(fmt.Sprintf("port %d\nbind 127.0.0.1\npidfile %s\nlogfile %s\n", port, pid, logf)), 0o644)
	code := make(chan int, 1)
	go func() { code <- run([]string{conf, "--dir", dir}) }()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(10 * time.Second)
	for redisproc.Ping(addr) != nil {
		if time.Now().After(deadline) {
			t.Fatal("server did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if data, err := os.ReadFile(pid); err != nil || strings.TrimSpace(string(data)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("pid file: %q %v", data, err)
	}
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("SHUTDOWN\r\n"))
	select {
	case c := <-code:
		if c != 0 {
			t.Fatalf("exit code %d", c)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("SHUTDOWN did not stop the server")
	}
	if _, err := os.Stat(pid); !os.IsNotExist(err) {
		t.Errorf("pid file left behind: %v", err)
	}
	if data, _ := os.ReadFile(logf); !strings.Contains(string(data), "ready to exit") {
		t.Errorf("log file:\n%s", data)
	}
}

func TestBadConfigExitsOne(t *testing.T) {
	if code := run([]string{"--nosuchdirective", "1"}); code != 1 {
		t.Fatalf("exit code %d", code)
	}
}
