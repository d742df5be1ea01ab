package scripting

import (
	"encoding/binary"
	"fmt"
)

// The catalog's encoding, which checkpoints store whole (disktier's script
// catalog record, FORMAT.md):
//
//	byte version (1)
//	uvarint n, then n library codes        (uvarint length · bytes each)
//	uvarint m, then m script bodies        (the scripts aliases name)
//	uvarint k, then k aliases              (uvarint length · name, uvarint script index)
//
// Libraries and aliases are in name order, so the same catalog always
// encodes to the same bytes.

const catalogVersion = 1

// encode returns the catalog's encoding. Caller holds mu.
func (cat *catalog) encode() []byte {
	b := []byte{catalogVersion}
	libs := sortedLibraries(cat.libs)
	b = binary.AppendUvarint(b, uint64(len(libs)))
	for _, l := range libs {
		b = appendString(b, l.Code)
	}
	names := cat.aliasNames()
	index := map[string]int{}
	var bodies []string
	for _, a := range names {
		s := cat.aliases[a]
		if _, ok := index[s.SHA]; !ok {
			index[s.SHA] = len(bodies)
			bodies = append(bodies, s.Body)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(bodies)))
	for _, body := range bodies {
		b = appendString(b, body)
	}
	b = binary.AppendUvarint(b, uint64(len(names)))
	for _, a := range names {
		b = appendString(b, a)
		b = binary.AppendUvarint(b, uint64(index[cat.aliases[a].SHA]))
	}
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// decodedCatalog is a catalog's encoding read back.
type decodedCatalog struct {
	libs    []string
	bodies  []string
	aliases []string
	targets []int // index in bodies of each alias's script
}

// decodeCatalog reads an encoding written by encode.
func decodeCatalog(b []byte) (*decodedCatalog, error) {
	if len(b) == 0 || b[0] != catalogVersion {
		return nil, fmt.Errorf("scripting: catalog encoding version %v unknown", b[:min(len(b), 1)])
	}
	r := catalogReader{b: b[1:]}
	d := &decodedCatalog{}
	d.libs = r.strings()
	d.bodies = r.strings()
	n := r.uvarint()
	for i := uint64(0); i < n && r.err == nil; i++ {
		d.aliases = append(d.aliases, r.string())
		t := r.uvarint()
		if t >= uint64(len(d.bodies)) {
			r.fail()
		}
		d.targets = append(d.targets, int(t))
	}
	if r.err == nil && len(r.b) != 0 {
		r.fail()
	}
	return d, r.err
}

// catalogReader reads the encoding's fields, remembering the first error.
type catalogReader struct {
	b   []byte
	err error
}

func (r *catalogReader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("scripting: catalog encoding is corrupt")
	}
	r.b = nil
}

func (r *catalogReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *catalogReader) string() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return ""
	}
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *catalogReader) strings() []string {
	n := r.uvarint()
	var out []string
	for i := uint64(0); i < n && r.err == nil; i++ {
		out = append(out, r.string())
	}
	return out
}

// CaptureCatalog implements snapshot.Catalog: the catalog's encoding when
// it changed since the last checkpoint that stored it. Checkpoints call it
// with the keyspace held at their point in time; the commands that change
// the catalog hold the keyspace too, so it is the catalog as of then.
func (e *Engine) CaptureCatalog() (data []byte, gen uint64, changed bool) {
	cat := &e.cat
	cat.mu.RLock()
	defer cat.mu.RUnlock()
	if cat.gen == cat.saved {
		return nil, cat.gen, false
	}
	return cat.encode(), cat.gen, true
}

// CatalogSaved implements snapshot.Catalog.
func (e *Engine) CatalogSaved(gen uint64) {
	cat := &e.cat
	cat.mu.Lock()
	cat.saved = max(cat.saved, gen)
	cat.mu.Unlock()
}

// LoadCatalog replaces the catalog with the one data encodes (a
// checkpoint's), compiling every library and script: at startup, before
// the log's replay. The loaded catalog counts as saved.
func (e *Engine) LoadCatalog(data []byte) error {
	d, err := decodeCatalog(data)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.flushFunctions()
	loaded := newCatalog()
	for _, code := range d.libs {
		name, body, err := parseLibraryMeta(code)
		if err == nil {
			var lib *Library
			if lib, err = e.buildLibrary(name, code, body, false); err == nil {
				if f := loaded.collision(lib, nil); f != "" {
					err = fmt.Errorf("function %s in two libraries", f)
				}
				loaded.link(lib)
			}
		}
		if err != nil {
			return fmt.Errorf("scripting: stored library %q: %v", firstLine(code), err)
		}
	}
	scripts := make([]*Script, len(d.bodies))
	for i, body := range d.bodies {
		s, err := e.Load([]byte(body))
		if err != nil {
			return fmt.Errorf("scripting: stored script %s: %v", SHA1Hex([]byte(body)), err)
		}
		scripts[i] = s
	}
	for i, a := range d.aliases {
		loaded.setAlias(a, scripts[d.targets[i]])
	}
	cat := &e.cat
	cat.mu.Lock()
	cat.libs, cat.funcs, cat.aliases, cat.pinned = loaded.libs, loaded.funcs, loaded.aliases, loaded.pinned
	cat.gen, cat.saved = 0, 0
	cat.mu.Unlock()
	return nil
}
