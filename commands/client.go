package commands

import (
	"strings"
	"time"

	"github.com/structd/structd/internal/resp"
)

func init() {
	conn := NoScript | Loading | Stale
	admin := Admin | NoScript | Loading | Stale
	connCats := []string{"slow", "connection"}
	adminCats := []string{"admin", "slow", "dangerous", "connection"}
	register(&Command{
		Name: "client", Arity: -2, Categories: []string{"slow"},
		Subcommands: map[string]*Command{
			"id":      {Arity: 2, Flags: conn, Categories: connCats, Handler: cmdClientID},
			"getname": {Arity: 2, Flags: conn, Categories: connCats, Handler: cmdClientGetName},
			"setname": {Arity: 3, Flags: conn, Categories: connCats, Handler: cmdClientSetName},
			"setinfo": {Arity: 4, Flags: conn, Categories: connCats, Handler: cmdClientSetInfo,
				Doc: &Doc{Summary: "Set client or connection specific info", Since: "7.2.0", Group: "connection", Complexity: "O(1)"}},
			"info":     {Arity: 2, Flags: conn, Categories: connCats, Tips: []string{"nondeterministic_output"}, Handler: cmdClientInfo},
			"list":     {Arity: -2, Flags: admin, Categories: adminCats, Tips: []string{"nondeterministic_output"}, Handler: cmdClientList},
			"kill":     {Arity: -3, Flags: admin, Categories: adminCats, Handler: cmdClientKill},
			"pause":    {Arity: -3, Flags: admin, Categories: adminCats, Handler: cmdClientPause},
			"unpause":  {Arity: 2, Flags: admin, Categories: adminCats, Handler: cmdClientUnpause},
			"reply":    {Arity: 3, Flags: conn, Categories: connCats, Handler: cmdClientReply},
			"no-evict": {Arity: 3, Flags: admin, Categories: adminCats, Handler: cmdClientNoEvict},
			"unblock":  {Arity: -3, Flags: admin, Categories: adminCats, Handler: cmdClientUnblock}, // blocking.go
			"help":     {Arity: 2, Flags: Loading | Stale, Categories: connCats, Handler: cmdClientHelp},
		},
	})
}

func cmdClientID(c *Ctx) { c.W.Int(c.Session.ID) }

func cmdClientGetName(c *Ctx) {
	if c.Session.Name == "" {
		c.W.Null()
		return
	}
	c.W.BulkString(c.Session.Name)
}

func cmdClientSetName(c *Ctx) {
	if setClientName(c, c.Args[2]) {
		c.W.OK()
	}
}

// cmdClientSetInfo is CLIENT SETINFO LIB-NAME|LIB-VER value (Redis 7.2,
// which client libraries send on connect).
func cmdClientSetInfo(c *Ctx) {
	var field string
	switch {
	case c.ArgIs(2, "lib-name"):
		field = "lib-name"
	case c.ArgIs(2, "lib-ver"):
		field = "lib-ver"
	default:
		c.W.Error("ERR Unrecognized option '" + c.Arg(2) + "'")
		return
	}
	if !validClientAttr(c.Args[3]) {
		c.W.Error("ERR " + c.Arg(2) + " cannot contain spaces, newlines or special characters.")
		return
	}
	c.Session.SetLib(field, c.Arg(3))
	c.W.OK()
}

// selfInfo is the caller's CLIENT LIST line: the server's snapshot, with
// the fields the running command changes taken from the session itself.
func selfInfo(c *Ctx, ci ClientInfo) ClientInfo {
	ci.DB = c.Session.DB
	ci.Resp = c.Session.Proto
	ci.Cmd = c.Cmd.Name
	ci.ArgvMem = 0
	for _, a := range c.Args {
		ci.ArgvMem += len(a)
	}
	return ci
}

func cmdClientInfo(c *Ctx) {
	ci, ok := c.Server.Client(c.Session.ID)
	if !ok {
		c.W.Error("ERR client is gone")
		return
	}
	ci = selfInfo(c, ci)
	c.W.Verbatim(ci.Line() + "\n")
}

// clientTypes are the names CLIENT LIST TYPE and CLIENT KILL TYPE accept.
var clientTypes = []string{"normal", "slave", "replica", "master", "pubsub"}

// matchesType reports whether a client is of type t, by its CLIENT LIST
// flags as Redis's getClientType: M a replica's link to its master, S a
// replica's link to this master, P a subscriber.
func matchesType(ci *ClientInfo, t string) bool {
	kind := "normal"
	switch {
	case strings.Contains(ci.Flags, "M"):
		kind = "master"
	case strings.Contains(ci.Flags, "S"):
		kind = "replica"
	case strings.Contains(ci.Flags, "P"):
		kind = "pubsub"
	}
	return kind == t || t == "slave" && kind == "replica"
}

func validClientType(t string) bool {
	for _, ct := range clientTypes {
		if ct == t {
			return true
		}
	}
	return false
}

// cmdClientList is CLIENT LIST [TYPE type | ID id [id ...]].
func cmdClientList(c *Ctx) {
	var b strings.Builder
	line := func(ci ClientInfo) {
		if ci.ID == c.Session.ID {
			ci = selfInfo(c, ci)
		}
		b.WriteString(ci.Line())
		b.WriteByte('\n')
	}
	switch {
	case len(c.Args) == 4 && c.ArgIs(2, "type"):
		t := strings.ToLower(c.Arg(3))
		if !validClientType(t) {
			c.W.Error("ERR Unknown client type '" + c.Arg(3) + "'")
			return
		}
		for _, ci := range c.Server.Clients() {
			if matchesType(&ci, t) {
				line(ci)
			}
		}
	case len(c.Args) > 3 && c.ArgIs(2, "id"):
		ids := make([]int64, 0, len(c.Args)-3)
		for j := 3; j < len(c.Args); j++ {
			id, ok := resp.ParseInt(c.Args[j])
			if !ok {
				c.W.Error("ERR Invalid client ID")
				return
			}
			ids = append(ids, id)
		}
		for _, id := range ids {
			if ci, ok := c.Server.Client(id); ok {
				line(ci)
			}
		}
	case len(c.Args) != 2:
		c.W.Error(ErrSyntax)
		return
	default:
		for _, ci := range c.Server.Clients() {
			line(ci)
		}
	}
	c.W.Verbatim(b.String())
}

// killFilter is CLIENT KILL's new-style filter set.
type killFilter struct {
	id          int64
	addr, laddr string
	hasAddr     bool
	hasLaddr    bool
	typ, user   string
	skipMe      bool
}

func (f *killFilter) match(ci *ClientInfo, self int64) bool {
	switch {
	case f.hasAddr && ci.Addr != f.addr,
		f.hasLaddr && ci.LAddr != f.laddr,
		f.typ != "" && !matchesType(ci, f.typ),
		f.id != 0 && ci.ID != f.id,
		f.user != "" && ci.User != f.user,
		f.skipMe && ci.ID == self:
		return false
	}
	return true
}

// cmdClientKill is CLIENT KILL ip:port (reply OK, may kill the caller) or
// CLIENT KILL filter value [filter value ...] (reply: how many were
// killed; the caller is skipped unless SKIPME no). A killed caller gets
// its reply first, then its connection closes.
func cmdClientKill(c *Ctx) {
	f := killFilter{skipMe: true}
	if len(c.Args) == 3 {
		f.addr, f.hasAddr, f.skipMe = c.Arg(2), true, false
	} else {
		for i := 2; i < len(c.Args); i += 2 {
			more := i+1 < len(c.Args)
			switch {
			case c.ArgIs(i, "id") && more:
				id, ok := resp.ParseInt(c.Args[i+1])
				if !ok || id < 1 {
					c.W.Error("ERR client-id should be greater than 0")
					return
				}
				f.id = id
			case c.ArgIs(i, "type") && more:
				f.typ = strings.ToLower(c.Arg(i + 1))
				if !validClientType(f.typ) {
					c.W.Error("ERR Unknown client type '" + c.Arg(i+1) + "'")
					return
				}
			case c.ArgIs(i, "addr") && more:
				f.addr, f.hasAddr = c.Arg(i+1), true
			case c.ArgIs(i, "laddr") && more:
				f.laddr, f.hasLaddr = c.Arg(i+1), true
			case c.ArgIs(i, "user") && more:
				if c.Arg(i+1) != "default" {
					c.W.Error("ERR No such user '" + c.Arg(i+1) + "'")
					return
				}
				f.user = "default"
			case c.ArgIs(i, "skipme") && more:
				switch {
				case c.ArgIs(i+1, "yes"):
					f.skipMe = true
				case c.ArgIs(i+1, "no"):
					f.skipMe = false
				default:
					c.W.Error(ErrSyntax)
					return
				}
			default:
				c.W.Error(ErrSyntax)
				return
			}
		}
	}
	killed := 0
	for _, ci := range c.Server.Clients() {
		if !f.match(&ci, c.Session.ID) {
			continue
		}
		if ci.ID == c.Session.ID {
			c.Session.CloseAfterReply = true
		} else if !c.Server.KillClient(ci.ID) {
			continue
		}
		killed++
	}
	if len(c.Args) == 3 {
		if killed == 0 {
			c.W.Error("ERR No such client")
			return
		}
		c.W.OK()
		return
	}
	c.W.Int(int64(killed))
}

// cmdClientPause is CLIENT PAUSE timeout-ms [WRITE|ALL].
func cmdClientPause(c *Ctx) {
	mode := PauseAll
	if len(c.Args) > 4 {
		c.W.Error("ERR unknown subcommand or wrong number of arguments for '" + c.Arg(1) + "'. Try CLIENT HELP.")
		return
	}
	if len(c.Args) == 4 {
		switch {
		case c.ArgIs(3, "write"):
			mode = PauseWrite
		case c.ArgIs(3, "all"):
			mode = PauseAll
		default:
			c.W.Error("ERR CLIENT PAUSE mode must be WRITE or ALL")
			return
		}
	}
	ms, ok := c.TimeoutMs(2)
	if !ok {
		return
	}
	now := time.Now()
	if ms > (1<<63-1)/int64(time.Millisecond)-now.UnixMilli() {
		c.W.Error("ERR timeout is out of range")
		return
	}
	c.Server.PauseClients(mode, now.Add(time.Duration(ms)*time.Millisecond))
	c.W.OK()
}

func cmdClientUnpause(c *Ctx) {
	c.Server.UnpauseClients()
	c.W.OK()
}

// cmdClientReply is CLIENT REPLY ON|OFF|SKIP. Only ON replies: OFF and
// SKIP take effect on their own reply already (the dispatcher discards
// what the session's mode says).
func cmdClientReply(c *Ctx) {
	switch {
	case c.ArgIs(2, "on"):
		c.Session.Reply = ReplyOn
		c.W.OK()
	case c.ArgIs(2, "off"):
		c.Session.Reply = ReplyOff
	case c.ArgIs(2, "skip"):
		if c.Session.Reply != ReplyOff {
			c.Session.Reply = ReplySkipNext
		}
	default:
		c.W.Error(ErrSyntax)
	}
}

// cmdClientNoEvict is CLIENT NO-EVICT ON|OFF. StructD does not evict
// clients yet; the flag is kept and shown in CLIENT LIST ("e").
func cmdClientNoEvict(c *Ctx) {
	switch {
	case c.ArgIs(2, "on"):
		c.Session.NoEvict = true
	case c.ArgIs(2, "off"):
		c.Session.NoEvict = false
	default:
		c.W.Error(ErrSyntax)
		return
	}
	c.W.OK()
}

func cmdClientHelp(c *Ctx) {
	replyHelp(c, []string{
		"GETNAME",
		"    Return the name of the current connection.",
		"ID",
		"    Return the ID of the current connection.",
		"INFO",
		"    Return information about the current client connection.",
		"KILL <ip:port>",
		"    Kill connection made from <ip:port>.",
		"KILL <option> <value> [<option> <value> [...]]",
		"    Kill connections. Options are:",
		"    * ADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made from the specified address",
		"    * LADDR (<ip:port>|<unixsocket>:0)",
		"      Kill connections made to specified local address",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Kill connections by type.",
		"    * USER <username>",
		"      Kill connections authenticated by <username>.",
		"    * SKIPME (YES|NO)",
		"      Skip killing current connection (default: yes).",
		"LIST [options ...]",
		"    Return information about client connections. Options:",
		"    * TYPE (NORMAL|MASTER|REPLICA|PUBSUB)",
		"      Return clients of specified type.",
		"UNPAUSE",
		"    Stop the current client pause, resuming traffic.",
		"PAUSE <timeout> [WRITE|ALL]",
		"    Suspend all, or just write, clients for <timeout> milliseconds.",
		"REPLY (ON|OFF|SKIP)",
		"    Control the replies sent to the current connection.",
		"SETINFO <option> <value>",
		"    Set client meta attr. Options are:",
		"    * LIB-NAME: the client lib name.",
		"    * LIB-VER: the client lib version.",
		"SETNAME <name>",
		"    Assign the name <name> to the current connection.",
		"UNBLOCK <clientid> [TIMEOUT|ERROR]",
		"    Unblock the specified blocked client.",
		"NO-EVICT (ON|OFF)",
		"    Protect current client connection from eviction.",
	})
}
