package commands

import "strings"

// Redis 7.0's functions: FCALL, FCALL_RO and the FUNCTION subcommands,
// with Redis's arity, flags and option parsing; the libraries live in the
// server's script engine (package scripting).
//
// FCALL runs like EVAL: KeyspaceWide, so a function is atomic and may touch
// any key. The commands that change the libraries (LOAD, DELETE, FLUSH,
// RESTORE) are KeyspaceWide too: the libraries are data that checkpoints
// capture at their point in time, with the keyspace held, and the changes
// must reach the log in the order they were made.

// FunctionEngine is the functions half of ScriptEngine. The methods that
// change the libraries log their deterministic form (CatalogChanged).
type FunctionEngine interface {
	// FCall runs FCALL or FCALL_RO (c.Args as sent).
	FCall(c *Ctx, readOnly bool)
	FunctionLoad(c *Ctx, code []byte, replace bool)
	// FunctionList lists the libraries whose names match pattern (every
	// library when pattern is nil), with their code if withCode.
	FunctionList(c *Ctx, pattern []byte, withCode bool)
	FunctionDelete(c *Ctx, library []byte)
	FunctionFlush(c *Ctx)
	FunctionDump(c *Ctx)
	FunctionRestore(c *Ctx, payload []byte, policy RestorePolicy)
	FunctionStats(c *Ctx)
}

// RestorePolicy is FUNCTION RESTORE's policy for libraries that exist.
type RestorePolicy uint8

// The restore policies.
const (
	RestoreAppend  RestorePolicy = iota // refuse a library that exists (the default)
	RestoreReplace                      // replace it
	RestoreFlush                        // delete every library first
)

// CatalogChanged records that the command changed the script catalog (the
// function libraries or the script aliases): args, run in the current
// database, are its deterministic effect for the log and replicas, and it
// counts as a change for the save schedule.
func (c *Ctx) CatalogChanged(args ...[]byte) {
	c.KS.Stats.Dirty.Add(1)
	c.Propagate(args...)
}

func init() {
	cats := []string{"slow", "scripting"}
	fcallFlags := NoScript | Stale | SkipMonitor | NoMandatoryKeys | MovableKeys | KeyspaceWide | MayWait
	fcall := func(name string, ro bool) *Command {
		f := fcallFlags
		if ro {
			f |= ReadOnly
		}
		return &Command{Name: name, Arity: -3, Flags: f, Keys: numKeysAt2, Categories: cats,
			Handler: func(c *Ctx) {
				if e := scriptEngine(c); e != nil {
					e.FCall(c, ro)
				}
			}}
	}
	change := Write | NoScript | KeyspaceWide | CatalogWrite
	register(fcall("fcall", false), fcall("fcall_ro", true),
		&Command{Name: "function", Arity: -2, Categories: cats, Subcommands: map[string]*Command{
			"load":    {Arity: -3, Flags: change | DenyOOM, Categories: cats, Handler: cmdFunctionLoad},
			"list":    {Arity: -2, Flags: NoScript, Categories: cats, Handler: cmdFunctionList},
			"delete":  {Arity: 3, Flags: change, Categories: cats, Handler: cmdFunctionDelete},
			"flush":   {Arity: -2, Flags: change, Categories: cats, Handler: cmdFunctionFlush},
			"dump":    {Arity: 2, Flags: NoScript, Categories: cats, Handler: cmdFunctionDump},
			"restore": {Arity: -3, Flags: change | DenyOOM, Categories: cats, Handler: cmdFunctionRestore},
			"stats":   {Arity: 2, Flags: NoScript | AllowBusy | Unlocked, Categories: cats, Handler: cmdFunctionStats},
			"kill":    {Arity: 2, Flags: NoScript | AllowBusy | Unlocked, Categories: cats, Handler: cmdFunctionKill},
			"help":    {Arity: 2, Flags: Loading | Stale, Categories: cats, Handler: cmdFunctionHelp},
		}},
	)
}

// subcommandSyntaxError is Redis's addReplySubcommandSyntaxError.
func subcommandSyntaxError(c *Ctx) {
	c.W.Error("ERR unknown subcommand or wrong number of arguments for '" + c.Arg(1) + "'. Try " +
		strings.ToUpper(c.Arg(0)) + " HELP.")
}

// cmdFunctionLoad is FUNCTION LOAD [REPLACE] <code>.
func cmdFunctionLoad(c *Ctx) {
	replace := false
	last := len(c.Args) - 1
	for i := 2; i < last; i++ {
		if !c.ArgIs(i, "replace") {
			c.W.Error("ERR Unknown option given: " + c.Arg(i))
			return
		}
		replace = true
	}
	if e := scriptEngine(c); e != nil {
		e.FunctionLoad(c, c.Args[last], replace)
	}
}

// cmdFunctionList is FUNCTION LIST [LIBRARYNAME <pattern>] [WITHCODE].
func cmdFunctionList(c *Ctx) {
	var pattern []byte
	withCode := false
	for i := 2; i < len(c.Args); i++ {
		switch {
		case !withCode && c.ArgIs(i, "withcode"):
			withCode = true
		case pattern == nil && c.ArgIs(i, "libraryname"):
			if i == len(c.Args)-1 {
				c.W.Error("ERR library name argument was not given")
				return
			}
			i++
			pattern = c.Args[i]
		default:
			c.W.Error("ERR Unknown argument " + c.Arg(i))
			return
		}
	}
	if e := scriptEngine(c); e != nil {
		e.FunctionList(c, pattern, withCode)
	}
}

func cmdFunctionDelete(c *Ctx) {
	if e := scriptEngine(c); e != nil {
		e.FunctionDelete(c, c.Args[2])
	}
}

// cmdFunctionFlush is FUNCTION FLUSH [ASYNC|SYNC]: both flush at once.
func cmdFunctionFlush(c *Ctx) {
	switch {
	case len(c.Args) > 3:
		subcommandSyntaxError(c)
		return
	case len(c.Args) == 3 && !c.ArgIs(2, "sync") && !c.ArgIs(2, "async"):
		c.W.Error("ERR FUNCTION FLUSH only supports SYNC|ASYNC option")
		return
	}
	if e := scriptEngine(c); e != nil {
		e.FunctionFlush(c)
	}
}

func cmdFunctionDump(c *Ctx) {
	if e := scriptEngine(c); e != nil {
		e.FunctionDump(c)
	}
}

// cmdFunctionRestore is FUNCTION RESTORE <payload> [FLUSH|APPEND|REPLACE].
func cmdFunctionRestore(c *Ctx) {
	if len(c.Args) > 4 {
		subcommandSyntaxError(c)
		return
	}
	policy := RestoreAppend
	if len(c.Args) == 4 {
		switch {
		case c.ArgIs(3, "append"):
		case c.ArgIs(3, "replace"):
			policy = RestoreReplace
		case c.ArgIs(3, "flush"):
			policy = RestoreFlush
		default:
			c.W.Error("ERR Wrong restore policy given, value should be either FLUSH, APPEND or REPLACE.")
			return
		}
	}
	if e := scriptEngine(c); e != nil {
		e.FunctionRestore(c, c.Args[2], policy)
	}
}

func cmdFunctionStats(c *Ctx) {
	if e := scriptEngine(c); e != nil {
		e.FunctionStats(c)
	}
}

// cmdFunctionKill is FUNCTION KILL, as SCRIPT KILL (replyKill).
func cmdFunctionKill(c *Ctx) {
	replyKill(c, true)
}

func cmdFunctionHelp(c *Ctx) {
	replyHelp(c, []string{
		"LOAD [REPLACE] <FUNCTION CODE>",
		"    Create a new library with the given library name and code.",
		"DELETE <LIBRARY NAME>",
		"    Delete the given library.",
		"LIST [LIBRARYNAME PATTERN] [WITHCODE]",
		"    Return general information on all the libraries:",
		"    * Library name",
		"    * The engine used to run the Library",
		"    * Library description",
		"    * Functions list",
		"    * Library code (if WITHCODE is given)",
		"    It also possible to get only function that matches a pattern using LIBRARYNAME argument.",
		"STATS",
		"    Return information about the current function running:",
		"    * Function name",
		"    * Command used to run the function",
		"    * Duration in MS that the function is running",
		"    If no function is running, return nil",
		"    In addition, returns a list of available engines.",
		"KILL",
		"    Kill the current running function.",
		"FLUSH [ASYNC|SYNC]",
		"    Delete all the libraries.",
		"    When called without the optional mode argument, the behavior is determined by the",
		"    lazyfree-lazy-user-flush configuration directive. Valid modes are:",
		"    * ASYNC: Asynchronously flush the libraries.",
		"    * SYNC: Synchronously flush the libraries.",
		"DUMP",
		"    Return a serialized payload representing the current libraries, can be restored using FUNCTION RESTORE command",
		"RESTORE <PAYLOAD> [FLUSH|APPEND|REPLACE]",
		"    Restore the libraries represented by the given payload, it is possible to give a restore policy to",
		"    control how to handle existing libraries (default APPEND):",
		"    * FLUSH: delete all existing libraries.",
		"    * APPEND: appends the restored libraries to the existing libraries. On collision, abort.",
		"    * REPLACE: appends the restored libraries to the existing libraries, On collision, replace the old",
		"      libraries with the new libraries (notice that even on this option there is a chance of failure",
		"      in case of functions name collision with another library).",
	})
}
