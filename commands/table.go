// Package commands declares every command StructD serves in one table (name,
// arity, flags, key positions, ACL categories, handler) and implements the
// handlers, one file per family. The table drives dispatch, arity errors,
// key extraction (and so slot locking), COMMAND INFO and COMMAND GETKEYS.
package commands

import (
	"sort"
	"strings"
)

// Flags are Redis's command flags.
type Flags uint32

// Command flags, as COMMAND INFO reports them.
const (
	Write Flags = 1 << iota
	ReadOnly
	DenyOOM
	Admin
	PubSub
	NoScript
	Blocking
	Loading
	Stale
	SkipMonitor
	SkipSlowlog
	Fast
	NoAuth
	MayReplicate
	NoMulti
	MovableKeys
	AllowBusy
	// KeyspaceWide commands run with the whole keyspace locked (they read
	// or change every slot: FLUSHALL, SWAPDB, KEYS, SCAN, RANDOMKEY).
	KeyspaceWide
	// NoMandatoryKeys commands may be called with no key at all (EVAL with
	// numkeys 0): COMMAND GETKEYS answers an empty array for them.
	NoMandatoryKeys
	// Unlocked commands run with no keyspace lock held: those that wait
	// for the whole keyspace themselves (SAVE and SHUTDOWN wait for a
	// checkpoint, which locks it), and allow-busy ones that need none of
	// it (HELLO, MULTI), which must answer while a script holds it. Their
	// handlers must not use Ctx.DB.
	Unlocked
	// CatalogWrite commands write the script catalog and no key (FUNCTION
	// LOAD, SCRIPT ALIAS): a running checkpoint captured the catalog at
	// its P already, so they front-run no slot of it.
	CatalogWrite
	// MayWait commands may wait for replicas or run for as long as a
	// script does (EVAL and the like, EXEC of queued ones, WAIT). With
	// Blocking, PubSub and Admin ones, their client leaves the event loop
	// for a goroutine of its own before they run (server/eventloop.go).
	MayWait
)

var flagNames = []struct {
	f    Flags
	name string
}{
	{Write, "write"}, {ReadOnly, "readonly"}, {DenyOOM, "denyoom"}, {Admin, "admin"},
	{PubSub, "pubsub"}, {NoScript, "noscript"}, {Blocking, "blocking"}, {Loading, "loading"},
	{Stale, "stale"}, {SkipMonitor, "skip_monitor"}, {SkipSlowlog, "skip_slowlog"},
	{Fast, "fast"}, {NoAuth, "no_auth"}, {MayReplicate, "may_replicate"},
	{NoMandatoryKeys, "no_mandatory_keys"}, {NoMulti, "no_multi"}, {MovableKeys, "movablekeys"}, {AllowBusy, "allow_busy"},
}

// Names lists the flag names COMMAND INFO shows, in Redis's order.
func (f Flags) Names() []string {
	var out []string
	for _, n := range flagNames {
		if f&n.f != 0 {
			out = append(out, n.name)
		}
	}
	return out
}

// Handler runs a command whose arity and locks the dispatcher has checked
// and taken.
type Handler func(c *Ctx)

// Command is one entry of the command table.
type Command struct {
	Name  string // lower case; "parent|sub" for subcommands
	Arity int    // Redis arity: n means exactly n, -n means at least n
	Flags Flags
	// FirstKey, LastKey and KeyStep give key positions as Redis's legacy
	// key spec: LastKey -1 means the last argument, -2 the one before.
	FirstKey, LastKey, KeyStep int
	// Keys extracts key positions for commands with movable keys
	// (numkeys arguments, STORE options); it overrides the range above.
	Keys func(args [][]byte) []int
	// Wide, when set, decides per call whether the command runs as if it
	// had the KeyspaceWide flag: for commands that read keys they cannot
	// declare (SORT with BY or GET patterns).
	Wide func(args [][]byte) bool
	// Categories are the ACL categories without '@'.
	Categories []string
	// Tips are Redis's command tips ("nondeterministic_output",
	// "request_policy:all_shards", ...), as COMMAND INFO lists them.
	Tips []string
	// Doc is what COMMAND DOCS reports; nil gives a minimal entry.
	Doc     *Doc
	Handler Handler
	// Subcommands, when present, are dispatched on args[1].
	Subcommands map[string]*Command

	// Statistics for INFO commandstats, updated by the server.
	Stats CommandStats
}

// KeyPositions returns the indexes of args that are keys.
func (cmd *Command) KeyPositions(args [][]byte) []int {
	return cmd.AppendKeyPositions(nil, args)
}

// AppendKeyPositions appends the indexes of args that are keys to dst; the
// dispatcher passes a reused buffer so the hot path does not allocate.
func (cmd *Command) AppendKeyPositions(dst []int, args [][]byte) []int {
	if cmd.Keys != nil {
		return append(dst, cmd.Keys(args)...)
	}
	if cmd.FirstKey == 0 {
		return dst
	}
	last := cmd.LastKey
	if last < 0 {
		last = len(args) + last
	}
	for i := cmd.FirstKey; i <= last && i < len(args); i += cmd.KeyStep {
		dst = append(dst, i)
	}
	return dst
}

// ArityOK reports whether n arguments (command name included) fit the arity.
func (cmd *Command) ArityOK(n int) bool {
	if cmd.Arity >= 0 {
		return n == cmd.Arity
	}
	return n >= -cmd.Arity
}

// Table maps lower-case command names to commands.
type Table map[string]*Command

// registry is filled by each family file's init through register.
var registry = Table{}

func register(cmds ...*Command) {
	for _, c := range cmds {
		if _, dup := registry[c.Name]; dup {
			panic("commands: duplicate command " + c.Name)
		}
		for name, sub := range c.Subcommands {
			sub.Name = c.Name + "|" + name
		}
		registry[c.Name] = c
	}
}

// All returns the command table.
func All() Table { return registry }

// Lookup finds a command by name, case-insensitively, without allocating.
func (t Table) Lookup(name []byte) *Command {
	var lower [32]byte
	if len(name) > len(lower) {
		return t[strings.ToLower(string(name))]
	}
	for i, c := range name {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	return t[string(lower[:len(name)])]
}

// Resolve finds the command args names and, when it has subcommands and
// args[1] names one, that subcommand; nil for an unknown command.
func (t Table) Resolve(args [][]byte) *Command {
	cmd := t.Lookup(args[0])
	if cmd != nil && cmd.Subcommands != nil && len(args) >= 2 {
		if sub := Table(cmd.Subcommands).Lookup(args[1]); sub != nil {
			return sub
		}
	}
	return cmd
}

// Sorted returns the commands ordered by name.
func (t Table) Sorted() []*Command {
	out := make([]*Command, 0, len(t))
	for _, c := range t {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
