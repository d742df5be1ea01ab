package config

import "runtime"

// Threads is the GOMAXPROCS the server-threads directive asks for: its value,
// or when it is 0, the number of CPUs minus one (at least one). Measured on
// a 2-core machine with redis-benchmark on the same host (bench/sidebyside),
// one thread serves more requests than two: the client needs the other core,
// and a second Go thread only adds cross-core wake-ups per request.
func (c *Config) Threads() int {
	c.RLock()
	defer c.RUnlock()
	if c.ServerThreads > 0 {
		return c.ServerThreads
	}
	return max(1, runtime.NumCPU()-1)
}
