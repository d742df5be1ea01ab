package server

import (
	"os"
	"runtime"
	"sync"
)

// Background work on every CPU. By default the server runs Go code on one
// thread per CPU but one (config.Threads): on a small machine the clients
// and the kernel's network stack need the other, and a second thread
// serving requests only adds cross-core wake-ups. A checkpoint and the
// warm-up are different: they are bulk work that splits into independent
// parts (the checkpoint walker's, the warm-up's slot ranges), and Redis's
// BGSAVE runs its fork child on another core too. So while one of them
// runs, Go code may run on every CPU, unless the operator chose the thread
// count (server-threads, or GOMAXPROCS in the environment).

// cpuBoost counts the background jobs running on every CPU, process wide
// (GOMAXPROCS is; tests run several servers in one process), and keeps
// the setting they found.
var cpuBoost struct {
	sync.Mutex
	running int
	saved   int
}

// useAllCPUs lets Go code run on every CPU until the returned function is
// called, when the server's thread count is its default.
func (s *Server) useAllCPUs() (restore func()) {
	if s.cfg.ServerThreads > 0 || os.Getenv("GOMAXPROCS") != "" {
		return func() {}
	}
	cpuBoost.Lock()
	if cpuBoost.running++; cpuBoost.running == 1 {
		cpuBoost.saved = runtime.GOMAXPROCS(runtime.NumCPU())
	}
	cpuBoost.Unlock()
	return func() {
		cpuBoost.Lock()
		if cpuBoost.running--; cpuBoost.running == 0 {
			runtime.GOMAXPROCS(cpuBoost.saved)
		}
		cpuBoost.Unlock()
	}
}
