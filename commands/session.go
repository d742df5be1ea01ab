package commands

// ReplyMode is CLIENT REPLY's state.
type ReplyMode uint8

// The CLIENT REPLY modes.
const (
	ReplyOn ReplyMode = iota
	ReplyOff
	ReplySkipNext // skip the reply of the next command only
	ReplySkip     // skipping the current command's reply
)

// Session is the per-connection state commands read and change. The
// connection goroutine owns it; other goroutines (CLIENT LIST, CLIENT KILL)
// go through the Server, which synchronises.
type Session struct {
	ID            int64
	DB            int
	Proto         int // 2 or 3
	Name          string
	LibName       string
	LibVer        string
	Authenticated bool
	User          string
	Reply         ReplyMode
	NoEvict       bool
	// CloseAfterReply is set by QUIT (and protocol errors): the connection
	// flushes pending replies, then closes.
	CloseAfterReply bool
}
