package disktier

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/cockroachdb/pebble/v2"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// sink receives the writes of a writer: a Pebble batch, or an SST file
// (which needs point keys in increasing order and range deletions as sorted,
// non-overlapping spans, each ordered on its own).
type sink interface {
	set(k, v []byte) error
	del(k []byte) error
	delRange(start, end []byte) error
}

// slotID names one slot of one database, for the count deltas.
type slotID struct{ db, slot int }

// SlotCount is what a slot's count record holds: the slot's keys and how
// many of them have a TTL, expired keys not yet reclaimed included (as
// DBSIZE and INFO keyspace count them). Expires is -1 when unknown: a
// record written before counts carried it.
type SlotCount struct{ Keys, Expires int64 }

// plus adds two changes of a count (the writers' deltas).
func (c SlotCount) plus(d SlotCount) SlotCount {
	return SlotCount{c.Keys + d.Keys, c.Expires + d.Expires}
}

// changedBy returns stored count c after the change d; an unknown TTL
// count stays unknown.
func (c SlotCount) changedBy(d SlotCount) SlotCount {
	c.Keys += d.Keys
	if c.Expires >= 0 {
		c.Expires += d.Expires
	}
	return c
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// span is a half-open slot range [from, to) of one database.
type span struct{ from, to int }

// writer turns key-level changes into records for a sink, and keeps the
// per-slot key counts right: it reads each key's current metadata from r
// (the state the writes apply to) to know whether the key is new, and
// whether its old sub-keys need deleting. Keys of a slot that was cleared
// by deleteSlots in this writer count as absent, whatever r says.
//
// The sinks copy the keys and values they are handed (a Pebble batch, the
// SST writer's block builders, the spill's buffer), so a point record's key
// and value are built in scratch buffers reused for every record. Range
// deletions get fresh slices: the SST writer's fragmenter keeps spans.
type writer struct {
	r       pebble.Reader
	data    sink // the key records
	sys     sink // the count records (the same sink for a batch)
	deltas  map[slotID]SlotCount
	cleared map[int][]span // db -> cleared slot ranges, in call order
	// stored, when not nil, is every slot holding keys in r (from its
	// count records, which are exact): a key of any other slot is new
	// without a point read. nil means unknown (a batch, whose reads see
	// its own writes): every key is looked up.
	stored slotSets
	// counts are the slots' key and TTL counts after the writes, as the
	// caller (the keyspace) knows them (SetSlotCount): they replace the counting
	// of new and deleted keys. elemsFree says r holds no key under
	// sub-keys (its elemsKey bound is 0): then a key of a counted slot
	// needs no lookup at all, its old records being one metadata record
	// if any.
	counts    map[slotID]SlotCount
	elemsFree bool
	// elems counts the keys written under sub-keys, for the elemsKey
	// bound.
	elems int64
	// it, with stored set, is one iterator over r reused for every lookup
	// (r does not change under a checkpoint): the walker asks for keys in
	// increasing order, so a seek starts from where the last one ended
	// instead of building a new iterator per key. Closed by close.
	it   *pebble.Iterator
	kbuf []byte // the key base, then a point record's key
	vbuf []byte // a point record's value
	mbuf []byte // the metadata key a lookup seeks
}

func newWriter(r pebble.Reader, data, sys sink) *writer {
	return &writer{r: r, data: data, sys: sys, deltas: make(map[slotID]SlotCount), cleared: make(map[int][]span)}
}

func (w *writer) isCleared(db, slot int) bool {
	for _, s := range w.cleared[db] {
		if slot >= s.from && slot < s.to {
			return true
		}
	}
	return false
}

// current returns the stored metadata of key, if any.
func (w *writer) current(db, slot int, key []byte) (Meta, bool, error) {
	if (w.stored != nil && !w.stored.has(db, slot)) || w.isCleared(db, slot) {
		return Meta{}, false, nil
	}
	if w.elemsFree {
		if _, ok := w.counts[slotID{db, slot}]; ok {
			// Present or not, an inline record at most: a put needs no
			// range deletion, a deletion one point deletion, and the
			// slot's count is the caller's.
			return Meta{Layout: LayoutInline}, true, nil
		}
	}
	if w.stored != nil {
		return w.seekMeta(db, slot, key)
	}
	m, err := getMeta(w.r, db, slot, key)
	if errors.Is(err, ErrNotFound) {
		return m, false, nil
	}
	return m, err == nil, err
}

// seekMeta is current's lookup through the writer's iterator.
func (w *writer) seekMeta(db, slot int, key []byte) (Meta, bool, error) {
	if w.it == nil {
		it, err := w.r.NewIter(&pebble.IterOptions{LowerBound: []byte{spaceData}, UpperBound: []byte{spaceData + 1}})
		if err != nil {
			return Meta{}, false, fmt.Errorf("disktier: get %q: %w", key, err)
		}
		w.it = it
	}
	w.mbuf = append(appendKeyBase(w.mbuf[:0], db, slot, key), kindMeta)
	if !w.it.SeekGE(w.mbuf) || !bytes.Equal(w.it.Key(), w.mbuf) {
		if err := w.it.Error(); err != nil {
			return Meta{}, false, fmt.Errorf("disktier: get %q: %w", key, err)
		}
		return Meta{}, false, nil
	}
	v, err := w.it.ValueAndErr()
	if err != nil {
		return Meta{}, false, fmt.Errorf("disktier: get %q: %w", key, err)
	}
	m, _, err := decodeMeta(v)
	if err != nil {
		return Meta{}, false, fmt.Errorf("%w (key %q)", err, key)
	}
	return m, true, nil
}

// close releases the writer's iterator.
func (w *writer) close() error { return closeIter(&w.it) }

// prepare returns what a write of o under key needs: the key's slot, its
// stored metadata (had false when absent) and o's new metadata.
func (w *writer) prepare(db int, key []byte, o *memtier.Object, expireAt int64) (slot int, old Meta, had bool, m Meta, err error) {
	slot = memtier.SlotOf(key)
	if old, had, err = w.current(db, slot, key); err != nil {
		return
	}
	m, err = metaOf(o, expireAt)
	return
}

// put writes the whole of key: its metadata, and its value inline or under
// sub-keys (see InlineMax), replacing any earlier sub-keys.
func (w *writer) put(db int, key []byte, o *memtier.Object, expireAt int64) error {
	slot, old, had, m, err := w.prepare(db, key, o, expireAt)
	if err != nil {
		return err
	}
	w.noteWrite(db, slot, old, had, expireAt)
	l, isList := o.Payload().(*types.List)
	if isList && listIncremental(old, had, l) {
		return w.putListChanges(db, slot, key, m, l)
	}
	limit := inlineMax
	if compact(m.Enc) {
		limit = math.MaxInt
	}
	// The value is the metadata header then the payload; the header's
	// layout byte is patched when the payload does not fit inline.
	v := appendMeta(w.vbuf[:0], m)
	v, fits := appendInline(v, o, limit)
	if !fits {
		m.Layout = LayoutElems
		if isList {
			m.Stamp = l.NextStamp()
		}
		v = appendMeta(v[:0], m)
	}
	w.vbuf = v
	base := appendKeyBase(w.kbuf[:0], db, slot, key)
	n := len(base)
	if had && old.Layout == LayoutElems {
		if err := w.data.delRange(append(base[:n:n], kindElem), append(base[:n:n], kindEnd)); err != nil {
			return err
		}
	}
	w.kbuf = append(base, kindMeta)
	if err := w.data.set(w.kbuf, v); err != nil {
		return err
	}
	switch {
	case m.Layout == LayoutElems && isList:
		w.elems++
		if err := w.putChunks(n, l, false); err != nil {
			return err
		}
		l.Written(m.Stamp)
	case m.Layout == LayoutElems:
		w.elems++
		for _, e := range elements(o) {
			if err := w.data.set(append(append(base[:n:n], kindElem), e.elem...), e.val); err != nil {
				return err
			}
		}
	case isList:
		l.WrittenInline()
	}
	return nil
}

// noteWrite counts a write of a key of slot with expiry expireAt over its
// stored metadata old (had false when absent) in the slot's deltas.
func (w *writer) noteWrite(db, slot int, old Meta, had bool, expireAt int64) {
	id := slotID{db, slot}
	w.deltas[id] = w.deltas[id].plus(SlotCount{
		Keys:    b2i(!had),
		Expires: b2i(expireAt != 0) - b2i(had && old.ExpireAt != 0),
	})
}

// putFields writes only the metadata of key and the sub-keys of the named
// elements of a hash, set or sorted set (each written if o holds it,
// deleted if not), when the stored copy already keeps its elements under
// sub-keys with the same type and encoding. Otherwise it writes the whole
// key. A collection keeps the sub-key layout while it shrinks, until it is
// written whole again.
func (w *writer) putFields(db int, key []byte, o *memtier.Object, expireAt int64, fields [][]byte) error {
	slot, old, had, m, err := w.prepare(db, key, o, expireAt)
	if err != nil {
		return err
	}
	if !had || old.Layout != LayoutElems || old.Type != m.Type || old.Enc != m.Enc ||
		(m.Type != memtier.TypeHash && m.Type != memtier.TypeSet && m.Type != memtier.TypeZSet) {
		return w.put(db, key, o, expireAt)
	}
	w.noteWrite(db, slot, old, had, expireAt)
	m.Layout = LayoutElems
	w.elems++ // counted again: the bound only needs to stay above the truth
	base := appendKeyBase(w.kbuf[:0], db, slot, key)
	w.kbuf = base
	n := len(base)
	if err := w.data.set(append(base[:n:n], kindMeta), appendMeta(nil, m)); err != nil {
		return err
	}
	sorted := append([][]byte(nil), fields...)
	sort.Slice(sorted, func(i, j int) bool { return string(sorted[i]) < string(sorted[j]) })
	for i, f := range sorted {
		if i > 0 && string(f) == string(sorted[i-1]) {
			continue
		}
		k := append(append(base[:n:n], kindElem), f...)
		if v, ok := elementOf(o, f); ok {
			err = w.data.set(k, v)
		} else {
			err = w.data.del(k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// delete removes key and all its sub-keys; a key the store does not hold
// writes nothing.
func (w *writer) delete(db int, key []byte) error {
	slot := memtier.SlotOf(key)
	old, had, err := w.current(db, slot, key)
	if err != nil || !had {
		return err
	}
	base := appendKeyBase(w.kbuf[:0], db, slot, key)
	w.kbuf = base
	n := len(base)
	if old.Layout == LayoutElems {
		err = w.data.delRange(append(base[:n:n], kindMeta), append(base[:n:n], kindEnd))
	} else {
		err = w.data.del(append(base[:n:n], kindMeta))
	}
	if err != nil {
		return err
	}
	id := slotID{db, slot}
	w.deltas[id] = w.deltas[id].plus(SlotCount{Keys: -1, Expires: -b2i(old.ExpireAt != 0)})
	return nil
}

// deleteSlots removes every key of slots [from, to) of db with one range
// deletion, and forgets the count changes made to them so far.
func (w *writer) deleteSlots(db, from, to int) error {
	if from < 0 || to > memtier.NumSlots || from >= to {
		return fmt.Errorf("disktier: bad slot range [%d, %d)", from, to)
	}
	lo, hi := slotRange(db, from, to)
	if err := w.data.delRange(lo, hi); err != nil {
		return err
	}
	for id := range w.deltas {
		if id.db == db && id.slot >= from && id.slot < to {
			delete(w.deltas, id)
		}
	}
	w.cleared[db] = append(w.cleared[db], span{from, to})
	return nil
}

// finishCounts writes the count records of every slot this writer changed:
// a range deletion over the count records of each cleared slot range, then
// the new count of each slot with changes (stored count, or 0 if cleared,
// plus the delta), all in key order.
func (w *writer) finishCounts() error {
	dbs := make([]int, 0, len(w.cleared))
	for db := range w.cleared {
		dbs = append(dbs, db)
	}
	sort.Ints(dbs)
	for _, db := range dbs {
		for _, s := range mergeSpans(w.cleared[db]) {
			if err := w.sys.delRange(countKey(db, s.from), countKeyEnd(db, s.to)); err != nil {
				return err
			}
		}
	}
	ids := make([]slotID, 0, len(w.deltas)+len(w.counts))
	for id, d := range w.deltas {
		if _, counted := w.counts[id]; d != (SlotCount{}) && !counted {
			ids = append(ids, id)
		}
	}
	for id := range w.counts {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool {
		if ids[i].db != ids[j].db {
			return ids[i].db < ids[j].db
		}
		return ids[i].slot < ids[j].slot
	})
	for _, id := range ids {
		c, counted := w.counts[id]
		if !counted {
			c = w.deltas[id]
		}
		if !counted && !w.isCleared(id.db, id.slot) && (w.stored == nil || w.stored.has(id.db, id.slot)) {
			stored, err := readCount(w.r, id.db, id.slot)
			if err != nil {
				return err
			}
			c = stored.changedBy(c)
		}
		var err error
		switch {
		case c.Keys < 0 || c.Expires < -1 || c.Expires > c.Keys:
			err = fmt.Errorf("disktier: db %d slot %d count would be %d keys, %d with a TTL", id.db, id.slot, c.Keys, c.Expires)
		case c.Keys == 0:
			err = w.sys.del(countKey(id.db, id.slot))
		default:
			err = w.sys.set(countKey(id.db, id.slot), appendCount(nil, c))
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// finishElems writes the elemsKey bound after the writes: the stored
// bound plus the keys written under sub-keys, when the stored bound is
// known (known, base); an unknown bound stays unknown (no record).
func (w *writer) finishElems(known bool, base int64) error {
	if !known {
		return nil
	}
	return w.sys.set(elemsKey, binary.AppendUvarint(nil, uint64(base+w.elems)))
}

// readElems reads the elemsKey bound; ok is false when r has none.
func readElems(r pebble.Reader) (n int64, ok bool, err error) {
	v, closer, err := r.Get(elemsKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("disktier: sub-key bound: %w", err)
	}
	defer closer.Close()
	n, err = decodeCount(v)
	return n, err == nil, err
}

// countKeyEnd is the exclusive end of the count records of slots [.., to).
func countKeyEnd(db, to int) []byte {
	if to >= memtier.NumSlots {
		_, end := countRange(db)
		return end
	}
	return countKey(db, to)
}

// mergeSpans sorts slot ranges and merges overlapping ones.
func mergeSpans(in []span) []span {
	s := append([]span(nil), in...)
	sort.Slice(s, func(i, j int) bool { return s[i].from < s[j].from })
	out := s[:0]
	for _, x := range s {
		if len(out) > 0 && x.from <= out[len(out)-1].to {
			out[len(out)-1].to = max(out[len(out)-1].to, x.to)
			continue
		}
		out = append(out, x)
	}
	return out
}

// readCount reads the count record of slot of db (zero when absent).
func readCount(r pebble.Reader, db, slot int) (SlotCount, error) {
	v, closer, err := r.Get(countKey(db, slot))
	if errors.Is(err, pebble.ErrNotFound) {
		return SlotCount{}, nil
	}
	if err != nil {
		return SlotCount{}, fmt.Errorf("disktier: count of db %d slot %d: %w", db, slot, err)
	}
	defer closer.Close()
	return decodeSlotCount(v)
}

// appendCount encodes a count record: uvarint keys, then uvarint keys with
// a TTL, left out when unknown.
func appendCount(dst []byte, c SlotCount) []byte {
	dst = binary.AppendUvarint(dst, uint64(c.Keys))
	if c.Expires >= 0 {
		dst = binary.AppendUvarint(dst, uint64(c.Expires))
	}
	return dst
}

// decodeSlotCount decodes a count record; one written before records
// carried the TTL count has Expires -1.
func decodeSlotCount(v []byte) (SlotCount, error) {
	keys, n := binary.Uvarint(v)
	if n <= 0 {
		return SlotCount{}, corrupt("count record of %d bytes", len(v))
	}
	c := SlotCount{Keys: int64(keys), Expires: -1}
	if n < len(v) {
		expires, m := binary.Uvarint(v[n:])
		if m <= 0 || n+m != len(v) || expires > keys {
			return SlotCount{}, corrupt("count record of %d bytes", len(v))
		}
		c.Expires = int64(expires)
	}
	return c, nil
}

// decodeCount decodes a record holding one uvarint (the elemsKey bound).
func decodeCount(v []byte) (int64, error) {
	n, w := binary.Uvarint(v)
	if w <= 0 || w != len(v) {
		return 0, corrupt("count record of %d bytes", len(v))
	}
	return int64(n), nil
}
