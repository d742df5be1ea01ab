package scripting

import (
	"strings"

	"github.com/structd/structd/internal/resp"
)

// Flags are a script's #!lua shebang flags.
type Flags uint8

// The shebang flags, as Redis 7.0 names them.
const (
	// FlagShebang: the script has a shebang, so it declares its flags
	// (without no-writes it is a writing script, refused by EVAL_RO).
	FlagShebang Flags = 1 << iota
	FlagNoWrites
	FlagAllowOOM
	FlagAllowStale
	FlagNoCluster
	FlagAllowCrossSlot
)

// flagList names the flags in Redis's order (FUNCTION LIST's).
var flagList = []struct {
	name string
	flag Flags
}{
	{"no-writes", FlagNoWrites}, {"allow-oom", FlagAllowOOM}, {"allow-stale", FlagAllowStale},
	{"no-cluster", FlagNoCluster}, {"allow-cross-slot-keys", FlagAllowCrossSlot},
}

// flagNamed is the flag called name: exactly (a shebang's) or ignoring
// case (redis.register_function's).
func flagNamed(name string, foldCase bool) (Flags, bool) {
	for _, f := range flagList {
		if f.name == name || foldCase && strings.EqualFold(f.name, name) {
			return f.flag, true
		}
	}
	return 0, false
}

// names lists the declared flags in Redis's order.
func (f Flags) names() []string {
	var out []string
	for _, x := range flagList {
		if f&x.flag != 0 {
			out = append(out, x.name)
		}
	}
	return out
}

// parseShebang reads the "#!lua [flags=a,b]" first line of body, as Redis's
// evalExtractShebangFlags. It returns the flags and the code to compile:
// the body with the shebang line removed but its newline kept, so that
// line numbers match the body's.
func parseShebang(body string) (Flags, string, error) {
	if !strings.HasPrefix(body, "#!") {
		return 0, body, nil
	}
	end := strings.IndexByte(body, '\n')
	if end < 0 {
		return 0, "", &compileError{"ERR Invalid script shebang"}
	}
	parts, ok := resp.SplitArgs([]byte(body[:end]), nil)
	if !ok || len(parts) == 0 {
		return 0, "", &compileError{"ERR Invalid engine in script shebang"}
	}
	if string(parts[0]) != "#!lua" {
		return 0, "", &compileError{"ERR Unexpected engine in script shebang: " + string(parts[0])}
	}
	flags := FlagShebang
	for _, p := range parts[1:] {
		opt := string(p)
		if !strings.HasPrefix(opt, "flags=") {
			return 0, "", &compileError{"ERR Unknown lua shebang option: " + opt}
		}
		list := opt[len("flags="):]
		if list == "" {
			continue
		}
		for _, name := range strings.Split(list, ",") {
			f, ok := flagNamed(name, false)
			if !ok {
				return 0, "", &compileError{"ERR Unexpected flag in script shebang: " + name}
			}
			flags |= f
		}
	}
	return flags, body[end:], nil
}
