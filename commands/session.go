package commands

import "sync"

// ReplyMode is CLIENT REPLY's state.
type ReplyMode uint8

// The CLIENT REPLY modes.
const (
	ReplyOn ReplyMode = iota
	ReplyOff
	ReplySkipNext // CLIENT REPLY SKIP ran: skip the next command's reply
	ReplySkip     // skipping the current command's reply
)

// Session is the per-connection state commands read and change. The
// connection goroutine owns it and reads its fields freely. The identity
// fields (Name, LibName, LibVer, User) are also read by other goroutines
// (CLIENT LIST, CLIENT KILL USER): the owner changes them only through the
// setters, which hold mu, and other goroutines read them with Identity.
type Session struct {
	ID            int64
	DB            int
	Proto         int // 2 or 3
	Authenticated bool
	Reply         ReplyMode
	NoEvict       bool
	// CloseAfterReply is set by QUIT, SHUTDOWN and CLIENT KILL of the
	// caller itself: the connection flushes pending replies, then closes.
	CloseAfterReply bool
	// Multi is the connection's transaction and WATCHed keys (multi.go).
	Multi MultiState
	// Replica is what REPLCONF, SYNC and PSYNC said on the connection
	// (replication.go).
	Replica ReplicaHandshake
	// Master marks the session of a replica's link to its master, whose
	// writes a read-only replica applies.
	Master bool
	// Subscriptions counts the channels, patterns and shard channels the
	// connection is subscribed to: in RESP2, while it is not zero, only
	// the pub/sub commands, PING, QUIT and RESET are allowed.
	Subscriptions int

	mu      sync.Mutex
	Name    string // CLIENT SETNAME; "" = none
	LibName string // CLIENT SETINFO LIB-NAME
	LibVer  string // CLIENT SETINFO LIB-VER
	User    string // authenticated ACL user ("default")
}

// SetName sets the connection name.
func (s *Session) SetName(name string) {
	s.mu.Lock()
	s.Name = name
	s.mu.Unlock()
}

// SetLib sets the client library name or version (CLIENT SETINFO): field
// is "lib-name" or "lib-ver".
func (s *Session) SetLib(field, value string) {
	s.mu.Lock()
	if field == "lib-name" {
		s.LibName = value
	} else {
		s.LibVer = value
	}
	s.mu.Unlock()
}

// SetUser records the user the connection authenticated as.
func (s *Session) SetUser(user string) {
	s.mu.Lock()
	s.User = user
	s.mu.Unlock()
}

// Identity reads the identity fields; safe from any goroutine.
func (s *Session) Identity() (name, libName, libVer, user string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.Name, s.LibName, s.LibVer, s.User
}
