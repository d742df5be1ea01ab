package commands

import (
	"strconv"

	"github.com/structd/structd/internal/resp"
)

func init() {
	connFlags := NoScript | Loading | Stale | Fast | NoAuth | AllowBusy
	// QUIT, HELLO and AUTH touch no key, and RESET locks the keyspace only
	// to unwatch keys: they answer at once while a script holds it, as
	// Redis's do.
	unlocked := connFlags | Unlocked
	register(
		&Command{Name: "ping", Arity: -1, Flags: Fast, Categories: []string{"fast", "connection"},
			Tips: []string{"request_policy:all_shards", "response_policy:all_succeeded"}, Handler: cmdPing},
		&Command{Name: "echo", Arity: 2, Flags: Loading | Stale | Fast, Categories: []string{"fast", "connection"}, Handler: cmdEcho},
		&Command{Name: "select", Arity: 2, Flags: Loading | Stale | Fast, Categories: []string{"fast", "connection"}, Handler: cmdSelect},
		&Command{Name: "quit", Arity: -1, Flags: unlocked, Categories: []string{"fast", "connection"}, Handler: cmdQuit},
		&Command{Name: "hello", Arity: -1, Flags: unlocked, Categories: []string{"fast", "connection"}, Handler: cmdHello},
		&Command{Name: "auth", Arity: -2, Flags: unlocked, Categories: []string{"fast", "connection"}, Handler: cmdAuth},
		&Command{Name: "reset", Arity: 1, Flags: unlocked, Categories: []string{"fast", "connection"}, Handler: cmdReset},
	)
}

// The values HELLO and INFO report for the server. StructD answers as the
// Redis release whose behaviour it reproduces, so clients that check the
// version enable the features it has.
const (
	RedisVersion = "7.0.15"
	serverName   = "redis"
)

func cmdPing(c *Ctx) {
	if c.Session.Subscriptions > 0 && c.Session.Proto == 2 {
		pingSubscribed(c) // pubsub.go
		return
	}
	switch len(c.Args) {
	case 1:
		c.W.Simple("PONG")
	case 2:
		c.W.Bulk(c.Args[1])
	default:
		c.W.Error(WrongArity("ping"))
	}
}

func cmdEcho(c *Ctx) { c.W.Bulk(c.Args[1]) }

func cmdSelect(c *Ctx) {
	n, ok := c.Int(1)
	if !ok {
		return
	}
	if n < 0 || n >= int64(c.KS.NumDBs()) {
		c.W.Error(ErrDBIndex)
		return
	}
	c.Session.DB = int(n)
	c.W.OK()
}

func cmdQuit(c *Ctx) {
	c.W.OK()
	c.Session.CloseAfterReply = true
}

// cmdHello is HELLO [protover [AUTH user pass] [SETNAME name]]: switch
// protocol, authenticate and name the connection, then describe the server.
func cmdHello(c *Ctx) {
	ver := int64(0)
	if len(c.Args) >= 2 {
		n, ok := resp.ParseInt(c.Args[1])
		if !ok {
			c.W.Error("ERR Protocol version is not an integer or out of range")
			return
		}
		if n < 2 || n > 3 {
			c.W.Error("NOPROTO unsupported protocol version")
			return
		}
		ver = n
	}
	var user, pass, name []byte
	hasName := false
	for j := 2; j < len(c.Args); j++ {
		more := len(c.Args) - 1 - j
		switch {
		case c.ArgIs(j, "auth") && more >= 2:
			user, pass = c.Args[j+1], c.Args[j+2]
			j += 2
		case c.ArgIs(j, "setname") && more >= 1:
			name, hasName = c.Args[j+1], true
			j++
		default:
			c.W.Error("ERR Syntax error in HELLO option '" + c.Arg(j) + "'")
			return
		}
	}
	if user != nil && !authenticate(c, string(user), string(pass)) {
		return
	}
	if !c.Session.Authenticated {
		c.W.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")
		return
	}
	if hasName && !setClientName(c, name) {
		return
	}
	if ver != 0 {
		c.Session.Proto = int(ver)
		c.W.Proto = int(ver)
	}
	c.W.Map(7)
	c.W.BulkString("server")
	c.W.BulkString(serverName)
	c.W.BulkString("version")
	c.W.BulkString(RedisVersion)
	c.W.BulkString("proto")
	c.W.Int(int64(c.Session.Proto))
	c.W.BulkString("id")
	c.W.Int(c.Session.ID)
	c.W.BulkString("mode")
	c.W.BulkString("standalone")
	c.W.BulkString("role")
	if c.Server.Replication().IsReplica() {
		c.W.BulkString("replica")
	} else {
		c.W.BulkString("master")
	}
	c.W.BulkString("modules")
	c.W.Array(0)
}

// cmdAuth is AUTH [user] password, against requirepass and the default
// user (ACLs come later).
func cmdAuth(c *Ctx) {
	if len(c.Args) > 3 {
		c.W.Error(ErrSyntax)
		return
	}
	user, pass := "default", c.Arg(len(c.Args)-1)
	if len(c.Args) == 2 {
		if c.Server.Config().Limits().RequirePass == "" {
			c.W.Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")
			return
		}
	} else {
		user = c.Arg(1)
	}
	if authenticate(c, user, pass) {
		c.W.OK()
	}
}

// authenticate checks user and password as Redis's default user does: no
// requirepass means any password works; other users do not exist yet. On
// failure it replies WRONGPASS and leaves the session as it was.
func authenticate(c *Ctx, user, pass string) bool {
	required := c.Server.Config().Limits().RequirePass
	if user != "default" || (required != "" && pass != required) {
		c.W.Error("WRONGPASS invalid username-password pair or user is disabled.")
		return false
	}
	c.Session.Authenticated = true
	c.Session.SetUser(user)
	return true
}

// resetHooks clear per-connection state that other families own (MULTI,
// WATCH, subscriptions) when RESET runs; they register with onReset.
var resetHooks []func(c *Ctx)

// onReset registers a RESET hook; call it from an init function.
func onReset(fn func(c *Ctx)) { resetHooks = append(resetHooks, fn) }

// cmdReset is RESET: the connection returns to its state at connect time
// (database 0, RESP2, default user authenticated only if no password is
// required, no name, replies on) except its library name and version.
func cmdReset(c *Ctx) {
	for _, fn := range resetHooks {
		fn(c)
	}
	s := c.Session
	s.DB = 0
	s.Proto = 2
	c.W.Proto = 2
	s.Authenticated = c.Server.Config().Limits().RequirePass == ""
	s.SetUser("default")
	s.SetName("")
	s.Reply = ReplyOn
	c.W.Simple("RESET")
}

// validClientAttr reports whether v may be a client name or library
// attribute: printable ASCII without spaces.
func validClientAttr(v []byte) bool {
	for _, b := range v {
		if b < '!' || b > '~' {
			return false
		}
	}
	return true
}

// setClientName sets the connection name, replying with Redis's error if
// it is not valid. An empty name clears it.
func setClientName(c *Ctx, name []byte) bool {
	if !validClientAttr(name) {
		c.W.Error("ERR Client names cannot contain spaces, newlines or special characters.")
		return false
	}
	c.Session.SetName(string(name))
	return true
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
