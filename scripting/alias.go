package scripting

import (
	"slices"

	"github.com/structd/structd/commands"
)

// Script aliases, StructD's own: a name that stands for a loaded script
// wherever a SHA is accepted (EVALSHA, EVALSHA_RO, TXN.ESHA) and inside
// Lua as CALL.<alias> (alias_call.go). Aliases are data, like function
// libraries: they survive SCRIPT FLUSH, FLUSHALL and restarts, and so do
// the scripts they name (the catalog keeps them, "pinned", while an alias
// names them); the rest of the script cache stays volatile, as in Redis.
// Aliases are case-sensitive.

// maxAliasLen bounds the length of an alias.
const maxAliasLen = 64

const errAliasName = "ERR Invalid alias name: use 1 to 64 letters, digits or underscores, not starting with a digit and not a 40-character SHA1"

// validAlias reports whether name may be an alias: a Lua identifier of
// letters, digits and underscores (so that CALL.name reads as Lua), that
// cannot be mistaken for a SHA1.
func validAlias(name string) bool {
	if len(name) > maxAliasLen || !validName(name) || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	if len(name) == 40 {
		for i := 0; i < len(name); i++ {
			c := name[i] | 0x20
			if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
				return true
			}
		}
		return false
	}
	return true
}

// aliased returns the script alias names, named by the alias; nil if none.
func (cat *catalog) aliased(alias string) *Script {
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	return cat.aliases[alias]
}

// pinnedScript returns the script of that SHA an alias names, or nil.
func (cat *catalog) pinnedScript(sha string) *Script {
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	return cat.pinned[sha]
}

// setAlias points alias at s. Caller holds mu.
func (cat *catalog) setAlias(alias string, s *Script) {
	old := cat.aliases[alias]
	named := *s
	named.Name = alias
	cat.aliases[alias] = &named
	cat.pinned[s.SHA] = s
	if old != nil {
		cat.unpin(old.SHA)
	}
}

// removeAlias removes alias; false if there was none. Caller holds mu.
func (cat *catalog) removeAlias(alias string) bool {
	old := cat.aliases[alias]
	if old == nil {
		return false
	}
	delete(cat.aliases, alias)
	cat.unpin(old.SHA)
	return true
}

// unpin forgets the script of sha unless an alias still names it. Caller
// holds mu.
func (cat *catalog) unpin(sha string) {
	for _, s := range cat.aliases {
		if s.SHA == sha {
			return
		}
	}
	delete(cat.pinned, sha)
}

// aliasNames returns the aliases in order.
func (cat *catalog) aliasNames() []string {
	names := make([]string, 0, len(cat.aliases))
	for a := range cat.aliases {
		names = append(names, a)
	}
	slices.Sort(names)
	return names
}

// ScriptLoad implements commands.ScriptEngine: SCRIPT LOAD compiles and
// caches the script and replies its SHA; with an alias it also points the
// alias at it (alias).
func (e *Engine) ScriptLoad(c *commands.Ctx, body, alias []byte, mode commands.AliasMode) {
	s, err := e.Load(body)
	if err != nil {
		c.W.Error(err.Error())
		return
	}
	if alias == nil {
		c.W.BulkString(s.SHA)
		return
	}
	if e.alias(c, s, string(alias), mode, body) {
		c.W.BulkString(s.SHA)
	}
}

// ScriptAlias implements commands.ScriptEngine: SCRIPT ALIAS <sha1> <alias>
// [NX|REPLACE] points alias at a loaded script and replies OK.
func (e *Engine) ScriptAlias(c *commands.Ctx, sha, alias []byte, mode commands.AliasMode) {
	s := e.Lookup(sha)
	if s == nil {
		c.W.Error("NOSCRIPT No matching script. Please use EVAL.")
		return
	}
	if e.alias(c, s, string(alias), mode, []byte(s.Body)) {
		c.W.OK()
	}
}

// alias points alias at s by mode, or replies why not: an invalid name,
// an error for an existing alias without a flag, a null reply for NX. It
// reports whether the alias now names s; the caller then replies. body is
// s's body, logged as "SCRIPT LOAD <body> <alias> REPLACE", which rebuilds
// the alias and its script on replay (the script cache is not logged).
func (e *Engine) alias(c *commands.Ctx, s *Script, alias string, mode commands.AliasMode, body []byte) bool {
	if !validAlias(alias) {
		c.W.Error(errAliasName)
		return false
	}
	cat := &e.cat
	cat.mu.Lock()
	if cat.aliases[alias] != nil && mode != commands.AliasReplace {
		cat.mu.Unlock()
		if mode == commands.AliasNX {
			c.W.Null()
		} else {
			c.W.Error("ERR Alias '" + alias + "' already exists: use REPLACE to point it at another script, or NX to keep it")
		}
		return false
	}
	cat.setAlias(alias, s)
	cat.changed()
	cat.mu.Unlock()
	c.CatalogChanged([]byte("SCRIPT"), []byte("LOAD"), body, []byte(alias), []byte("REPLACE"))
	return true
}

// ScriptUnalias implements commands.ScriptEngine: SCRIPT UNALIAS removes
// the aliases given and replies how many there were.
func (e *Engine) ScriptUnalias(c *commands.Ctx, aliases [][]byte) {
	cat := &e.cat
	var removed [][]byte
	cat.mu.Lock()
	for _, a := range aliases {
		if cat.removeAlias(string(a)) {
			removed = append(removed, a)
		}
	}
	if len(removed) > 0 {
		cat.changed()
	}
	cat.mu.Unlock()
	if len(removed) > 0 {
		c.CatalogChanged(append([][]byte{[]byte("SCRIPT"), []byte("UNALIAS")}, removed...)...)
	}
	c.W.Int(int64(len(removed)))
}

// ScriptAliases implements commands.ScriptEngine: SCRIPT ALIASES replies
// each alias and the SHA it names, by alias (a map in RESP3, a flat array
// in RESP2).
func (e *Engine) ScriptAliases(c *commands.Ctx) {
	cat := &e.cat
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	names := cat.aliasNames()
	c.W.Map(len(names))
	for _, a := range names {
		c.W.BulkString(a)
		c.W.BulkString(cat.aliases[a].SHA)
	}
}
