package clients

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNodeRedis runs node/clients.js, node-redis's calls with what Redis
// answers them, against StructD. It needs Node.js and node-redis, which
// .ci/run installs (npm ci --prefix tests/clients/node).
func TestNodeRedis(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: node-redis is not checked")
	}
	if _, err := os.Stat(filepath.Join("node", "node_modules", "redis")); err != nil {
		t.Skip("node-redis is not installed (npm ci --prefix tests/clients/node): it is not checked")
	}
	for _, fsync := range fsyncModes {
		t.Run(fsync, func(t *testing.T) {
			srv := startStructD(t, fsync)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			_, port, err := net.SplitHostPort(srv.Addr())
			if err != nil {
				t.Fatal(err)
			}
			out, err := exec.CommandContext(ctx, node, filepath.Join("node", "clients.js"), port).CombinedOutput()
			if err != nil || strings.TrimSpace(string(out)) != "ok" {
				t.Fatalf("node-redis against StructD: %v\n%s", err, out)
			}
		})
	}
}
