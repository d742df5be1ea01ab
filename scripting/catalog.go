package scripting

import (
	"slices"
	"strings"
	"sync"
)

// catalog is the part of an engine that is data: the function libraries
// (and, in alias.go, the script aliases with the scripts they name). Unlike
// the script cache it survives SCRIPT FLUSH, FLUSHALL and restarts: the
// commands that change it log their deterministic form, and checkpoints
// store it whole (catalog_codec.go).
//
// mu guards the maps; the commands that change them run with the keyspace
// held exclusively, so a checkpoint, which captures the catalog with the
// keyspace held, sees it as of its point in time.
type catalog struct {
	mu    sync.RWMutex
	libs  map[string]*Library  // by name (case-sensitive, as Redis)
	funcs map[string]*Function // by lower-case name (FCALL ignores case)
	// aliases maps an alias to its script: a copy of the cached Script
	// named by the alias (error replies name it). pinned holds, by SHA,
	// the scripts aliases name: they stay reachable by SHA whatever
	// happens to the cache (SCRIPT FLUSH), as long as an alias names them.
	aliases map[string]*Script
	pinned  map[string]*Script
	// gen counts changes; saved is the gen the last committed checkpoint
	// stored. They differ while a change waits for a checkpoint.
	gen, saved uint64
}

func newCatalog() catalog {
	return catalog{libs: map[string]*Library{}, funcs: map[string]*Function{},
		aliases: map[string]*Script{}, pinned: map[string]*Script{}}
}

// function returns the function named name (any case), or nil.
func (cat *catalog) function(name []byte) *Function {
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	if f := cat.funcs[string(name)]; f != nil { // no copy for a lower-case name
		return f
	}
	return cat.funcs[strings.ToLower(string(name))]
}

// library returns the library named name, or nil.
func (cat *catalog) library(name string) *Library {
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	return cat.libs[name]
}

// libraries returns the libraries ordered by name.
func (cat *catalog) libraries() []*Library {
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	return sortedLibraries(cat.libs)
}

// sortedLibraries returns the libraries of m ordered by name.
func sortedLibraries(m map[string]*Library) []*Library {
	out := make([]*Library, 0, len(m))
	for _, l := range m {
		out = append(out, l)
	}
	slices.SortFunc(out, func(a, b *Library) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// link adds lib (whose functions collide with no other library's).
// Caller holds mu.
func (cat *catalog) link(lib *Library) {
	cat.libs[lib.Name] = lib
	for _, f := range lib.Functions {
		cat.funcs[strings.ToLower(f.Name)] = f
	}
}

// unlink removes lib. Caller holds mu.
func (cat *catalog) unlink(lib *Library) {
	delete(cat.libs, lib.Name)
	for _, f := range lib.Functions {
		delete(cat.funcs, strings.ToLower(f.Name))
	}
}

// changed counts a change. Caller holds mu.
func (cat *catalog) changed() { cat.gen++ }
