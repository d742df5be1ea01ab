package benchflag

import (
	"context"
	"os"

	"github.com/structd/structd/internal/redisproc"
)

// Servers are a redis-server and a StructD built from this tree, both on
// free 127.0.0.1 ports with persistence off, for the throughput benchmarks.
type Servers struct {
	Redis, StructD *redisproc.Proc
	dir            string
}

// StartServers builds StructD (into a temporary directory named after
// pattern) and starts both servers; the environment StructD is started
// with is the process's (STRUCTD_CPUPROFILE set before the call asks it for
// a profile). Stop undoes everything, on any return.
func StartServers(ctx context.Context, pattern string) (*Servers, error) {
	dir, bin, err := redisproc.BuildStructD(ctx, pattern)
	if err != nil {
		return nil, err
	}
	s := &Servers{dir: dir}
	persistenceOff := []string{"--dir", dir, "--save", "", "--appendonly", "no"}
	if s.Redis, err = redisproc.Start("redis-server", dir, append(persistenceOff, "--daemonize", "no")...); err != nil {
		s.Stop()
		return nil, err
	}
	if s.StructD, err = redisproc.Start(bin, dir, persistenceOff...); err != nil {
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
