package disktier

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/structd/structd/memtier"
)

// ErrNotFound is returned by Load and Meta for a key the store does not hold.
var ErrNotFound = errors.New("disktier: key not found")

// getRecord reads key's metadata record and calls fn with the decoded
// metadata and the inline payload, which is borrowed from Pebble until fn
// returns: fn copies what it keeps.
func getRecord(r pebble.Reader, db, slot int, key []byte, fn func(m Meta, inline []byte) error) error {
	v, closer, err := r.Get(append(appendKeyBase(nil, db, slot, key), kindMeta))
	if errors.Is(err, pebble.ErrNotFound) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("disktier: get %q: %w", key, err)
	}
	defer closer.Close()
	m, inline, err := decodeMeta(v)
	if err != nil {
		return fmt.Errorf("%w (key %q)", err, key)
	}
	return fn(m, inline)
}

// getMeta reads key's metadata.
func getMeta(r pebble.Reader, db, slot int, key []byte) (m Meta, err error) {
	err = getRecord(r, db, slot, key, func(mm Meta, _ []byte) error { m = mm; return nil })
	return m, err
}

// Meta returns key's metadata, or ErrNotFound. Expired keys are returned as
// stored: expiry is the caller's (memtier's) business.
func (s *Store) Meta(db int, key []byte) (Meta, error) {
	return getMeta(s.db, db, memtier.SlotOf(key), key)
}

// Exists reports whether the store holds key.
func (s *Store) Exists(db int, key []byte) (bool, error) {
	_, err := s.Meta(db, key)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Load reads key's value and expiry (absolute Unix ms, 0 for none), or
// ErrNotFound. The object owns its memory and carries the encoding it had
// when stored. A record that fails to decode, or a block that fails its
// checksum, is an error: corrupt data is never returned.
func (s *Store) Load(db int, key []byte) (*memtier.Object, int64, error) {
	return load(s.db, db, key)
}

func load(r pebble.Reader, db int, key []byte) (*memtier.Object, int64, error) {
	slot := memtier.SlotOf(key)
	var o *memtier.Object
	var m Meta
	err := getRecord(r, db, slot, key, func(mm Meta, inline []byte) (err error) {
		m = mm
		if m.Layout == LayoutInline || m.Type == memtier.TypeString {
			o, err = decodeInline(m, inline) // copies out of the borrowed value
		}
		return err
	})
	if err == nil && o == nil {
		// Re-read through one iterator: metadata and elements from one view.
		base := appendKeyBase(nil, db, slot, key)
		var it *pebble.Iterator
		it, err = r.NewIter(&pebble.IterOptions{
			LowerBound: append(base[:len(base):len(base)], kindMeta),
			UpperBound: append(base[:len(base):len(base)], kindEnd),
		})
		if err != nil {
			return nil, 0, err
		}
		o, m.ExpireAt, err = decodeElems(it, len(base))
		if cerr := it.Close(); err == nil {
			err = cerr
		}
	}
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, 0, ErrNotFound
	case err != nil:
		return nil, 0, fmt.Errorf("disktier: load %q: %w", key, err)
	}
	return o, m.ExpireAt, nil
}

// decodeInline rebuilds a value kept whole in its metadata record.
func decodeInline(m Meta, inline []byte) (*memtier.Object, error) {
	if m.Type == memtier.TypeString {
		return decodeString(m, inline)
	}
	if m.Layout != LayoutInline {
		return nil, corrupt("%s kept under sub-keys read as inline", m.Type)
	}
	b, err := newBuilder(m)
	if err != nil {
		return nil, err
	}
	if err := b.addInline(inline); err != nil {
		return nil, err
	}
	return b.finish()
}

// decodeElems reads a key's metadata record and element sub-keys from an
// iterator bounded to the key's range (baseLen is the length of the key's
// base prefix), so both come from one consistent view even if a checkpoint
// was ingested since the caller first looked at the metadata.
func decodeElems(it *pebble.Iterator, baseLen int) (*memtier.Object, int64, error) {
	if !it.First() {
		if err := it.Error(); err != nil {
			return nil, 0, err
		}
		return nil, 0, ErrNotFound // deleted by a checkpoint since the first read
	}
	if it.Key()[baseLen] != kindMeta {
		return nil, 0, corrupt("elements without metadata")
	}
	v, err := it.ValueAndErr()
	if err != nil {
		return nil, 0, err
	}
	m, inline, err := decodeMeta(v)
	if err != nil {
		return nil, 0, err
	}
	if m.Type == memtier.TypeString || m.Layout == LayoutInline {
		o, err := decodeInline(m, inline)
		return o, m.ExpireAt, err
	}
	b, err := newBuilder(m)
	if err != nil {
		return nil, 0, err
	}
	for it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return nil, 0, err
		}
		// The builder copies what it keeps (memtier/types copies every
		// slice handed in), so the borrowed key and value may move on.
		if err := b.addElem(it.Key()[baseLen+1:], v); err != nil {
			return nil, 0, err
		}
	}
	if err := it.Error(); err != nil {
		return nil, 0, err
	}
	o, err := b.finish()
	return o, m.ExpireAt, err
}

// Count is the number of keys of database db, expired ones included (as
// DBSIZE counts keys not yet reclaimed), read from the per-slot count
// records without touching a value.
func (s *Store) Count(db int) (int64, error) {
	lo, hi := countRange(db)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	var n int64
	for it.First(); it.Valid(); it.Next() {
		c, err := decodeSlotCount(it.Value())
		if err != nil {
			it.Close()
			return 0, err
		}
		n += c.Keys
	}
	if err := it.Close(); err != nil {
		return 0, fmt.Errorf("disktier: count db %d: %w", db, err)
	}
	return n, nil
}

// SlotCount is the count record of slot of database db.
func (s *Store) SlotCount(db, slot int) (SlotCount, error) {
	return readCount(s.db, db, slot)
}

// KeyInfo is what the cold key iterator yields per key.
type KeyInfo struct {
	Slot int
	Key  []byte // valid only during the callback
	Meta Meta
}

// Keys calls fn for each key of database db in slots [fromSlot, 16384), in
// slot order and within a slot in record order (SortKeys), with its
// metadata but no value, until fn returns false. It reads one metadata
// record per key and seeks past each key's sub-keys, so a big collection
// costs one seek, not one step per element. For SCAN and KEYS on cold data.
func (s *Store) Keys(db, fromSlot int, fn func(k KeyInfo) bool) error {
	lo, _ := slotRange(db, fromSlot, memtier.NumSlots)
	return s.keysFrom(db, lo, fn)
}

// KeysAfter is Keys resuming right after key (in its slot), for a SCAN
// cursor that stopped inside a slot.
func (s *Store) KeysAfter(db int, key []byte, fn func(k KeyInfo) bool) error {
	return s.keysFrom(db, append(appendKeyBase(nil, db, memtier.SlotOf(key), key), kindEnd), fn)
}

func (s *Store) keysFrom(db int, lo []byte, fn func(k KeyInfo) bool) error {
	_, hi := dbRange(db)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	var next []byte
	for valid := it.First(); valid; {
		_, slot, key, kind, _, ok := parseDataKey(it.Key())
		if !ok || kind != kindMeta {
			it.Close()
			return corrupt("key %q without metadata", it.Key())
		}
		m, _, err := decodeMeta(it.Value())
		if err != nil {
			it.Close()
			return fmt.Errorf("%w (key %q)", err, key)
		}
		if !fn(KeyInfo{Slot: slot, Key: key, Meta: m}) {
			break
		}
		if m.Layout == LayoutElems {
			next = append(appendKeyBase(next[:0], db, slot, key), kindEnd)
			valid = it.SeekGE(next)
		} else {
			valid = it.Next()
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("disktier: keys of db %d: %w", db, err)
	}
	return nil
}
