package config

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// directive is one redis.conf directive bound to a Config field.
type directive struct {
	name string
	// immutable directives can be set at startup only (CONFIG SET refuses).
	immutable bool
	// multiArg directives take several words; CONFIG SET splits its value
	// on spaces for them, as Redis does for bind and save.
	multiArg bool
	get      func(c *Config) string
	// set validates and stores args. It must leave c unchanged on error.
	set func(c *Config, args []string) error
	// runtimeCheck, if set, validates a value given by CONFIG SET only
	// (startup leaves such checks to the subsystem that uses the value).
	runtimeCheck func(v string) error
	// aliasOf names the directive this one is an old name of (the ziplist
	// names of the listpack thresholds): CONFIG REWRITE writes the main
	// name only.
	aliasOf string
}

var directives = map[string]*directive{}

func define(d *directive) { directives[d.name] = d }

// markAlias records that directive alias is an old name of main.
func markAlias(alias, main string) { directives[alias].aliasOf = main }

// unsupported are redis.conf directives StructD knows but does not act on:
// a config file that sets one fails to load with a clear reason, rather
// than the server pretending to honour it.
var unsupported = []string{
	"protected-mode", "tcp-backlog", "unixsocket", "unixsocketperm", "supervised",
	"syslog-enabled", "always-show-logo", "set-proc-title", "maxmemory-policy",
	"maxmemory-samples", "notify-keyspace-events", "lazyfree-lazy-eviction",
	"lazyfree-lazy-expire", "lazyfree-lazy-server-del", "masteruser", "cluster-enabled", "aclfile", "rename-command",
	"latency-monitor-threshold", "dbfilename",
	"rdbcompression", "rdbchecksum", "tls-port",
	"io-threads", "activerehashing", "client-output-buffer-limit", "dynamic-hz",
	"active-expire-effort",
}

var (
	errWrongArgs = errors.New("wrong number of arguments")
	errNotInt    = errors.New("argument couldn't be parsed into an integer")
	errYesNo     = errors.New("argument must be 'yes' or 'no'")
)

func one(args []string) (string, error) {
	if len(args) != 1 {
		return "", errWrongArgs
	}
	return args[0], nil
}

// parseInt parses a one-word integer argument within [min, max], with
// Redis's error texts.
func parseInt(args []string, min, max int) (int, error) {
	v, err := one(args)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, errNotInt
	}
	if n < min || n > max {
		return 0, fmt.Errorf("argument must be between %d and %d inclusive", min, max)
	}
	return n, nil
}

func intDirective(name string, field func(*Config) *int, min, max int, immutable bool) {
	define(&directive{
		name: name, immutable: immutable,
		get: func(c *Config) string { return strconv.Itoa(*field(c)) },
		set: func(c *Config, args []string) error {
			n, err := parseInt(args, min, max)
			if err != nil {
				return err
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
			v, err := one(args)
			if err != nil {
				return err
			}
			n, err := ParseMemory(v)
			if err != nil {
				return err
			}
			if n < min {
				return fmt.Errorf("argument must be between %d and 9223372036854775807 inclusive", min)
			}
			*field(c) = n
			return nil
		},
	})
}

func stringDirective(name string, field func(*Config) *string, immutable bool) {
	define(&directive{
		name: name, immutable: immutable,
		get: func(c *Config) string { return *field(c) },
		set: func(c *Config, args []string) error {
			v, err := one(args)
			if err != nil {
				return err
			}
			*field(c) = v
			return nil
		},
	})
}

func enumDirective(name string, field func(*Config) *string, allowed ...string) {
	define(&directive{
		name: name,
		get:  func(c *Config) string { return *field(c) },
		set: func(c *Config, args []string) error {
			v, err := one(args)
			if err != nil {
				return err
			}
			v = strings.ToLower(v)
			if !slices.Contains(allowed, v) {
				return fmt.Errorf("argument(s) must be one of the following: %s", strings.Join(allowed, ", "))
			}
			*field(c) = v
			return nil
		},
	})
}

func boolDirective(name string, field func(*Config) *bool) {
	define(&directive{
		name: name,
		get:  func(c *Config) string { return yesNo(*field(c)) },
		set: func(c *Config, args []string) error {
			b, err := parseBool(args)
			if err != nil {
				return err
			}
			*field(c) = b
			return nil
		},
	})
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// parseBool parses a one-word yes/no argument, with Redis's error texts.
func parseBool(args []string) (bool, error) {
	v, err := one(args)
	if err != nil {
		return false, err
	}
	return parseYesNo(v)
}

func parseYesNo(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "yes":
		return true, nil
	case "no":
		return false, nil
	}
	return false, errYesNo
}

func init() {
	intDirective("port", func(c *Config) *int { return &c.Port }, 0, 65535, true)
	intDirective("databases", func(c *Config) *int { return &c.Databases }, 1, 1<<31-1, true)
	intDirective("maxclients", func(c *Config) *int { return &c.MaxClients }, 1, 1<<32-1, false)
	intDirective("timeout", func(c *Config) *int { return &c.Timeout }, 0, 1<<31-1, false)
	intDirective("server-threads", func(c *Config) *int { return &c.ServerThreads }, 0, 1024, true)
	boolDirective("event-loop", func(c *Config) *bool { return &c.EventLoop })
	intDirective("tcp-keepalive", func(c *Config) *int { return &c.TCPKeepAlive }, 0, 1<<31-1, false)
	memDirective("proto-max-bulk-len", func(c *Config) *int64 { return &c.ProtoMaxBulkLen }, 1<<20, false)
	memDirective("client-query-buffer-limit", func(c *Config) *int64 { return &c.ClientQueryBufferLimit }, 1<<20, false)
	stringDirective("requirepass", func(c *Config) *string { return &c.RequirePass }, false)
	stringDirective("logfile", func(c *Config) *string { return &c.LogFile }, true)
	stringDirective("pidfile", func(c *Config) *string { return &c.PidFile }, true)
	for _, name := range []string{"busy-reply-threshold", "lua-time-limit"} {
		intDirective(name, func(c *Config) *int { return &c.BusyReplyThreshold }, 0, 1<<62, false)
	}
	intDirective("slowlog-log-slower-than", func(c *Config) *int { return &c.SlowlogSlowerThan }, -1, math.MaxInt64, false)
	intDirective("slowlog-max-len", func(c *Config) *int { return &c.SlowlogMaxLen }, 0, math.MaxInt64, false)
	markAlias("lua-time-limit", "busy-reply-threshold")
	enumDirective("loglevel", func(c *Config) *string { return &c.LogLevel }, "debug", "verbose", "notice", "warning")

	// hz is clamped to 1..500 as Redis does, after a range check.
	define(&directive{
		name: "hz",
		get:  func(c *Config) string { return strconv.Itoa(c.Hz) },
		set: func(c *Config, args []string) error {
			n, err := parseInt(args, 0, 1<<31-1)
			if err != nil {
				return err
			}
			c.Hz = min(max(n, 1), 500)
			return nil
		},
	})
	// dir reads as an absolute path, as Redis's getcwd() answer does;
	// CONFIG SET requires it to exist.
	define(&directive{
		name: "dir",
		get: func(c *Config) string {
			if abs, err := filepath.Abs(c.Dir); err == nil {
				return abs
			}
			return c.Dir
		},
		set: func(c *Config, args []string) error {
			v, err := one(args)
			if err != nil {
				return err
			}
			c.Dir = v
			return nil
		},
		runtimeCheck: func(v string) error {
			st, err := os.Stat(v)
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return errors.New("No such file or directory")
				}
				return err
			}
			if !st.IsDir() {
				return errors.New("Not a directory")
			}
			return nil
		},
	})
	define(&directive{
		name: "bind", immutable: true, multiArg: true,
		get: func(c *Config) string { return strings.Join(c.Bind, " ") },
		set: func(c *Config, args []string) error {
			if len(args) == 0 || len(args) > 16 {
				return errors.New("Too many bind addresses specified.")
			}
			c.Bind = append([]string(nil), args...)
			return nil
		},
	})
	// daemonize: StructD stays in the foreground (run it under a
	// supervisor), so only "no" is true.
	define(&directive{
		name: "daemonize", immutable: true,
		get: func(c *Config) string { return "no" },
		set: func(c *Config, args []string) error {
			b, err := parseBool(args)
			if err != nil {
				return err
			}
			if b {
				return errors.New("StructD does not daemonize: run it in the foreground under a supervisor")
			}
			return nil
		},
	})
}

// Apply sets directive name from its arguments, as a config file line or a
// command-line pair does. It does not lock: use it before the server runs.
func (c *Config) Apply(name string, args []string) error {
	lname := strings.ToLower(name)
	d := directives[lname]
	if d == nil {
		if slices.Contains(unsupported, lname) {
			return fmt.Errorf("Bad directive or wrong number of arguments ('%s' is not supported by StructD yet)", lname)
		}
		return errors.New("Bad directive or wrong number of arguments")
	}
	if err := d.set(c, args); err != nil {
		return err
	}
	c.publish()
	return nil
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
		return 0, errors.New("argument must be a memory value")
	}
	return n * mul, nil
}
