package commands

import (
	"errors"
	"log/slog"
	"time"

	"github.com/structd/structd/config"
)

func init() {
	admin := Admin | NoScript | Loading | Stale
	adminCats := []string{"admin", "slow", "dangerous"}
	register(
		&Command{
			Name: "config", Arity: -2, Categories: []string{"slow"},
			Subcommands: map[string]*Command{
				"get": {Arity: -3, Flags: admin, Categories: adminCats, Handler: cmdConfigGet},
				"set": {Arity: -4, Flags: admin, Categories: adminCats,
					Tips: []string{"request_policy:all_nodes", "response_policy:all_succeeded"}, Handler: cmdConfigSet},
				"resetstat": {Arity: 2, Flags: admin, Categories: adminCats, Handler: cmdConfigResetStat},
				"rewrite":   {Arity: 2, Flags: admin, Categories: adminCats, Handler: cmdConfigRewrite},
				"help":      {Arity: 2, Flags: Loading | Stale, Categories: []string{"slow"}, Handler: cmdConfigHelp},
			},
		},
		&Command{Name: "time", Arity: 1, Flags: Loading | Stale | Fast, Categories: []string{"fast"},
			Tips: []string{"nondeterministic_output"}, Handler: cmdTime},
		&Command{Name: "shutdown", Arity: -1, Flags: Admin | NoScript | Loading | Stale | NoMulti | AllowBusy | Unlocked,
			Categories: []string{"admin", "slow", "dangerous"}, Handler: cmdShutdown},
	)
}

// cmdConfigGet is CONFIG GET pattern [pattern ...]: a map of the matching
// parameters (a flat array in RESP2).
func cmdConfigGet(c *Ctx) {
	patterns := make([]string, len(c.Args)-2)
	for i := range patterns {
		patterns[i] = c.Arg(i + 2)
	}
	pairs := c.Server.Config().Get(patterns)
	c.W.Map(len(pairs))
	for _, p := range pairs {
		c.W.BulkString(p[0])
		c.W.BulkString(p[1])
	}
}

// cmdConfigSet is CONFIG SET name value [name value ...], applied
// atomically: all pairs or none.
func cmdConfigSet(c *Ctx) {
	if len(c.Args)%2 != 0 {
		c.W.Error(ErrSyntax)
		return
	}
	pairs := make([]string, len(c.Args)-2)
	for i := range pairs {
		pairs[i] = c.Arg(i + 2)
	}
	if err := c.Server.Config().Set(pairs); err != nil {
		c.W.Error(err.Error())
		return
	}
	if err := c.Server.ApplyConfig(); err != nil {
		c.W.Error("ERR CONFIG SET failed - " + err.Error())
		return
	}
	c.W.OK()
}

func cmdConfigResetStat(c *Ctx) {
	c.Server.ResetStats()
	c.W.OK()
}

func cmdConfigRewrite(c *Ctx) {
	err := c.Server.Config().Rewrite()
	switch {
	case errors.Is(err, config.ErrNoConfigFile):
		c.W.Error("ERR " + err.Error())
	case err != nil:
		slog.Warn("CONFIG REWRITE failed", "err", err)
		c.W.Error("ERR Rewriting config file: " + err.Error())
	default:
		slog.Info("CONFIG REWRITE executed with success")
		c.W.OK()
	}
}

func cmdConfigHelp(c *Ctx) {
	replyHelp(c, []string{
		"GET <pattern>",
		"    Return parameters matching the glob-like <pattern> and their values.",
		"SET <directive> <value>",
		"    Set the configuration <directive> to <value>.",
		"RESETSTAT",
		"    Reset statistics reported by the INFO command.",
		"REWRITE",
		"    Rewrite the configuration file.",
	})
}

// cmdTime is TIME: Unix seconds and microseconds, as two bulk strings.
func cmdTime(c *Ctx) {
	now := time.Now()
	c.W.Array(2)
	c.W.BulkInt(now.Unix())
	c.W.BulkInt(int64(now.Nanosecond() / 1000))
}

// cmdShutdown is SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]. Like Redis,
// it takes a final checkpoint when SAVE is given or save points are
// configured (so the next start replays no AOF), and refuses to stop when
// that fails unless FORCE is given. The AOF is synced and closed as the
// server closes.
func cmdShutdown(c *Ctx) {
	var save, nosave, abort, force, other bool
	for i := 1; i < len(c.Args); i++ {
		switch {
		case c.ArgIs(i, "nosave"):
			nosave = true
		case c.ArgIs(i, "save"):
			save = true
		case c.ArgIs(i, "force"):
			force = true
		case c.ArgIs(i, "now"):
			other = true
		case c.ArgIs(i, "abort"):
			abort = true
		default:
			c.W.Error(ErrSyntax)
			return
		}
	}
	if (abort && (save || nosave || other || force)) || (save && nosave) {
		c.W.Error(ErrSyntax)
		return
	}
	if abort {
		c.W.Error("ERR No shutdown in progress.")
		return
	}
	p := c.Server.Persistence()
	if save && p == nil {
		slog.Warn("SHUTDOWN SAVE refused: persistence is off")
		c.W.Error("ERR Errors trying to SHUTDOWN. Check logs.")
		return
	}
	if p != nil && !nosave && (save || c.Server.Config().PersistenceSettings().Save != "") {
		if err := p.Save(); err != nil && !force {
			slog.Warn("SHUTDOWN refused: the final checkpoint failed", "err", err)
			c.W.Error("ERR Errors trying to SHUTDOWN. Check logs.")
			return
		}
	}
	c.Server.Shutdown()
	c.Session.CloseAfterReply = true
}
