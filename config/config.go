// Package config holds StructD's configuration: one struct with Redis's
// defaults, and a table of redis.conf directives that parses a config file
// and command-line "--directive value" pairs and serves CONFIG GET/SET.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// Config is the server configuration. Fields are read by many goroutines:
// take Lock/RLock (or use Get/Set) when the server is running.
type Config struct {
	mu sync.RWMutex

	Port                   int
	Bind                   []string
	Dir                    string
	Databases              int
	MaxClients             int
	Timeout                int // idle seconds before closing a client; 0 = never
	LogLevel               string
	RequirePass            string
	ProtoMaxBulkLen        int64
	ClientQueryBufferLimit int64
	Hz                     int
}

// Default returns the configuration `structd` runs with when given none.
func Default() *Config {
	return &Config{
		Port:                   6379,
		Bind:                   []string{"127.0.0.1"},
		Dir:                    "./data",
		Databases:              16,
		MaxClients:             10000,
		LogLevel:               "notice",
		ProtoMaxBulkLen:        512 << 20,
		ClientQueryBufferLimit: 1 << 30,
		Hz:                     10,
	}
}

// RLock locks the config for reading.
func (c *Config) RLock() { c.mu.RLock() }

// RUnlock undoes RLock.
func (c *Config) RUnlock() { c.mu.RUnlock() }

// directive is one redis.conf directive bound to a Config field.
type directive struct {
	name string
	// immutable directives can be set at startup only (CONFIG SET refuses).
	immutable bool
	get       func(c *Config) string
	set       func(c *Config, args []string) error
}

var directives = map[string]*directive{}

func define(d *directive) { directives[d.name] = d }

func intDirective(name string, field func(*Config) *int, min, max int, immutable bool) {
	define(&directive{
		name: name, immutable: immutable,
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
		set: func(c *Config, args []string) error {
			if len(args) != 1 {
				return errWrongArgs
			}
			n, err := strconv.Atoi(args[0])
			if err != nil {
				return fmt.Errorf("argument couldn't be parsed into an integer")
			}
			if n < min || n > max {
				return fmt.Errorf("argument must be between %d and %d inclusive", min, max)
			}
			*field(c) = n
			return nil
		},
	})
}

func memDirective(name string, field func(*Config) *int64, min int64, immutable bool) {
	define(&directive{
		name: name, immutable: immutable,
		get: func(c *Config) string { return strconv.FormatInt(*field(c), 10) },
		set: func(c *Config, args []string) error {
			if len(args) != 1 {
				return errWrongArgs
			}
			n, err := ParseMemory(args[0])
			if err != nil {
				return err
			}
			if n < min {
				return fmt.Errorf("argument must be a memory value of at least %d", min)
			}
			*field(c) = n
			return nil
		},
	})
}

func stringDirective(name string, field func(*Config) *string, allowed []string, immutable bool) {
	define(&directive{
		name: name, immutable: immutable,
		get: func(c *Config) string { return *field(c) },
		set: func(c *Config, args []string) error {
			if len(args) != 1 {
				return errWrongArgs
			}
			v := args[0]
			if allowed != nil {
				v = strings.ToLower(v)
				ok := false
				for _, a := range allowed {
					ok = ok || a == v
				}
				if !ok {
					return fmt.Errorf("argument(s) must be one of the following: %s", strings.Join(allowed, ", "))
				}
			}
			*field(c) = v
			return nil
		},
	})
}

var errWrongArgs = fmt.Errorf("wrong number of arguments")

func init() {
	intDirective("port", func(c *Config) *int { return &c.Port }, 0, 65535, true)
	intDirective("databases", func(c *Config) *int { return &c.Databases }, 1, 1<<31-1, true)
	intDirective("maxclients", func(c *Config) *int { return &c.MaxClients }, 1, 1<<31-1, false)
	intDirective("timeout", func(c *Config) *int { return &c.Timeout }, 0, 1<<31-1, false)
	intDirective("hz", func(c *Config) *int { return &c.Hz }, 1, 500, false)
	memDirective("proto-max-bulk-len", func(c *Config) *int64 { return &c.ProtoMaxBulkLen }, 1<<20, false)
	memDirective("client-query-buffer-limit", func(c *Config) *int64 { return &c.ClientQueryBufferLimit }, 1<<20, false)
	stringDirective("dir", func(c *Config) *string { return &c.Dir }, nil, false)
	stringDirective("loglevel", func(c *Config) *string { return &c.LogLevel }, []string{"debug", "verbose", "notice", "warning", "nothing"}, false)
	stringDirective("requirepass", func(c *Config) *string { return &c.RequirePass }, nil, false)
	define(&directive{
		name: "bind",
		get:  func(c *Config) string { return strings.Join(c.Bind, " ") },
		set: func(c *Config, args []string) error {
			if len(args) == 0 {
				return errWrongArgs
			}
			c.Bind = append([]string(nil), args...)
			return nil
		},
		immutable: true,
	})
}

// Apply sets directive name from its arguments, as a config file line or a
// command-line pair does. It does not lock: use it before the server runs.
func (c *Config) Apply(name string, args []string) error {
	d := directives[strings.ToLower(name)]
	if d == nil {
		return fmt.Errorf("Bad directive or wrong number of arguments")
	}
	return d.set(c, args)
}

// ParseMemory parses a redis.conf memory value: an integer with an optional
// unit (b, k, kb, m, mb, g, gb; k = 1000, kb = 1024), case-insensitive.
func ParseMemory(s string) (int64, error) {
	units := []struct {
		suffix string
		mul    int64
	}{{"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30}, {"k", 1000}, {"m", 1000 * 1000}, {"g", 1000 * 1000 * 1000}, {"b", 1}}
	l := strings.ToLower(s)
	mul := int64(1)
	for _, u := range units {
		if strings.HasSuffix(l, u.suffix) {
			l, mul = strings.TrimSuffix(l, u.suffix), u.mul
			break
		}
	}
	n, err := strconv.ParseInt(l, 10, 64)
	if err != nil || n < 0 || (mul > 1 && n > (1<<63-1)/mul) {
		return 0, fmt.Errorf("argument must be a memory value")
	}
	return n * mul, nil
}
