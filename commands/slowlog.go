package commands

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/structd/structd/internal/resp"
)

// SLOWLOG: the commands that ran for at least slowlog-log-slower-than
// microseconds (the server times every command and calls SlowLog.Add),
// at most slowlog-max-len of them, as Redis 7.0 keeps and shows them.

func init() {
	admin := Admin | Loading | Stale
	cats := []string{"admin", "slow", "dangerous"}
	register(&Command{
		Name: "slowlog", Arity: -2, Categories: []string{"slow"},
		Subcommands: map[string]*Command{
			"get":   {Arity: -2, Flags: admin, Categories: cats, Handler: cmdSlowlogGet},
			"len":   {Arity: 2, Flags: admin, Categories: cats, Handler: cmdSlowlogLen},
			"reset": {Arity: 2, Flags: admin, Categories: cats, Handler: cmdSlowlogReset},
			"help":  {Arity: 2, Flags: Loading | Stale, Categories: []string{"slow"}, Handler: cmdSlowlogHelp},
		},
	})
}

// SlowEntry is one command in the slow log, its arguments as Redis keeps
// them (slowlogArgs).
type SlowEntry struct {
	ID     int64
	Time   int64 // Unix seconds when it was logged
	Micros int64 // how long it ran
	Args   []string
	Addr   string // the client's ip:port
	Name   string // the client's name then
}

// SlowLog is the server's slow log. Its zero value is empty and ready.
type SlowLog struct {
	mu sync.Mutex
	// entries are oldest first; the log is the newest maxLen of them.
	// Add drops the older ones in bulk, once there are twice as many:
	// dropping one at a time would copy the whole log on every command
	// once it is full.
	entries []SlowEntry
	maxLen  int // slowlog-max-len at the last Add
	nextID  int64
}

// Redis's SLOWLOG_ENTRY_MAX_ARGC and SLOWLOG_ENTRY_MAX_STRING.
const (
	slowlogMaxArgs   = 32
	slowlogMaxArgLen = 128
)

// Add logs cmd, called with args, which ran for micros, and keeps the
// newest maxLen entries.
func (l *SlowLog) Add(cmd *Command, args [][]byte, micros int64, addr, name string, maxLen int) {
	e := SlowEntry{Time: time.Now().Unix(), Micros: micros, Args: slowlogArgs(cmd, args), Addr: addr, Name: name}
	l.mu.Lock()
	defer l.mu.Unlock()
	e.ID = l.nextID
	l.nextID++
	if maxLen != l.maxLen {
		l.dropLocked(len(l.entries) - len(l.keptLocked())) // what the old limit dropped stays dropped
		l.maxLen = maxLen
	}
	l.entries = append(l.entries, e)
	if over := len(l.entries) - maxLen; over > 0 && over >= maxLen {
		l.dropLocked(over)
	}
}

// dropLocked removes the n oldest entries.
func (l *SlowLog) dropLocked(n int) {
	clear(l.entries[:n])
	l.entries = append(l.entries[:0], l.entries[n:]...)
}

// keptLocked is the log: the newest maxLen entries, oldest first.
func (l *SlowLog) keptLocked() []SlowEntry {
	if over := len(l.entries) - l.maxLen; over > 0 {
		return l.entries[over:]
	}
	return l.entries
}

// Newest returns up to n entries, newest first; all of them when n < 0.
func (l *SlowLog) Newest(n int) []SlowEntry {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.keptLocked()
	if n < 0 || n > len(kept) {
		n = len(kept)
	}
	out := make([]SlowEntry, n)
	for i := range out {
		out[i] = kept[len(kept)-1-i]
	}
	return out
}

// Len is the number of entries.
func (l *SlowLog) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.keptLocked())
}

// Reset drops every entry (their IDs are not reused).
func (l *SlowLog) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = nil
}

// slowlogArgs is what the slow log keeps of a command's arguments: at most
// 32, the last of them then saying how many more there were; each at most
// 128 bytes and how many more it had; secrets (AUTH's, HELLO's AUTH pair,
// CONFIG SET of requirepass and masterauth) as "(redacted)".
func slowlogArgs(cmd *Command, args [][]byte) []string {
	n := min(len(args), slowlogMaxArgs)
	out := make([]string, n)
	redacted := redactedArgs(cmd, args)
	for i := range out {
		switch a := args[i]; {
		case i == n-1 && n < len(args):
			out[i] = "... (" + strconv.Itoa(len(args)-n+1) + " more arguments)"
		case redacted(i):
			out[i] = "(redacted)"
		case len(a) > slowlogMaxArgLen:
			out[i] = string(a[:slowlogMaxArgLen]) + "... (" + strconv.Itoa(len(a)-slowlogMaxArgLen) + " more bytes)"
		default:
			out[i] = string(a)
		}
	}
	return out
}

// redactedArgs reports which arguments of cmd are secrets that Redis
// keeps out of the slow log.
func redactedArgs(cmd *Command, args [][]byte) func(i int) bool {
	switch {
	case cmd.Name == "auth":
		return func(i int) bool { return i > 0 }
	case cmd.Name == "hello":
		for i := 2; i+2 < len(args); i++ {
			if strings.EqualFold(string(args[i]), "auth") {
				return func(j int) bool { return j == i+1 || j == i+2 }
			}
		}
	case cmd.Name == "config|set":
		return func(i int) bool {
			if i < 3 || (i-3)%2 != 0 {
				return false
			}
			name := strings.ToLower(string(args[i-1]))
			return name == "requirepass" || name == "masterauth"
		}
	}
	return func(int) bool { return false }
}

// cmdSlowlogGet is SLOWLOG GET [count]: the newest count entries (10 by
// default, all for -1), each [id, time, microseconds, args, addr, name].
func cmdSlowlogGet(c *Ctx) {
	count := int64(10)
	if len(c.Args) > 2 {
		n, ok := resp.ParseInt(c.Args[2])
		if !ok || n < -1 {
			c.W.Error("ERR count should be greater than or equal to -1")
			return
		}
		count = n
	}
	entries := c.Server.SlowLog().Newest(int(min(count, 1<<31)))
	c.W.Array(len(entries))
	for _, e := range entries {
		c.W.Array(6)
		c.W.Int(e.ID)
		c.W.Int(e.Time)
		c.W.Int(e.Micros)
		c.W.Array(len(e.Args))
		for _, a := range e.Args {
			c.W.BulkString(a)
		}
		c.W.BulkString(e.Addr)
		c.W.BulkString(e.Name)
	}
}

func cmdSlowlogLen(c *Ctx) { c.W.Int(int64(c.Server.SlowLog().Len())) }

func cmdSlowlogReset(c *Ctx) {
	c.Server.SlowLog().Reset()
	c.W.OK()
}

func cmdSlowlogHelp(c *Ctx) {
	replyHelp(c, []string{
		"GET [<count>]",
		"    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
		"    Entries are made of:",
		"    id, timestamp, time in microseconds, arguments array, client IP and port,",
		"    client name",
		"LEN",
		"    Return the length of the slowlog.",
		"RESET",
		"    Reset the slowlog.",
	})
}
