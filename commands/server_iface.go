package commands

import (
	"strconv"
	"time"

	"github.com/structd/structd/config"
	"github.com/structd/structd/replication"
)

// Server is what connection and server commands need from the running
// server: the client registry, configuration, statistics and lifecycle.
// server.Server implements it; commands never import the server package.
type Server interface {
	// Table is the command table the server dispatches with.
	Table() Table
	// Config is the live configuration (CONFIG GET/SET go through it).
	Config() *config.Config

	// Clients returns a snapshot of every connected client, by ID.
	Clients() []ClientInfo
	// Client returns the snapshot of one client.
	Client(id int64) (ClientInfo, bool)
	// KillClient disconnects another client; it reports whether one with
	// that ID existed. A client kills itself with Session.CloseAfterReply.
	KillClient(id int64) bool
	// UnblockClient ends the wait of a client blocked in a blocking
	// command (CLIENT UNBLOCK): it reports whether one was.
	UnblockClient(id int64, withError bool) bool

	// PauseClients holds the commands PAUSE mode selects until the
	// deadline or UnpauseClients. A new pause replaces the current one.
	PauseClients(mode PauseMode, until time.Time)
	// UnpauseClients ends a pause at once.
	UnpauseClients()

	// Stats returns the server's counters for INFO.
	Stats() ServerStats
	// ResetStats zeroes the counters CONFIG RESETSTAT resets.
	ResetStats()
	// SlowLog is the log of slow commands (SLOWLOG).
	SlowLog() *SlowLog

	// Persistence is the server's disk side, nil when it runs as a pure
	// cache (appendonly no, save "").
	Persistence() Persistence
	// ApplyConfig acts on a CONFIG SET of directives that change running
	// subsystems (appendonly, appendfsync), after the values are stored.
	ApplyConfig() error

	// Replication is the server's replication side.
	Replication() *replication.Manager

	// ScriptEngine is the server's own Lua engine (script cache, aliases,
	// function libraries), nil when none is linked in.
	ScriptEngine() ScriptEngine

	// Shutdown stops the server: it stops accepting, disconnects clients
	// and closes Done, after the current command's reply is written.
	Shutdown()
}

// PauseMode is CLIENT PAUSE's mode.
type PauseMode uint8

// The pause modes.
const (
	PauseOff   PauseMode = iota
	PauseWrite           // commands that write (or may) wait
	PauseAll             // every command waits
)

// ServerStats are the server-wide figures INFO reports that the keyspace
// does not hold.
type ServerStats struct {
	Start               time.Time
	TCPPort             int
	ConnectedClients    int
	BlockedClients      int
	MaxInputBuffer      int64 // largest query buffer among clients
	MaxOutputBuffer     int64
	ConnectionsReceived int64
	RejectedConnections int64
	CommandsProcessed   int64
	NetInputBytes       int64
	NetOutputBytes      int64
	ReadsProcessed      int64
	WritesProcessed     int64
	ErrorReplies        int64
	// ErrorCounts counts error replies by their prefix ("ERR", "WRONGTYPE").
	ErrorCounts map[string]int64
	// OpsPerSec, InputKbps, OutputKbps are instantaneous rates sampled by
	// the server cron.
	OpsPerSec             int64
	InputKbps, OutputKbps float64
	Hz                    int
	// PubSubChannels, PubSubPatterns and PubSubShardChannels count the
	// channels and patterns with at least one subscriber.
	PubSubChannels, PubSubPatterns, PubSubShardChannels int
}

// ClientInfo is one line of CLIENT LIST / CLIENT INFO: a snapshot of a
// client's state, taken without stopping it.
type ClientInfo struct {
	ID          int64
	Addr, LAddr string
	FD          int
	Name        string
	Age, Idle   int64 // seconds
	Flags       string
	DB          int
	Sub, PSub   int
	SSub        int
	Multi       int // queued commands in MULTI, -1 outside one
	QBuf        int
	QBufFree    int
	ArgvMem     int
	MultiMem    int
	RBS, RBP    int // read buffer size and peak
	OBL, OLL    int
	OMem        int
	TotMem      int
	Events      string
	Cmd         string
	User        string
	Redir       int
	Resp        int
	LibName     string
	LibVer      string
}

// Line formats the client as CLIENT LIST does: Redis 7.0's fields, in its
// order, with 7.2's lib-name and lib-ver at the end.
func (ci *ClientInfo) Line() string {
	b := make([]byte, 0, 320)
	kv := func(k, v string) {
		if len(b) > 0 {
			b = append(b, ' ')
		}
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, v...)
	}
	n := func(k string, v int64) { kv(k, strconv.FormatInt(v, 10)) }
	n("id", ci.ID)
	kv("addr", ci.Addr)
	kv("laddr", ci.LAddr)
	n("fd", int64(ci.FD))
	kv("name", ci.Name)
	n("age", ci.Age)
	n("idle", ci.Idle)
	kv("flags", ci.Flags)
	n("db", int64(ci.DB))
	n("sub", int64(ci.Sub))
	n("psub", int64(ci.PSub))
	n("ssub", int64(ci.SSub))
	n("multi", int64(ci.Multi))
	n("qbuf", int64(ci.QBuf))
	n("qbuf-free", int64(ci.QBufFree))
	n("argv-mem", int64(ci.ArgvMem))
	n("multi-mem", int64(ci.MultiMem))
	n("rbs", int64(ci.RBS))
	n("rbp", int64(ci.RBP))
	n("obl", int64(ci.OBL))
	n("oll", int64(ci.OLL))
	n("omem", int64(ci.OMem))
	n("tot-mem", int64(ci.TotMem))
	kv("events", ci.Events)
	kv("cmd", ci.Cmd)
	kv("user", ci.User)
	n("redir", int64(ci.Redir))
	n("resp", int64(ci.Resp))
	kv("lib-name", ci.LibName)
	kv("lib-ver", ci.LibVer)
	return string(b)
}
