package commands

func init() {
	register(
		&Command{Name: "ping", Arity: -1, Flags: Fast, Categories: []string{"fast", "connection"}, Handler: cmdPing},
		&Command{Name: "echo", Arity: 2, Flags: Fast, Categories: []string{"fast", "connection"}, Handler: cmdEcho},
		&Command{Name: "select", Arity: 2, Flags: Loading | Stale | Fast, Categories: []string{"fast", "connection"}, Handler: cmdSelect},
		&Command{Name: "quit", Arity: -1, Flags: NoScript | Loading | Stale | Fast | NoAuth | AllowBusy,
			Categories: []string{"fast", "connection"}, Handler: cmdQuit},
	)
}

func cmdPing(c *Ctx) {
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
