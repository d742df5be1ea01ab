package scripting

import (
	"testing"
)

// TestCatalogRoundTrip checks a catalog encodes to bytes that load back
// into the same libraries, aliases and pinned scripts, and that the change
// marks follow captures and commits (a capture not committed stays
// changed).
func TestCatalogRoundTrip(t *testing.T) {
	e := New()
	if _, _, changed := e.CaptureCatalog(); changed {
		t.Fatal("a new engine's catalog is changed")
	}
	e.mu.Lock()
	lib, _, err := e.createLibrary("#!lua name=lib\nredis.register_function{function_name='f', callback=function(k, a) return 7 end, flags={'no-writes'}, description='d'}", false, false)
	e.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := e.Load([]byte("return 1"))
	s2, _ := e.Load([]byte("return 2"))
	e.cat.mu.Lock()
	e.cat.link(lib)
	e.cat.setAlias("one", s1)
	e.cat.setAlias("uno", s1)
	e.cat.setAlias("two", s2)
	e.cat.changed()
	e.cat.mu.Unlock()

	data, gen, changed := e.CaptureCatalog()
	if !changed {
		t.Fatal("changed catalog not captured")
	}
	if again, _, _ := e.CaptureCatalog(); string(again) != string(data) {
		t.Fatal("the same catalog encoded differently")
	}
	// Not committed: still changed. Committed: unchanged.
	if _, _, changed := e.CaptureCatalog(); !changed {
		t.Fatal("an uncommitted capture cleared the change")
	}
	e.CatalogSaved(gen)
	if _, _, changed := e.CaptureCatalog(); changed {
		t.Fatal("a committed capture left the catalog changed")
	}

	f := New()
	if err := f.LoadCatalog(data); err != nil {
		t.Fatal(err)
	}
	if _, _, changed := f.CaptureCatalog(); changed {
		t.Fatal("a loaded catalog counts as changed")
	}
	fn := f.cat.function([]byte("F"))
	if fn == nil || fn.Description != "d" || fn.Flags != FlagShebang|FlagNoWrites {
		t.Fatalf("function after load: %+v", fn)
	}
	for alias, sha := range map[string]string{"one": s1.SHA, "uno": s1.SHA, "two": s2.SHA} {
		if s := f.Resolve([]byte(alias)); s == nil || s.SHA != sha || s.Name != alias {
			t.Errorf("alias %s after load: %+v", alias, s)
		}
	}
	if f.Lookup([]byte(s1.SHA)) == nil {
		t.Error("aliased script not reachable by SHA after load")
	}
	f.cat.mu.Lock()
	f.cat.removeAlias("one")
	stillPinned := f.cat.pinned[s1.SHA] != nil
	f.cat.removeAlias("uno")
	gone := f.cat.pinned[s1.SHA] == nil
	f.cat.mu.Unlock()
	if !stillPinned || !gone {
		t.Errorf("pinning: kept while an alias names it %v, dropped with the last %v", stillPinned, gone)
	}
	for _, bad := range [][]byte{nil, {2}, data[:len(data)-1], append(append([]byte{}, data...), 0)} {
		if err := New().LoadCatalog(bad); err == nil {
			t.Errorf("corrupt catalog %q loaded", bad)
		}
	}
}
