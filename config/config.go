// Package config holds StructD's configuration: one struct with Redis's
// defaults, and a table of redis.conf directives that parses a config file
// and command-line "--directive value" pairs and serves CONFIG GET, SET and
// REWRITE.
//
// A directive is accepted only if StructD acts on it, or (appendonly,
// appendfsync, save) if CONFIG GET reports it truthfully and the README says
// persistence does not use it yet. Anything else stops startup with Redis's
// error naming the line, so a redis.conf never silently means less than it
// says.
package config

import (
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Config is the server configuration. Fields are read by many goroutines:
// hold RLock to read them while the server runs; CONFIG SET changes them
// through Set, which takes the write lock. The settings the connection hot
// path needs are also published as an immutable Limits snapshot that costs
// one atomic load to read.
type Config struct {
	mu sync.RWMutex

	// File is the absolute path of the config file the server was started
	// with ("" if none): CONFIG REWRITE rewrites it.
	File string

	Port                   int
	Bind                   []string
	Dir                    string
	Databases              int
	MaxClients             int
	Timeout                int // idle seconds before closing a client; 0 = never
	TCPKeepAlive           int // seconds; 0 = no keepalive
	LogLevel               string
	LogFile                string // "" = standard error
	PidFile                string
	RequirePass            string
	ProtoMaxBulkLen        int64
	ClientQueryBufferLimit int64
	Hz                     int
	// BusyReplyThreshold (busy-reply-threshold, alias lua-time-limit) is
	// how many milliseconds a script runs before other clients get BUSY
	// and SCRIPT KILL may stop it (scripting/busy.go); 0 never.
	BusyReplyThreshold int
	// SlowlogSlowerThan (slowlog-log-slower-than) is how many
	// microseconds a command runs before SLOWLOG records it; negative
	// records none. SlowlogMaxLen (slowlog-max-len) is how many it keeps.
	SlowlogSlowerThan int
	SlowlogMaxLen     int
	// ServerThreads is how many OS threads run Go code (GOMAXPROCS); 0
	// means one per CPU but one, which leaves a core to the kernel's
	// network stack and the clients on small machines (config.Threads).
	ServerThreads int
	// EventLoop (event-loop) serves the connections accepted under
	// appendfsync always from one epoll loop that commits the log inline,
	// where the platform has one (server/eventloop.go).
	EventLoop bool

	// Persistence (persistence.go): the AOF and the checkpoint schedule.
	Persistence Persistence

	// Replication (replication.go): the master replicated, the backlog.
	Replication Replication

	// Collections are the compact-encoding thresholds (collections.go).
	Collections CollectionLimits

	// NotifyKeyspaceEvents and OutputBufferLimits are
	// notify-keyspace-events and client-output-buffer-limit (notify.go).
	NotifyKeyspaceEvents int
	OutputBufferLimits   [3]OutputBufferLimit

	// Level is the live log level: CONFIG SET loglevel changes it.
	Level slog.LevelVar

	limits atomic.Pointer[Limits]
}

// Limits is the snapshot of the settings every connection consults on its
// hot path. It is replaced, never modified, whenever one of them changes.
type Limits struct {
	ProtoMaxBulkLen        int64
	ClientQueryBufferLimit int64
	MaxClients             int
	Timeout                time.Duration // 0 = no idle timeout
	RequirePass            string        // "" = no authentication needed
	Collections            CollectionLimits
	// KeyspaceEvents are the notify-keyspace-events flags; 0 = none.
	KeyspaceEvents     int
	OutputBufferLimits [3]OutputBufferLimit
	// MaxMemory is Persistence.MaxMemory, for the check a pure cache
	// makes before every command that may grow memory.
	MaxMemory int64
	// SlowlogSlowerThan and SlowlogMaxLen are Config's.
	SlowlogSlowerThan int
	SlowlogMaxLen     int
}

// Default returns the configuration `structd` runs with when given none.
func Default() *Config {
	c := &Config{
		Port:                   6379,
		Bind:                   []string{"127.0.0.1"},
		Dir:                    "./data",
		Databases:              16,
		MaxClients:             10000,
		TCPKeepAlive:           300,
		LogLevel:               "notice",
		ProtoMaxBulkLen:        512 << 20,
		ClientQueryBufferLimit: 1 << 30,
		Hz:                     10,
		BusyReplyThreshold:     5000,
		SlowlogSlowerThan:      10000,
		SlowlogMaxLen:          128,
		EventLoop:              true,
		Persistence:            DefaultPersistence,
		Replication:            DefaultReplication,
		Collections:            DefaultCollectionLimits,
		OutputBufferLimits:     DefaultOutputBufferLimits,
	}
	c.publish()
	return c
}

// RLock locks the config for reading.
func (c *Config) RLock() { c.mu.RLock() }

// RUnlock undoes RLock.
func (c *Config) RUnlock() { c.mu.RUnlock() }

// Limits returns the current hot-path settings. The result is shared and
// must not be modified.
func (c *Config) Limits() *Limits { return c.limits.Load() }

// publish refreshes the Limits snapshot and the live log level from the
// fields. The caller holds the write lock (or owns c exclusively).
func (c *Config) publish() {
	c.limits.Store(&Limits{
		ProtoMaxBulkLen:        c.ProtoMaxBulkLen,
		ClientQueryBufferLimit: c.ClientQueryBufferLimit,
		MaxClients:             c.MaxClients,
		Timeout:                time.Duration(c.Timeout) * time.Second,
		RequirePass:            c.RequirePass,
		Collections:            c.Collections,
		KeyspaceEvents:         c.NotifyKeyspaceEvents,
		OutputBufferLimits:     c.OutputBufferLimits,
		MaxMemory:              c.Persistence.MaxMemory,
		SlowlogSlowerThan:      c.SlowlogSlowerThan,
		SlowlogMaxLen:          c.SlowlogMaxLen,
	})
	c.Level.Set(SlogLevel(c.LogLevel))
}

// SlogLevel maps a redis.conf loglevel to a slog level.
func SlogLevel(level string) slog.Level {
	switch level {
	case "debug":
		return slog.LevelDebug
	case "verbose", "notice":
		return slog.LevelInfo
	default: // warning
		return slog.LevelWarn
	}
}
