package benchflag

import (
	"context"
	"os"
	"path/filepath"

	"github.com/structd/structd/internal/redisproc"
)

// Servers are a redis-server and a StructD built from this tree, both on
// free 127.0.0.1 ports with persistence off unless asked otherwise, for the
// throughput benchmarks.
type Servers struct {
	Redis, StructD *redisproc.Proc
	dir            string
}

// StartServers builds StructD (into a temporary directory named after
// pattern) and starts both servers; the environment StructD is started
// with is the process's (STRUCTD_CPUPROFILE set before the call asks it for
// a profile). Both get settings (directives as command-line arguments, the
// same for both), persistence off (--save "" --appendonly no) when there
// are none; each keeps its files in a directory of its own. Stop undoes
// everything, on any return.
func StartServers(ctx context.Context, pattern string, settings ...string) (*Servers, error) {
	dir, bin, err := redisproc.BuildStructD(ctx, pattern)
	if err != nil {
		return nil, err
	}
	s := &Servers{dir: dir}
	if len(settings) == 0 {
		settings = []string{"--save", "", "--appendonly", "no"}
	}
	start := func(bin, name string, extra ...string) (*redisproc.Proc, error) {
		data := filepath.Join(dir, name)
		if err := os.Mkdir(data, 0o755); err != nil {
			return nil, err
		}
		args := append([]string{"--dir", data}, settings...)
		return redisproc.Start(bin, dir, append(args, extra...)...)
	}
	if s.Redis, err = start("redis-server", "redis-data", "--daemonize", "no"); err != nil {
		s.Stop()
		return nil, err
	}
	if s.StructD, err = start(bin, "structd-data"); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// Stop stops the servers (StructD first: on SIGINT it writes its profile)
// and removes the temporary directory.
func (s *Servers) Stop() {
	if s.StructD != nil {
		s.StructD.Stop()
	}
	if s.Redis != nil {
		s.Redis.Stop()
	}
	os.RemoveAll(s.dir)
}
