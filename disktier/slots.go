package disktier

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/structd/structd/memtier"
)

// Whole-slot reads: the count records of a database (which slots hold keys
// on disk, for the server's start) and every key of one slot with its value
// (warm-up, and SCAN/RANDOMKEY over a cold slot).

// SlotCounts calls fn for each non-empty slot of database db, in slot
// order, with the slot's count record (expired keys included, as Count), until
// fn returns false. It reads the count records only (one iterator, at most
// 16384 tiny records), never a key or a value: the server calls it for each
// database at startup to learn which slots are cold.
func (s *Store) SlotCounts(db int, fn func(slot int, c SlotCount) bool) error {
	lo, hi := countRange(db)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("disktier: slot counts of db %d: %w", db, err)
	}
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != len(lo)+2 {
			it.Close()
			return fmt.Errorf("disktier: slot counts of db %d: %w", db, corrupt("count key %q", k))
		}
		slot := int(binary.BigEndian.Uint16(k[len(lo):]))
		c, err := decodeSlotCount(it.Value())
		if err == nil && slot >= memtier.NumSlots {
			err = corrupt("count record of slot %d", slot)
		}
		if err != nil {
			it.Close()
			return fmt.Errorf("disktier: slot counts of db %d: %w", db, err)
		}
		if c.Keys == 0 {
			continue // writers delete a count that drops to 0; tolerate one anyway
		}
		if !fn(slot, c) {
			break
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("disktier: slot counts of db %d: %w", db, err)
	}
	return nil
}

// storedSlots reads the count records of every database: the slots of r
// holding keys. One iterator over at most 16384 tiny records per database.
func storedSlots(r pebble.Reader) (slotSets, error) {
	lo := []byte{spaceSystem, sysCount}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{spaceSystem, sysCount + 1}})
	if err != nil {
		return nil, fmt.Errorf("disktier: slot counts: %w", err)
	}
	set := make(slotSets)
	for it.First(); it.Valid(); it.Next() {
		k := it.Key()
		if len(k) != len(lo)+6 {
			it.Close()
			return nil, fmt.Errorf("disktier: slot counts: %w", corrupt("count key %q", k))
		}
		slot := int(binary.BigEndian.Uint16(k[len(lo)+4:]))
		if slot >= memtier.NumSlots {
			it.Close()
			return nil, fmt.Errorf("disktier: slot counts: %w", corrupt("count record of slot %d", slot))
		}
		set.add(int(binary.BigEndian.Uint32(k[len(lo):])), slot)
	}
	if err := it.Close(); err != nil {
		return nil, fmt.Errorf("disktier: slot counts: %w", err)
	}
	return set, nil
}

// LoadSlot calls fn for each key of slot of database db with its value and
// expiry (absolute Unix ms, 0 for none), in record order (SortKeys), until
// fn returns false. It is one iterator pass over the slot: inline values
// and big collections' sub-keys alike, decoded as Load decodes them, with
// the same checks. A record that fails to decode is an error, returned
// before fn sees that key: corrupt data is never handed out. Keys fn has
// already seen stay valid (each object owns its memory).
//
// key is reused after fn returns: fn copies it to keep it. The objects are
// not reused. Like Load, expired keys are returned as stored.
func (s *Store) LoadSlot(db, slot int, fn func(key []byte, o *memtier.Object, expireAt int64) bool) error {
	if slot < 0 || slot >= memtier.NumSlots {
		return fmt.Errorf("disktier: load slot %d of db %d: no such slot", slot, db)
	}
	lo, hi := slotRange(db, slot, slot+1)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("disktier: load slot %d of db %d: %w", slot, db, err)
	}
	var key, base []byte
	for valid := it.First(); valid; {
		var o *memtier.Object
		var expireAt int64
		var ok bool
		key, base, o, expireAt, valid, err = loadNext(it, key, base)
		if err == nil {
			ok = fn(key, o, expireAt)
		}
		if err != nil || !ok {
			break
		}
	}
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("disktier: load slot %d of db %d: %w", slot, db, err)
	}
	return nil
}

// SlotReader loads whole slots of one database, in increasing slot order,
// through one iterator: what LoadSlot does for each slot, without building
// an iterator per slot (the warm-up reads every slot in turn). The iterator
// is reopened when the store changed since it was opened (a checkpoint was
// ingested): a slot is read from a view no older than the last change
// committed before Load was called, as LoadSlot reads it. A SlotReader is
// used by one goroutine; Close it.
type SlotReader struct {
	s       *Store
	db      int
	it      *pebble.Iterator
	changes uint64 // the store's change count when it was opened
	last    int    // the last slot loaded, -1 before the first
	key     []byte
	base    []byte
}

// NewSlotReader returns a reader of the slots of database db.
func (s *Store) NewSlotReader(db int) *SlotReader { return &SlotReader{s: s, db: db, last: -1} }

// Load calls fn for each key of slot with its value and expiry, as
// LoadSlot does. Slots ascend from call to call; a slot at or before the
// previous one costs a seek.
func (r *SlotReader) Load(slot int, fn func(key []byte, o *memtier.Object, expireAt int64) bool) error {
	if slot < 0 || slot >= memtier.NumSlots {
		return fmt.Errorf("disktier: load slot %d of db %d: no such slot", slot, r.db)
	}
	lo, hi := slotRange(r.db, slot, slot+1)
	if n := r.s.changes.Load(); r.it == nil || n != r.changes {
		if err := r.Close(); err != nil {
			return err
		}
		start, end := dbRange(r.db)
		it, err := r.s.db.NewIter(&pebble.IterOptions{LowerBound: start, UpperBound: end})
		if err != nil {
			return fmt.Errorf("disktier: load slot %d of db %d: %w", slot, r.db, err)
		}
		r.it, r.changes, r.last = it, n, -1
	}
	// After the previous slot the iterator rests on the first record past
	// it: a later slot starts there unless that record is before it.
	valid := r.it.Valid()
	if !valid || slot <= r.last || bytes.Compare(r.it.Key(), lo) < 0 {
		valid = r.it.SeekGE(lo)
	}
	r.last = slot
	var err error
	for valid && bytes.Compare(r.it.Key(), hi) < 0 {
		var o *memtier.Object
		var expireAt int64
		r.key, r.base, o, expireAt, valid, err = loadNext(r.it, r.key, r.base)
		if err != nil || !fn(r.key, o, expireAt) {
			break
		}
	}
	if err == nil {
		err = r.it.Error()
	}
	if err != nil {
		r.Close()
		return fmt.Errorf("disktier: load slot %d of db %d: %w", slot, r.db, err)
	}
	return nil
}

// Close releases the reader's iterator; the reader may be used again.
func (r *SlotReader) Close() error { return closeIter(&r.it) }

// closeIter closes *it, if open, and forgets it.
func closeIter(it **pebble.Iterator) error {
	if *it == nil {
		return nil
	}
	err := (*it).Close()
	*it = nil
	return err
}

// loadNext decodes the key whose metadata record it is positioned at, with
// its sub-keys, leaving it on the next key's first record (valid false at
// the end). key and base are scratch buffers returned refilled with the
// user key and its base prefix.
func loadNext(it *pebble.Iterator, key, base []byte) (_, _ []byte, o *memtier.Object, expireAt int64, valid bool, err error) {
	_, _, k, kind, rest, ok := parseDataKey(it.Key())
	if !ok || kind != kindMeta || len(rest) != 0 {
		return key, base, nil, 0, false, corrupt("key %q without metadata", it.Key())
	}
	key = append(key[:0], k...)
	base = append(base[:0], it.Key()[:len(it.Key())-1]...)
	v, err := it.ValueAndErr()
	if err != nil {
		return key, base, nil, 0, false, err
	}
	m, inline, err := decodeMeta(v)
	if err != nil {
		return key, base, nil, 0, false, fmt.Errorf("%w (key %q)", err, key)
	}
	if m.Type == memtier.TypeString || m.Layout == LayoutInline {
		// Sub-keys after an inline value are not skipped: the next step
		// meets them as a key without metadata, as Keys does.
		o, err = decodeInline(m, inline)
		if err != nil {
			return key, base, nil, 0, false, fmt.Errorf("%w (key %q)", err, key)
		}
		return key, base, o, m.ExpireAt, it.Next(), nil
	}
	b, err := newBuilder(m)
	if err != nil {
		return key, base, nil, 0, false, fmt.Errorf("%w (key %q)", err, key)
	}
	n := len(base)
	for valid = it.Next(); valid; valid = it.Next() {
		ek := it.Key()
		// The length prefix makes bases prefix-free: only this key's
		// records start with its base.
		if !bytes.HasPrefix(ek, base) || len(ek) == n || ek[n] != kindElem {
			break
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return key, base, nil, 0, false, err
		}
		if err := b.addElem(ek[n+1:], v); err != nil {
			return key, base, nil, 0, false, fmt.Errorf("%w (key %q)", err, key)
		}
	}
	if err := it.Error(); err != nil {
		return key, base, nil, 0, false, err
	}
	if o, err = b.finish(); err != nil {
		return key, base, nil, 0, false, fmt.Errorf("%w (key %q)", err, key)
	}
	return key, base, o, m.ExpireAt, valid, nil
}
