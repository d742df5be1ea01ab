package config

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// Replication is how the server replicates (package replication): the
// master it replicates, if any, and the directives of both sides.
type Replication struct {
	// MasterHost and MasterPort are replicaof (alias slaveof); MasterHost
	// "" means the server is a master. REPLICAOF changes them.
	MasterHost string
	MasterPort int
	// MasterAuth is masterauth: the master's requirepass.
	MasterAuth string
	// BacklogSize is repl-backlog-size: the stream history kept for
	// partial resynchronization (at least 16 KB, as Redis).
	BacklogSize int64
	// Timeout is repl-timeout in seconds; PingPeriod is
	// repl-ping-replica-period in seconds.
	Timeout    int
	PingPeriod int
	// ReadOnly is replica-read-only: clients of a replica may not write.
	ReadOnly bool
	// ServeStale is replica-serve-stale-data: a replica whose link is down
	// answers with the data it has (else MASTERDOWN).
	ServeStale bool
	// Priority is replica-priority and Announced replica-announced, which
	// a replica reports in INFO for Sentinel: it promotes the replica of
	// the lowest priority but 0, never one of 0, and lists no replica
	// that is not announced.
	Priority  int
	Announced bool
}

// minBacklogSize is Redis's CONFIG_REPL_BACKLOG_MIN_SIZE.
const minBacklogSize = 16 << 10

// DefaultReplication is Redis 7's defaults.
var DefaultReplication = Replication{
	BacklogSize: 1 << 20,
	Timeout:     60,
	PingPeriod:  10,
	ReadOnly:    true,
	ServeStale:  true,
	Priority:    100,
	Announced:   true,
}

func init() {
	for _, name := range []string{"replicaof", "slaveof"} {
		define(&directive{
			name: name, immutable: true, multiArg: true,
			get: func(c *Config) string {
				if c.Replication.MasterHost == "" {
					return ""
				}
				return c.Replication.MasterHost + " " + strconv.Itoa(c.Replication.MasterPort)
			},
			set: func(c *Config, args []string) error {
				if len(args) == 1 && args[0] == "" {
					// CONFIG REWRITE's line for a master: replicaof ""
					c.Replication.MasterHost, c.Replication.MasterPort = "", 0
					return nil
				}
				if len(args) != 2 {
					return errWrongArgs
				}
				if strings.EqualFold(args[0], "no") && strings.EqualFold(args[1], "one") {
					c.Replication.MasterHost, c.Replication.MasterPort = "", 0
					return nil
				}
				port, err := strconv.Atoi(args[1])
				if err != nil || port < 0 || port > 65535 {
					return errors.New("Invalid master port")
				}
				c.Replication.MasterHost, c.Replication.MasterPort = args[0], port
				return nil
			},
		})
	}
	markAlias("slaveof", "replicaof")
	stringDirective("masterauth", func(c *Config) *string { return &c.Replication.MasterAuth }, false)
	memDirective("repl-backlog-size", func(c *Config) *int64 { return &c.Replication.BacklogSize }, 1, false)
	backlog := directives["repl-backlog-size"]
	setBacklog := backlog.set
	backlog.set = func(c *Config, args []string) error {
		err := setBacklog(c, args)
		c.Replication.BacklogSize = max(c.Replication.BacklogSize, minBacklogSize)
		return err
	}
	intDirective("repl-timeout", func(c *Config) *int { return &c.Replication.Timeout }, 1, 1<<31-1, false)
	for _, name := range []string{"repl-ping-replica-period", "repl-ping-slave-period"} {
		intDirective(name, func(c *Config) *int { return &c.Replication.PingPeriod }, 1, 1<<31-1, false)
	}
	markAlias("repl-ping-slave-period", "repl-ping-replica-period")
	for _, name := range []string{"replica-read-only", "slave-read-only"} {
		boolDirective(name, func(c *Config) *bool { return &c.Replication.ReadOnly })
	}
	markAlias("slave-read-only", "replica-read-only")
	for _, name := range []string{"replica-serve-stale-data", "slave-serve-stale-data"} {
		boolDirective(name, func(c *Config) *bool { return &c.Replication.ServeStale })
	}
	markAlias("slave-serve-stale-data", "replica-serve-stale-data")
	for _, name := range []string{"replica-priority", "slave-priority"} {
		intDirective(name, func(c *Config) *int { return &c.Replication.Priority }, 0, 1<<31-1, false)
	}
	markAlias("slave-priority", "replica-priority")
	boolDirective("replica-announced", func(c *Config) *bool { return &c.Replication.Announced })
}

// ReplicationSettings returns a copy of the replication settings.
func (c *Config) ReplicationSettings() Replication {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.Replication
}

// SetMaster records the master REPLICAOF chose ("" for none), so CONFIG
// GET and CONFIG REWRITE show it.
func (c *Config) SetMaster(host string, port int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Replication.MasterHost, c.Replication.MasterPort = host, port
}

// ReplTimeout is repl-timeout as a duration.
func (r Replication) ReplTimeout() time.Duration { return time.Duration(r.Timeout) * time.Second }
