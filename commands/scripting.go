package commands

import "github.com/structd/structd/internal/resp"

// Lua scripting's command entries (EVAL, EVALSHA, EVAL_RO, EVALSHA_RO and
// SCRIPT), with Redis 7.0's arity, flags and key positions. The engine
// lives in package scripting, which imports this one: it registers a
// factory (SetScriptEngineFactory), each server makes its own engine with
// it (NewScriptEngine) and hands it out as Server.ScriptEngine, so two
// servers in one process share no script cache, alias or library. Without
// an engine the commands answer an error.
//
// EVAL and its forms are KeyspaceWide: a script runs with the whole
// keyspace locked exclusively, so it is atomic with respect to every other
// client and may touch keys it did not declare, as Redis allows. Each
// redis.call runs through ScriptExec, which runs the command as EXEC runs
// a queued one (InExec: no locks taken) and gathers its effects into the
// EVAL's Ctx, so a script's writes reach the log as one unit (wrapped in
// MULTI/EXEC when there are several), as Redis 7 replicates a script's
// effects.

// ScriptEngine runs scripts for the command handlers.
type ScriptEngine interface {
	// Eval runs EVAL, EVALSHA, EVAL_RO or EVALSHA_RO (c.Args as sent):
	// byHash for the SHA forms (which take an alias too), readOnly for the
	// _RO forms.
	Eval(c *Ctx, byHash, readOnly bool)
	// ScriptLoad, ScriptExists and ScriptFlush are SCRIPT LOAD, EXISTS and
	// FLUSH (arity checked, options parsed). ScriptLoad also points alias
	// at the script unless alias is nil.
	ScriptLoad(c *Ctx, body, alias []byte, mode AliasMode)
	ScriptExists(c *Ctx, shas [][]byte)
	ScriptFlush(c *Ctx)
	// ScriptAlias, ScriptUnalias and ScriptAliases are StructD's SCRIPT
	// ALIAS, UNALIAS and ALIASES.
	ScriptAlias(c *Ctx, sha, alias []byte, mode AliasMode)
	ScriptUnalias(c *Ctx, aliases [][]byte)
	ScriptAliases(c *Ctx)

	FunctionEngine
	ScriptCatalog
}

// ScriptCatalog is the part of an engine that is data, the catalog
// (function libraries, script aliases and the scripts they name), as the
// server persists it: checkpoints capture it at their point in time when it
// changed (snapshot.Catalog), and startup loads it before the log replays.
type ScriptCatalog interface {
	CaptureCatalog() (data []byte, gen uint64, changed bool)
	CatalogSaved(gen uint64)
	LoadCatalog(data []byte) error
}

// AliasMode is how SCRIPT LOAD and SCRIPT ALIAS treat an alias that
// exists.
type AliasMode uint8

// The alias modes.
const (
	AliasNew     AliasMode = iota // no flag: an existing alias is an error
	AliasNX                       // NX: an existing alias is left as it is
	AliasReplace                  // REPLACE: an existing alias is pointed anew
)

var newScriptEngine func() ScriptEngine

// SetScriptEngineFactory installs how a server makes its script engine
// (package scripting's init).
func SetScriptEngineFactory(f func() ScriptEngine) { newScriptEngine = f }

// NewScriptEngine returns a new, empty script engine for one server; nil
// when no engine is linked in.
func NewScriptEngine() ScriptEngine {
	if newScriptEngine == nil {
		return nil
	}
	return newScriptEngine()
}

// scriptEngine returns the engine of c's server, or replies an error and
// returns nil when there is none.
func scriptEngine(c *Ctx) ScriptEngine {
	if c.Server != nil {
		if e := c.Server.ScriptEngine(); e != nil {
			return e
		}
	}
	c.W.Error("ERR scripting is not available")
	return nil
}

func init() {
	cats := []string{"slow", "scripting"}
	evalFlags := NoScript | Stale | SkipMonitor | NoMandatoryKeys | MovableKeys | KeyspaceWide | MayWait
	eval := func(name string, ro bool, byHash bool) *Command {
		f := evalFlags
		if ro {
			f = evalFlags | ReadOnly
		}
		return &Command{Name: name, Arity: -3, Flags: f, Keys: numKeysAt2, Categories: cats,
			Handler: func(c *Ctx) {
				if e := scriptEngine(c); e != nil {
					e.Eval(c, byHash, ro)
				}
			}}
	}
	register(
		eval("eval", false, false), eval("evalsha", false, true),
		eval("eval_ro", true, false), eval("evalsha_ro", true, true),
		&Command{Name: "script", Arity: -2, Categories: cats, Subcommands: map[string]*Command{
			// With an alias, SCRIPT LOAD changes the catalog: keyspace-wide,
			// as the commands below (see functions.go).
			"load": {Arity: -3, Flags: NoScript | Stale, Categories: cats, Handler: cmdScriptLoad,
				Wide: func(args [][]byte) bool { return len(args) > 3 }},
			"alias":   {Arity: -4, Flags: Write | NoScript | KeyspaceWide | CatalogWrite, Categories: cats, Handler: cmdScriptAlias},
			"unalias": {Arity: -3, Flags: Write | NoScript | KeyspaceWide | CatalogWrite, Categories: cats, Handler: cmdScriptUnalias},
			"aliases": {Arity: 2, Flags: NoScript, Categories: cats, Handler: cmdScriptAliases},
			"exists": {Arity: -3, Flags: NoScript, Categories: cats,
				Tips: []string{"request_policy:all_shards", "response_policy:agg_logical_and"}, Handler: cmdScriptExists},
			"flush": {Arity: -2, Flags: NoScript, Categories: cats,
				Tips: []string{"request_policy:all_nodes", "response_policy:all_succeeded"}, Handler: cmdScriptFlush},
			"kill": {Arity: 2, Flags: NoScript | AllowBusy | Unlocked, Categories: cats,
				Tips: []string{"request_policy:all_shards", "response_policy:one_succeeded"}, Handler: cmdScriptKill},
			"debug": {Arity: 3, Flags: NoScript, Categories: cats, Handler: cmdScriptDebug},
			"help":  {Arity: 2, Flags: Loading | Stale, Categories: cats, Handler: cmdScriptHelp},
		}},
	)
}

// numKeysAt2 are the keys of EVAL and FCALL: numkeys at 2, then the keys.
func numKeysAt2(args [][]byte) []int { return appendNumKeys(nil, args, 2) }

// cmdScriptLoad is SCRIPT LOAD <script> [<alias> [NX|REPLACE]].
func cmdScriptLoad(c *Ctx) {
	var alias []byte
	mode, ok := AliasNew, true
	switch len(c.Args) {
	case 3:
	case 4, 5:
		alias = c.Args[3]
		mode, ok = aliasMode(c, 4)
	default:
		ok = false
	}
	if !ok {
		c.W.Error(ErrSyntax)
		return
	}
	if e := scriptEngine(c); e != nil {
		e.ScriptLoad(c, c.Args[2], alias, mode)
	}
}

// aliasMode reads the optional NX or REPLACE at c.Args[i].
func aliasMode(c *Ctx, i int) (AliasMode, bool) {
	switch {
	case i == len(c.Args):
		return AliasNew, true
	case i < len(c.Args)-1:
		return 0, false
	case c.ArgIs(i, "nx"):
		return AliasNX, true
	case c.ArgIs(i, "replace"):
		return AliasReplace, true
	}
	return 0, false
}

// cmdScriptAlias is SCRIPT ALIAS <sha1> <alias> [NX|REPLACE].
func cmdScriptAlias(c *Ctx) {
	mode, ok := aliasMode(c, 4)
	if !ok {
		c.W.Error(ErrSyntax)
		return
	}
	if e := scriptEngine(c); e != nil {
		e.ScriptAlias(c, c.Args[2], c.Args[3], mode)
	}
}

// cmdScriptUnalias is SCRIPT UNALIAS <alias> [<alias> ...].
func cmdScriptUnalias(c *Ctx) {
	if e := scriptEngine(c); e != nil {
		e.ScriptUnalias(c, c.Args[2:])
	}
}

// cmdScriptAliases is SCRIPT ALIASES.
func cmdScriptAliases(c *Ctx) {
	if e := scriptEngine(c); e != nil {
		e.ScriptAliases(c)
	}
}

func cmdScriptExists(c *Ctx) {
	if e := scriptEngine(c); e != nil {
		e.ScriptExists(c, c.Args[2:])
	}
}

// cmdScriptFlush is SCRIPT FLUSH [ASYNC|SYNC]: both empty the cache at
// once (it holds compiled scripts only; nothing is worth deferring).
func cmdScriptFlush(c *Ctx) {
	if len(c.Args) > 3 || len(c.Args) == 3 && !c.ArgIs(2, "sync") && !c.ArgIs(2, "async") {
		c.W.Error("ERR SCRIPT FLUSH only support SYNC|ASYNC option")
		return
	}
	if e := scriptEngine(c); e != nil {
		e.ScriptFlush(c)
	}
}

// cmdScriptKill is SCRIPT KILL. It takes no lock (a running script holds
// the keyspace): the engine waits until the running script turns busy or
// ends, then stops it if it has not written (scripting/busy.go).
func cmdScriptKill(c *Ctx) {
	replyKill(c, false)
}

// replyKill answers SCRIPT KILL (function false) and FUNCTION KILL.
func replyKill(c *Ctx, function bool) {
	e := scriptEngine(c)
	if e == nil {
		return
	}
	k, ok := e.(interface{ Kill(function bool) string })
	if !ok || c.InExec {
		// Inside EXEC the run at the script gate is the transaction
		// itself: no script runs, and waiting for the run to end or turn
		// busy would wait for ever (Redis answers NOTBUSY too).
		c.W.Error("NOTBUSY No scripts in execution right now.")
		return
	}
	if msg := k.Kill(function); msg != "" {
		c.W.Error(msg)
		return
	}
	c.W.OK()
}

// cmdScriptDebug validates its mode as Redis does; the Lua debugger
// itself is not implemented.
func cmdScriptDebug(c *Ctx) {
	switch {
	case c.ArgIs(2, "no"):
		c.W.OK()
	case c.ArgIs(2, "yes"), c.ArgIs(2, "sync"):
		c.W.Error("ERR SCRIPT DEBUG is not supported by this server")
	default:
		c.W.Error("ERR Use SCRIPT DEBUG YES/SYNC/NO")
	}
}

func cmdScriptHelp(c *Ctx) {
	replyHelp(c, []string{
		"DEBUG (YES|SYNC|NO)",
		"    Set the debug mode for subsequent scripts executed.",
		"EXISTS <sha1> [<sha1> ...]",
		"    Return information about the existence of the scripts in the script cache.",
		"FLUSH [ASYNC|SYNC]",
		"    Flush the Lua scripts cache. Very dangerous on replicas.",
		"    When called without the optional mode argument, the behavior is determined by the",
		"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
		"    * ASYNC: Asynchronously flush the scripts cache.",
		"    * SYNC: Synchronously flush the scripts cache.",
		"KILL",
		"    Kill the currently executing Lua script.",
		"LOAD <script>",
		"    Load a script into the scripts cache without executing it.",
	})
}

// ScriptExec runs cmd (looked up and checked by the engine) with args on
// behalf of a script running in outer: nested is a Ctx the engine reuses
// across calls, w receives the reply. The command takes no locks (the
// script's EVAL holds the keyspace exclusively), runs in the session's
// current database, and its effects join outer's, to be logged with the
// EVAL's (as one unit). args must stay unchanged until the EVAL returns.
func ScriptExec(outer, nested *Ctx, cmd *Command, args [][]byte, w *resp.Writer) {
	nested.Args, nested.W, nested.Cmd = args, w, cmd
	nested.Session, nested.Server, nested.KS, nested.Conn = outer.Session, outer.Server, outer.KS, outer.Conn
	nested.InExec = true
	nested.Blocked = nil
	if cmd.Flags&Write != 0 && !outer.Session.Master {
		if ro, ok := outer.Server.(ReadOnlyReplica); ok && ro.ReadOnlyReplica() {
			w.Error(ErrReadOnlyReplica)
			nested.Args, nested.W = nil, nil
			return
		}
	}
	// The command gathers its effects apart (a disk error drops them, and
	// must not drop the script's earlier ones), then they join outer's.
	nested.effects = nested.effects[:0]
	Exec(nested, cmd)
	outer.effects = append(outer.effects, nested.effects...)
	clear(nested.effects)
	nested.effects = nested.effects[:0]
	// Work for after the keyspace is released waits for the EVAL's end.
	outer.unlocked = append(outer.unlocked, nested.unlocked...)
	clear(nested.unlocked)
	nested.unlocked = nested.unlocked[:0]
	nested.Args, nested.W = nil, nil
}
