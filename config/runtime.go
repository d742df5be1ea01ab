package config

import (
	"fmt"
	"sort"
	"strings"

	"github.com/structd/structd/internal/glob"
)

// Get returns the name/value pairs of the directives matching any of the
// glob patterns (case-insensitive), each once, in the order CONFIG GET
// replies: patterns in order, the names a glob matches sorted. A pattern
// without glob characters names its directive as given.
func (c *Config) Get(patterns []string) [][2]string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	seen := map[string]bool{}
	var out [][2]string
	add := func(d *directive, name string) {
		if !seen[d.name] {
			seen[d.name] = true
			out = append(out, [2]string{name, d.get(c)})
		}
	}
	for _, p := range patterns {
		if !strings.ContainsAny(p, "*?[") {
			// An exact name is echoed as the client spelled it, as Redis does.
			if d := directives[strings.ToLower(p)]; d != nil {
				add(d, p)
			}
			continue
		}
		for _, name := range sortedNames() {
			if glob.MatchFold([]byte(p), []byte(name)) {
				add(directives[name], name)
			}
		}
	}
	return out
}

func sortedNames() []string {
	names := make([]string, 0, len(directives))
	for n := range directives {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SetError is a CONFIG SET failure; Error is Redis's reply text.
type SetError struct {
	Name, Reason string
	Unknown      bool // no such parameter: Redis's other wording
}

func (e *SetError) Error() string {
	if e.Unknown {
		return "ERR Unknown option or number of arguments for CONFIG SET - '" + e.Name + "'"
	}
	return "ERR CONFIG SET failed (possibly related to argument '" + e.Name + "') - " + e.Reason
}

// Set applies CONFIG SET name value [name value ...] atomically: every pair
// is validated and applied, or none is. The new values take effect at once
// (the Limits snapshot and log level are republished).
func (c *Config) Set(pairs []string) error {
	if len(pairs)%2 != 0 {
		return fmt.Errorf("config: odd number of CONFIG SET arguments")
	}
	// Validate names first, as Redis does, before touching anything.
	ds := make([]*directive, 0, len(pairs)/2)
	for i := 0; i < len(pairs); i += 2 {
		name := strings.ToLower(pairs[i])
		d := directives[name]
		if d == nil {
			return &SetError{Name: pairs[i], Unknown: true}
		}
		if d.immutable {
			return &SetError{Name: pairs[i], Reason: "can't set immutable config"}
		}
		for _, prev := range ds {
			if prev == d {
				return &SetError{Name: pairs[i], Reason: "duplicate parameter"}
			}
		}
		ds = append(ds, d)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := make([]string, len(ds))
	for i, d := range ds {
		old[i] = d.get(c)
	}
	for i, d := range ds {
		v := pairs[2*i+1]
		args := []string{v}
		if d.multiArg && v != "" {
			args = strings.Fields(v)
		}
		err := error(nil)
		if d.runtimeCheck != nil {
			err = d.runtimeCheck(v)
		}
		if err == nil {
			err = d.set(c, args)
		}
		if err != nil {
			// Restore what was applied before the failing pair.
			for j := i - 1; j >= 0; j-- {
				rargs := []string{old[j]}
				if ds[j].multiArg && old[j] != "" {
					rargs = strings.Fields(old[j])
				}
				ds[j].set(c, rargs)
			}
			return &SetError{Name: pairs[2*i], Reason: err.Error()}
		}
	}
	c.publish()
	return nil
}
