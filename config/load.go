package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/structd/structd/internal/resp"
)

// Load builds a Config from redis-server style arguments: an optional config
// file path first, then "--directive value..." pairs that override it.
func Load(args []string) (*Config, error) {
	c := Default()
	var text strings.Builder
	if len(args) > 0 && !strings.HasPrefix(args[0], "--") {
		data, err := os.ReadFile(args[0])
		if err != nil {
			return nil, fmt.Errorf("Fatal error, can't open config file '%s': %v", args[0], err)
		}
		if abs, err := filepath.Abs(args[0]); err == nil {
			c.File = abs
		} else {
			c.File = args[0]
		}
		text.Write(data)
		text.WriteString("\n")
		args = args[1:]
	}
	// Command-line options are appended to the file's text as config lines,
	// as redis-server does: "--port 7000 --bind a b" becomes
	// "port 7000\nbind a b".
	for i, a := range args {
		switch {
		case strings.HasPrefix(a, "--"):
			if i > 0 {
				text.WriteString("\n")
			}
			text.WriteString(a[2:])
		case i == 0:
			return nil, fmt.Errorf("Invalid argument '%s'", a)
		default:
			text.WriteString(" " + quoteConf(a))
		}
	}
	if err := c.ParseFile(text.String()); err != nil {
		return nil, err
	}
	return c, nil
}

// ParseFile applies redis.conf text: one directive per line, arguments split
// with Redis's quoting rules, '#' comments and blank lines ignored,
// "include path" reading another file in place. Repeated "save" lines add
// save points as in redis.conf. An error names the offending line as
// redis-server does.
func (c *Config) ParseFile(text string) error {
	return c.parse(text, map[string]bool{}, 0)
}

func (c *Config) parse(text string, seen map[string]bool, depth int) error {
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
		name := strings.ToLower(string(words[0]))
		args := make([]string, len(words)-1)
		for j, w := range words[1:] {
			args[j] = string(w)
		}
		switch {
		case name == "include":
			if len(args) != 1 || depth > 8 {
				return fail("Bad directive or wrong number of arguments")
			}
			data, err := os.ReadFile(args[0])
			if err != nil {
				return fail(fmt.Sprintf("Fatal error, can't open config file '%s': %v", args[0], err))
			}
			if err := c.parse(string(data), seen, depth+1); err != nil {
				return err
			}
			continue
		case name == "save" && seen["save"] && c.Persistence.Save != "" && !(len(args) == 1 && args[0] == ""):
			args = append(strings.Fields(c.Persistence.Save), args...)
		}
		if err := c.Apply(name, args); err != nil {
			return fail(err.Error())
		}
		seen[name] = true
	}
	return nil
}
