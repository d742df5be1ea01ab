package config

import (
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/structd/structd/internal/resp"
)

// Load builds a Config from redis-server style arguments: an optional config
// file path first, then "--directive value..." pairs that override it.
func Load(args []string) (*Config, error) {
	c := Default()
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		data, err := os.ReadFile(args[0])
		if err != nil {
			return nil, fmt.Errorf("Fatal error, can't open config file '%s': %v", args[0], err)
		}
		if err := c.ParseFile(string(data)); err != nil {
			return nil, err
		}
		args = args[1:]
	}
	// Command-line options are joined into config lines, as redis-server
	// does: "--port 7000 --bind a b" becomes "port 7000\nbind a b".
	var lines []string
	for _, a := range args {
		if strings.HasPrefix(a, "--") {
			lines = append(lines, a[2:])
		} else if len(lines) == 0 {
			return nil, fmt.Errorf("Invalid argument '%s'", a)
		} else {
			lines[len(lines)-1] += " " + quote(a)
		}
	}
	if err := c.ParseFile(strings.Join(lines, "\n")); err != nil {
		return nil, err
	}
	return c, nil
}

// quote protects a command-line value so ParseFile reads it as one argument.
func quote(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// ParseFile applies redis.conf text: one directive per line, arguments split
// with Redis's quoting rules, '#' comments and blank lines ignored. An error
// names the offending line as redis-server does.
func (c *Config) ParseFile(text string) error {
	for i, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || trimmed[0] == '#' {
			continue
		}
		fail := func(msg string) error {
			return fmt.Errorf("Reading the configuration file, at line %d\n>>> '%s'\n%s", i+1, trimmed, msg)
		}
		words, ok := resp.SplitArgs([]byte(trimmed), nil)
		if !ok {
			return fail("Unbalanced quotes in configuration line")
		}
		args := make([]string, len(words)-1)
		for j, w := range words[1:] {
			args[j] = string(w)
		}
		if err := c.Apply(string(words[0]), args); err != nil {
			return fail(err.Error())
		}
	}
	return nil
}

// SlogLevel maps a redis.conf loglevel to a slog level.
func SlogLevel(level string) slog.Level {
	switch level {
	case "debug":
		return slog.LevelDebug
	case "verbose", "notice":
		return slog.LevelInfo
	case "warning":
		return slog.LevelWarn
	default:
		return slog.LevelError + 4
	}
}
