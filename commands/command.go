package commands

import (
	"slices"
	"strings"

	"github.com/structd/structd/internal/glob"
)

//go:generate go run gentables.go -addr 127.0.0.1:6379

// Doc is a command's COMMAND DOCS entry. Fields left empty are omitted
// from the reply; Group defaults to one derived from the ACL categories.
// A command without its own Doc gets Redis 7.0's (docs_table.go).
type Doc struct {
	Summary    string
	Since      string
	Group      string
	Complexity string
}

// KeySpec is one of Redis 7.0's key specifications, as COMMAND INFO
// reports it: where the search for keys begins (an argument index, or a
// keyword searched from StartFrom) and how keys are found from there (a
// range, or a count argument).
type KeySpec struct {
	Notes       string
	Flags       []string // "RO", "RW", "OW", "RM", "access", "update", ...
	BeginSearch string   // "index", "keyword" or "unknown"
	Index       int
	Keyword     string
	StartFrom   int
	FindKeys    string // "range", "keynum" or "unknown"
	LastKey     int
	KeyStep     int
	Limit       int
	KeyNumIdx   int
	FirstKey    int
}

// commandInfo is what COMMAND INFO reports beyond the table's own fields
// when a command does not declare it: Redis's tips and key specs.
type commandInfo struct {
	Tips     []string
	KeySpecs []KeySpec
}

func init() {
	cats := []string{"slow", "connection"}
	ls := Loading | Stale
	register(&Command{
		Name: "command", Arity: -1, Flags: ls, Categories: cats,
		Tips: []string{"nondeterministic_output_order"}, Handler: cmdCommand,
		Subcommands: map[string]*Command{
			"count":   {Arity: 2, Flags: ls, Categories: cats, Handler: cmdCommandCount},
			"info":    {Arity: -2, Flags: ls, Categories: cats, Tips: []string{"nondeterministic_output_order"}, Handler: cmdCommandInfo},
			"docs":    {Arity: -2, Flags: ls, Categories: cats, Tips: []string{"nondeterministic_output_order"}, Handler: cmdCommandDocs},
			"list":    {Arity: -2, Flags: ls, Categories: cats, Tips: []string{"nondeterministic_output_order"}, Handler: cmdCommandList},
			"getkeys": {Arity: -4, Flags: ls, Categories: cats, Handler: cmdCommandGetKeys},
			"help":    {Arity: 2, Flags: ls, Categories: cats, Handler: cmdCommandHelp},
		},
	})
}

// aclCategoryOrder is the order Redis lists ACL categories in.
var aclCategoryOrder = []string{
	"keyspace", "read", "write", "set", "sortedset", "list", "hash", "string", "bitmap",
	"hyperloglog", "geo", "stream", "pubsub", "admin", "fast", "slow", "blocking",
	"dangerous", "connection", "transaction", "scripting",
}

// AllCategories returns the command's ACL categories as Redis computes them:
// the declared ones plus those its flags imply (write, read, admin and
// dangerous, pubsub, fast or slow, blocking), in Redis's order.
func (cmd *Command) AllCategories() []string {
	has := map[string]bool{}
	for _, c := range cmd.Categories {
		has[c] = true
	}
	f := cmd.Flags
	has["write"] = has["write"] || f&Write != 0
	has["read"] = has["read"] || f&ReadOnly != 0
	has["admin"] = has["admin"] || f&Admin != 0
	has["dangerous"] = has["dangerous"] || f&Admin != 0
	has["pubsub"] = has["pubsub"] || f&PubSub != 0
	has["fast"] = has["fast"] || f&Fast != 0
	has["blocking"] = has["blocking"] || f&Blocking != 0
	has["slow"] = has["slow"] || !has["fast"]
	var out []string
	for _, c := range aclCategoryOrder {
		if has[c] {
			out = append(out, c)
		}
	}
	return out
}

// flagNamesFor is the command's COMMAND INFO flags: its own, plus
// movablekeys when a function finds its keys.
func flagNamesFor(cmd *Command) []string {
	f := cmd.Flags
	if cmd.Keys != nil {
		f |= MovableKeys
	}
	return f.Names()
}

// hasKeys reports whether the command takes key arguments at all.
func (cmd *Command) hasKeys() bool { return cmd.Keys != nil || cmd.FirstKey > 0 }

// lookupFull finds a command or "parent|sub" by its full name.
func lookupFull(t Table, name string) *Command {
	name = strings.ToLower(name)
	parent, sub, isSub := strings.Cut(name, "|")
	cmd := t[parent]
	if cmd == nil || !isSub {
		return cmd
	}
	return cmd.Subcommands[sub]
}

// sortedSubcommands returns cmd's subcommands ordered by name.
func sortedSubcommands(cmd *Command) []*Command {
	out := make([]*Command, 0, len(cmd.Subcommands))
	for _, s := range cmd.Subcommands {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Command) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// writeCommandInfo writes Redis 7.0's ten-field COMMAND INFO entry.
func writeCommandInfo(c *Ctx, cmd *Command) {
	w := c.W
	w.Array(10)
	w.BulkString(cmd.Name)
	w.Int(int64(cmd.Arity))
	flags := flagNamesFor(cmd)
	w.Set(len(flags))
	for _, f := range flags {
		w.Simple(f)
	}
	w.Int(int64(cmd.FirstKey))
	w.Int(int64(cmd.LastKey))
	w.Int(int64(cmd.KeyStep))
	cats := cmd.AllCategories()
	w.Set(len(cats))
	for _, cat := range cats {
		w.Simple("@" + cat)
	}
	ri, known := redisCommandInfo[cmd.Name]
	tips := cmd.Tips
	if tips == nil {
		tips = ri.Tips
	}
	w.Set(len(tips))
	for _, t := range tips {
		w.BulkString(t)
	}
	if known || !cmd.hasKeys() {
		writeKeySpecs(c, ri.KeySpecs)
	} else {
		writeKeySpecs(c, derivedKeySpecs(cmd))
	}
	if len(cmd.Subcommands) == 0 {
		w.Set(0)
		return
	}
	w.Array(len(cmd.Subcommands))
	for _, sub := range sortedSubcommands(cmd) {
		writeCommandInfo(c, sub)
	}
}

// derivedKeySpecs are the key specs of a command Redis does not have,
// derived from the legacy key range: one "index"/"range" spec for fixed
// positions, an "unknown" one for keys a function finds; flags say only
// RO or RW.
func derivedKeySpecs(cmd *Command) []KeySpec {
	ks := KeySpec{BeginSearch: "unknown", FindKeys: "unknown"}
	switch {
	case cmd.Flags&Write != 0:
		ks.Flags = []string{"RW"}
	case cmd.Flags&ReadOnly != 0:
		ks.Flags = []string{"RO"}
	}
	if cmd.Keys == nil && cmd.FirstKey > 0 {
		ks.BeginSearch, ks.Index = "index", cmd.FirstKey
		ks.FindKeys, ks.LastKey, ks.KeyStep = "range", cmd.LastKey, cmd.KeyStep
		if ks.LastKey >= 0 {
			ks.LastKey -= cmd.FirstKey
		}
	}
	return []KeySpec{ks}
}

// writeKeySpecs writes key specs as Redis 7.0's COMMAND INFO does: a set
// of maps (notes, flags, begin_search, find_keys).
func writeKeySpecs(c *Ctx, specs []KeySpec) {
	w := c.W
	w.Set(len(specs))
	for _, ks := range specs {
		if ks.Notes != "" {
			w.Map(4)
			w.BulkString("notes")
			w.BulkString(ks.Notes)
		} else {
			w.Map(3)
		}
		w.BulkString("flags")
		w.Set(len(ks.Flags))
		for _, f := range ks.Flags {
			w.Simple(f)
		}
		w.BulkString("begin_search")
		w.Map(2)
		w.BulkString("type")
		w.BulkString(ks.BeginSearch)
		w.BulkString("spec")
		switch ks.BeginSearch {
		case "index":
			w.Map(1)
			w.BulkString("index")
			w.Int(int64(ks.Index))
		case "keyword":
			w.Map(2)
			w.BulkString("keyword")
			w.BulkString(ks.Keyword)
			w.BulkString("startfrom")
			w.Int(int64(ks.StartFrom))
		default:
			w.Map(0)
		}
		w.BulkString("find_keys")
		w.Map(2)
		w.BulkString("type")
		w.BulkString(ks.FindKeys)
		w.BulkString("spec")
		switch ks.FindKeys {
		case "range":
			w.Map(3)
			w.BulkString("lastkey")
			w.Int(int64(ks.LastKey))
			w.BulkString("keystep")
			w.Int(int64(ks.KeyStep))
			w.BulkString("limit")
			w.Int(int64(ks.Limit))
		case "keynum":
			w.Map(3)
			w.BulkString("keynumidx")
			w.Int(int64(ks.KeyNumIdx))
			w.BulkString("firstkey")
			w.Int(int64(ks.FirstKey))
			w.BulkString("keystep")
			w.Int(int64(ks.KeyStep))
		default:
			w.Map(0)
		}
	}
}

// cmdCommand is COMMAND: the info of every command.
func cmdCommand(c *Ctx) {
	cmds := c.Server.Table().Sorted()
	c.W.Array(len(cmds))
	for _, cmd := range cmds {
		writeCommandInfo(c, cmd)
	}
}

func cmdCommandCount(c *Ctx) { c.W.Int(int64(len(c.Server.Table()))) }

// cmdCommandInfo is COMMAND INFO [name ...]; unknown names give nulls.
func cmdCommandInfo(c *Ctx) {
	if len(c.Args) == 2 {
		cmdCommand(c)
		return
	}
	c.W.Array(len(c.Args) - 2)
	for i := 2; i < len(c.Args); i++ {
		if cmd := lookupFull(c.Server.Table(), c.Arg(i)); cmd != nil {
			writeCommandInfo(c, cmd)
		} else {
			c.W.Null()
		}
	}
}

// groupOf derives COMMAND DOCS's group from the ACL categories.
func groupOf(cmd *Command) string {
	groups := map[string]string{
		"string": "string", "list": "list", "set": "set", "sortedset": "sorted-set",
		"hash": "hash", "bitmap": "bitmap", "hyperloglog": "hyperloglog", "geo": "geo",
		"stream": "stream", "pubsub": "pubsub", "scripting": "scripting",
		"transaction": "transactions", "connection": "connection", "keyspace": "generic",
	}
	for _, cat := range cmd.AllCategories() {
		if g, ok := groups[cat]; ok {
			return g
		}
	}
	return "server"
}

// writeCommandDocs writes one command's COMMAND DOCS map.
func writeCommandDocs(c *Ctx, cmd *Command) {
	d := redisDocs[cmd.Name]
	if cmd.Doc != nil {
		d = *cmd.Doc
	}
	if d.Group == "" {
		d.Group = groupOf(cmd)
	}
	fields := [][2]string{{"summary", d.Summary}, {"since", d.Since}, {"group", d.Group}, {"complexity", d.Complexity}}
	n := 0
	for _, f := range fields {
		if f[1] != "" {
			n++
		}
	}
	if len(cmd.Subcommands) > 0 {
		n++
	}
	c.W.Map(n)
	for _, f := range fields {
		if f[1] != "" {
			c.W.BulkString(f[0])
			c.W.BulkString(f[1])
		}
	}
	if len(cmd.Subcommands) > 0 {
		c.W.BulkString("subcommands")
		c.W.Map(len(cmd.Subcommands))
		for _, sub := range sortedSubcommands(cmd) {
			c.W.BulkString(sub.Name)
			writeCommandDocs(c, sub)
		}
	}
}

// cmdCommandDocs is COMMAND DOCS [name ...]: a map from name to docs;
// unknown names are left out.
func cmdCommandDocs(c *Ctx) {
	var cmds []*Command
	if len(c.Args) == 2 {
		cmds = c.Server.Table().Sorted()
	} else {
		for i := 2; i < len(c.Args); i++ {
			if cmd := lookupFull(c.Server.Table(), c.Arg(i)); cmd != nil {
				cmds = append(cmds, cmd)
			}
		}
	}
	c.W.Map(len(cmds))
	for _, cmd := range cmds {
		c.W.BulkString(cmd.Name)
		writeCommandDocs(c, cmd)
	}
}

// cmdCommandList is COMMAND LIST [FILTERBY MODULE m | ACLCAT cat |
// PATTERN p]: the names of every command and subcommand.
func cmdCommandList(c *Ctx) {
	keep := func(*Command) bool { return true }
	switch {
	case len(c.Args) == 2:
	case len(c.Args) == 5 && c.ArgIs(2, "filterby"):
		v := c.Arg(4)
		switch {
		case c.ArgIs(3, "module"):
			keep = func(*Command) bool { return false } // no modules
		case c.ArgIs(3, "aclcat"):
			keep = func(cmd *Command) bool { return slices.Contains(cmd.AllCategories(), strings.ToLower(v)) }
		case c.ArgIs(3, "pattern"):
			keep = func(cmd *Command) bool { return glob.MatchFold([]byte(v), []byte(cmd.Name)) }
		default:
			c.W.Error(ErrSyntax)
			return
		}
	default:
		c.W.Error(ErrSyntax)
		return
	}
	var names []string
	for _, cmd := range c.Server.Table().Sorted() {
		if keep(cmd) {
			names = append(names, cmd.Name)
		}
		for _, sub := range sortedSubcommands(cmd) {
			if keep(sub) {
				names = append(names, sub.Name)
			}
		}
	}
	c.W.Array(len(names))
	for _, n := range names {
		c.W.BulkString(n)
	}
}

// cmdCommandGetKeys is COMMAND GETKEYS command [arg ...]: the keys the
// command would touch, by the table's key positions.
func cmdCommandGetKeys(c *Ctx) {
	args := c.Args[2:]
	cmd := c.Server.Table().Lookup(args[0])
	if cmd != nil && cmd.Subcommands != nil && len(args) >= 2 {
		cmd = cmd.Subcommands[strings.ToLower(string(args[1]))]
	}
	switch {
	case cmd == nil:
		c.W.Error("ERR Invalid command specified")
		return
	case !cmd.hasKeys():
		c.W.Error("ERR The command has no key arguments")
		return
	case !cmd.ArityOK(len(args)):
		c.W.Error("ERR Invalid number of arguments specified for command")
		return
	}
	pos := cmd.KeyPositions(args)
	if len(pos) == 0 && cmd.Flags&NoMandatoryKeys == 0 {
		c.W.Error("ERR Invalid arguments specified for command")
		return
	}
	c.W.Array(len(pos))
	for _, p := range pos {
		c.W.Bulk(args[p])
	}
}

func cmdCommandHelp(c *Ctx) {
	replyHelp(c, []string{
		"(no subcommand)",
		"    Return details about all Redis commands.",
		"COUNT",
		"    Return the total number of commands in this Redis server.",
		"LIST",
		"    Return a list of all commands in this Redis server.",
		"INFO [<command-name> ...]",
		"    Return details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"DOCS [<command-name> ...]",
		"    Return documentation details about multiple Redis commands.",
		"    If no command names are given, documentation details for all",
		"    commands are returned.",
		"GETKEYS <full-command>",
		"    Return the keys from a full Redis command.",
	})
}
