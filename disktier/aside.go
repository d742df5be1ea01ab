package disktier

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/structd/structd/memtier"
)

// Out-of-order ("front-run") writes of a checkpoint (invariant 5). The
// walker writes slots in key order; a client write to a slot the walker has
// not reached must first get what it changes into the checkpoint as it was
// at P, from the writing goroutine, out of order: the slot's dirty keys, or
// only the keys the write touches. WriteAside sends such a group of records
// to a spill file instead of the current SST. A slot may get several groups
// (one per key front-run), which must not overlap in key order; when the
// walker reaches the slot, each group is streamed into the SST where it
// belongs in key order: before the walker's first in-place record of the
// slot that sorts after it, or by CopyAside at the end of the slot.

// Spill records: op · uvarint(len(a)) · a · uvarint(len(b)) · b, where a is
// the key (the start for a range deletion) and b the value (the end; empty
// for a point deletion).
const (
	spillSet      byte = 1
	spillDel      byte = 2
	spillDelRange byte = 3
)

// spillBufSize is the size of the spill file's write buffer and of the read
// buffer CopyAside streams through.
const spillBufSize = 64 << 10

// spillScratchMax is the largest value scratch kept after a CopyAside;
// bigger buffers (a huge string's record) are dropped once copied.
const spillScratchMax = 1 << 20

// asideRange is where one group of a slot's records is in the spill file,
// with the first and last key base among them (the last is the walker's
// position after copying them). An empty group has no bases.
type asideRange struct {
	start, end  int64
	first, last []byte
}

// slotSet is a bitmap of the slots of one database.
type slotSet [memtier.NumSlots / 64]uint64

func (s *slotSet) add(slot int)      { s[slot/64] |= 1 << (slot % 64) }
func (s *slotSet) has(slot int) bool { return s[slot/64]&(1<<(slot%64)) != 0 }

// slotSets is a slotSet per database, allocated on first use.
type slotSets map[int]*slotSet

func (m slotSets) add(db, slot int) {
	s := m[db]
	if s == nil {
		s = new(slotSet)
		m[db] = s
	}
	s.add(slot)
}

func (m slotSets) has(db, slot int) bool { s := m[db]; return s != nil && s.has(slot) }

// anyIn reports the first slot of [from, to) in the set, or -1.
func (m slotSets) anyIn(db, from, to int) int {
	s := m[db]
	if s == nil {
		return -1
	}
	for slot := from; slot < to; slot++ {
		if s.has(slot) {
			return slot
		}
	}
	return -1
}

// spill is the checkpoint's spill file and the bookkeeping of the slots
// written aside.
type spill struct {
	fs   vfs.FS
	path string
	w    vfs.File
	bw   *bufio.Writer
	r    vfs.File // read handle, opened by the first CopyAside
	br   *bufio.Reader
	size int64 // bytes written, buffered ones included
	// pending are the groups written aside and not copied yet, per slot,
	// sorted by key.
	pending map[slotID][]asideRange
	// pendingBytes is what pending's entries hold (bufferedBytes), kept
	// as they come and go: summing them per call made every front-run
	// cost a pass over all the slots written aside.
	pendingBytes int64
	aside        slotSets // every slot written aside, copied or not
	cur          *slotID  // the slot WriteAside is running for
	first, last  []byte   // the first and last key base written aside for cur
	a, b         []byte   // CopyAside's record key and value scratch
}

func newSpill(fs vfs.FS, path string) *spill {
	return &spill{fs: fs, path: path, pending: make(map[slotID][]asideRange), aside: make(slotSets)}
}

// open creates the spill file on first use.
func (sp *spill) open() error {
	if sp.w != nil {
		return nil
	}
	f, err := sp.fs.Create(sp.path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return fmt.Errorf("disktier: create spill %s: %w", sp.path, err)
	}
	sp.w, sp.bw = f, bufio.NewWriterSize(f, spillBufSize)
	return nil
}

// order checks that a record of db/slot with key base (or slot range start)
// belongs to the slot being written aside and comes after its earlier
// records.
func (sp *spill) order(db, slot int, base []byte) error {
	if db != sp.cur.db || slot != sp.cur.slot {
		return fmt.Errorf("disktier: checkpoint write to slot %d of db %d inside WriteAside of slot %d of db %d", slot, db, sp.cur.slot, sp.cur.db)
	}
	if len(sp.last) > 0 && string(base) <= string(sp.last) {
		return fmt.Errorf("disktier: checkpoint write aside to slot %d of db %d out of key order", slot, db)
	}
	if len(sp.last) == 0 {
		sp.first = append(sp.first[:0], base...)
	}
	sp.last = append(sp.last[:0], base...)
	return nil
}

// put appends one record.
func (sp *spill) put(op byte, a, b []byte) error {
	var hdr [1 + 2*binary.MaxVarintLen64]byte
	hdr[0] = op
	n := 1 + binary.PutUvarint(hdr[1:], uint64(len(a)))
	if _, err := sp.bw.Write(hdr[:n]); err != nil {
		return fmt.Errorf("disktier: write spill %s: %w", sp.path, err)
	}
	if _, err := sp.bw.Write(a); err != nil {
		return fmt.Errorf("disktier: write spill %s: %w", sp.path, err)
	}
	m := binary.PutUvarint(hdr[:], uint64(len(b)))
	if _, err := sp.bw.Write(hdr[:m]); err != nil {
		return fmt.Errorf("disktier: write spill %s: %w", sp.path, err)
	}
	if _, err := sp.bw.Write(b); err != nil {
		return fmt.Errorf("disktier: write spill %s: %w", sp.path, err)
	}
	sp.size += int64(n + len(a) + m + len(b))
	return nil
}

// copyTo streams the records of r to out, in order.
func (sp *spill) copyTo(r asideRange, out sink) error {
	if err := sp.bw.Flush(); err != nil {
		return fmt.Errorf("disktier: flush spill %s: %w", sp.path, err)
	}
	if sp.r == nil {
		f, err := sp.fs.Open(sp.path)
		if err != nil {
			return fmt.Errorf("disktier: open spill %s: %w", sp.path, err)
		}
		sp.r, sp.br = f, bufio.NewReaderSize(nil, spillBufSize)
	}
	left := r.end - r.start
	sp.br.Reset(io.NewSectionReader(sp.r, r.start, left))
	for left > 0 {
		op, err := sp.br.ReadByte()
		if err != nil {
			return sp.readErr(err)
		}
		left--
		// Each key is a fresh slice, as the writer's own keys are: Pebble
		// does not document that the SST writer copies the key it is
		// handed. Values are copied into the data block (the records
		// compare byte for byte in TestWriteAsideMatchesInOrder), so the
		// value scratch is reused.
		if sp.a, left, err = sp.field(nil, left); err != nil {
			return err
		}
		if sp.b, left, err = sp.field(sp.b, left); err != nil {
			return err
		}
		switch op {
		case spillSet:
			err = out.set(sp.a, sp.b)
		case spillDel:
			err = out.del(sp.a)
		case spillDelRange:
			err = out.delRange(sp.a, sp.b)
		default:
			err = fmt.Errorf("disktier: spill %s: unknown record op %d", sp.path, op)
		}
		if err != nil {
			return err
		}
	}
	sp.a = nil
	if cap(sp.b) > spillScratchMax {
		sp.b = nil
	}
	return nil
}

// field reads one uvarint-prefixed field into buf, of at most left bytes.
func (sp *spill) field(buf []byte, left int64) ([]byte, int64, error) {
	n, err := binary.ReadUvarint(sp.br)
	if err != nil {
		return buf, left, sp.readErr(err)
	}
	left -= int64(uvarintLen(n))
	if n > uint64(max(left, 0)) {
		return buf, left, fmt.Errorf("disktier: spill %s: record of %d bytes past its slot's range", sp.path, n)
	}
	if uint64(cap(buf)) < n {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(sp.br, buf); err != nil {
		return buf, left, sp.readErr(err)
	}
	return buf, left - int64(n), nil
}

func (sp *spill) readErr(err error) error {
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("disktier: read spill %s: %w", sp.path, err)
}

// pendingEntryBytes is what one group of pending holds: its share of the
// map entry and slice, and the copies of its key bases.
func pendingEntryBytes(r asideRange) int64 {
	n := 64 + int64(cap(r.first))
	if len(r.last) > 0 && (len(r.first) == 0 || &r.last[0] != &r.first[0]) {
		n += int64(cap(r.last))
	}
	return n
}

// bufferedBytes is the memory the spill holds: its two buffers, the record
// scratch and the bookkeeping of the slots written aside.
func (sp *spill) bufferedBytes() int64 {
	n := int64(cap(sp.a) + cap(sp.b) + cap(sp.first) + cap(sp.last))
	if sp.bw != nil {
		n += int64(sp.bw.Size())
	}
	if sp.br != nil {
		n += int64(sp.br.Size())
	}
	n += int64(len(sp.aside)) * int64(len(slotSet{})*8)
	return n + sp.pendingBytes
}

// remove closes and removes the spill file.
func (sp *spill) remove() error {
	var errs []error
	if sp.r != nil {
		errs = append(errs, sp.r.Close())
		sp.r, sp.br = nil, nil
	}
	if sp.w != nil {
		errs = append(errs, sp.w.Close())
		sp.w, sp.bw = nil, nil
		if err := sp.fs.Remove(sp.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("disktier: remove spill %s: %w", sp.path, err))
		}
	}
	return errors.Join(errs...)
}

func uvarintLen(x uint64) int {
	n := 1
	for x >= 0x80 {
		x >>= 7
		n++
	}
	return n
}

// WriteAside runs fn, which writes records of slot of db ahead of the
// walker, as they were at P: the Put, PutFields, Delete and DeleteSlots
// calls fn makes go to the checkpoint's spill file instead of the current
// data file, as one group. fn may only write keys of that slot of that
// database, in key order (SortKeys), with DeleteSlots(db, slot, slot+1)
// first if the slot was flushed. A slot may be written aside several
// times (a group per key a client front-runs) as long as no two groups
// overlap in key order. Everything else is as for a write in place: the
// key counts, the reads of the previous checkpoint that tell new keys from
// replaced ones, and the Record's Keys and Deletes.
//
// When the walker reaches the slot, each group is copied where it belongs:
// an in-place write of the slot first copies the groups that sort before
// it, and CopyAside copies the rest; a group that overlaps the walker's own
// records is an order error. It is an error to write aside a slot already
// written in place (a key of it, or a DeleteSlots range covering it: a
// walker that front-runs writes deletes slot ranges as it reaches them) or
// one the current data file has gone past. An error from fn is returned as
// is; the checkpoint is then to be aborted.
func (c *Checkpoint) WriteAside(db, slot int, fn func() error) error {
	if slot < 0 || slot >= memtier.NumSlots {
		return fmt.Errorf("disktier: write aside: no slot %d", slot)
	}
	p := c.part(slot)
	sp := p.sp
	switch {
	case sp.cur != nil:
		return fmt.Errorf("disktier: write aside of slot %d of db %d inside WriteAside of slot %d of db %d", slot, db, sp.cur.slot, sp.cur.db)
	case p.written.has(db, slot):
		return fmt.Errorf("disktier: slot %d of db %d already written in place: cannot write it aside", slot, db)
	}
	if _, hi := slotRange(db, slot, slot+1); p.last != nil && string(hi) <= string(p.last) {
		return fmt.Errorf("disktier: slot %d of db %d is behind the checkpoint's position: cannot write it aside", slot, db)
	}
	if err := sp.open(); err != nil {
		return err
	}
	start := sp.size
	sp.cur, sp.first, sp.last = &slotID{db, slot}, sp.first[:0], sp.last[:0]
	err := fn()
	sp.cur = nil
	r := asideRange{start: start, end: sp.size}
	if len(sp.last) > 0 {
		r.first = append([]byte(nil), sp.first...)
		r.last = r.first // one key's group: its records share one base
		if !bytes.Equal(sp.first, sp.last) {
			r.last = append([]byte(nil), sp.last...)
		}
	}
	sp.aside.add(db, slot)
	if addErr := sp.addGroup(slotID{db, slot}, r); err == nil {
		err = addErr
	}
	return err
}

// addGroup adds group r to slot id's pending groups, in key order; an
// empty group is only noted (the slot counts as written aside).
func (sp *spill) addGroup(id slotID, r asideRange) error {
	groups := sp.pending[id]
	if r.end > r.start {
		i, _ := slices.BinarySearchFunc(groups, r, func(g, r asideRange) int { return bytes.Compare(g.first, r.first) })
		if (i > 0 && string(groups[i-1].last) >= string(r.first)) || (i < len(groups) && string(r.last) >= string(groups[i].first)) {
			return fmt.Errorf("disktier: records written aside to slot %d of db %d overlap an earlier group in key order", id.slot, id.db)
		}
		groups = slices.Insert(groups, i, r)
		sp.pendingBytes += pendingEntryBytes(r)
	}
	sp.pending[id] = groups
	return nil
}

// copyGroupsBefore copies the groups of slot id written aside that start
// before base (all of them for a nil base) into the part's current data
// file, in key order.
func (p *part) copyGroupsBefore(id slotID, base []byte) error {
	sp := p.sp
	groups := sp.pending[id]
	n := 0
	for n < len(groups) && (base == nil || string(groups[n].first) < string(base)) {
		g := groups[n]
		if p.last != nil && string(g.first) <= string(p.last) {
			return fmt.Errorf("disktier: checkpoint slot %d of db %d: records written aside out of order with the walker's: Split before going back, and front-run each key once", id.slot, id.db)
		}
		if err := p.enter(id.db); err != nil {
			return err
		}
		if err := sp.copyTo(g, dataSink{p}); err != nil {
			return fmt.Errorf("disktier: copy slot %d of db %d from the spill: %w", id.slot, id.db, err)
		}
		p.last = g.last
		sp.pendingBytes -= pendingEntryBytes(g)
		n++
	}
	if n == len(groups) && base == nil {
		delete(sp.pending, id)
	} else {
		sp.pending[id] = groups[n:]
	}
	return nil
}

// CopyAside copies the records WriteAside wrote for slot of db and an
// in-place write of the slot has not already copied, unchanged and in
// order, into the current data file, and reports true; it reports false
// for a slot not written aside (or already copied). The walker calls it
// once it has written the slot's own records (if any), where the slot
// ends: the order check of a write in place applies. The records stream
// from the spill file through a 64 KB buffer; memory holds one record at a
// time.
func (c *Checkpoint) CopyAside(db, slot int) (bool, error) {
	if slot < 0 || slot >= memtier.NumSlots {
		return false, fmt.Errorf("disktier: copy aside: no slot %d", slot)
	}
	p := c.part(slot)
	sp := p.sp
	if sp.cur != nil {
		return false, fmt.Errorf("disktier: CopyAside of slot %d of db %d inside WriteAside", slot, db)
	}
	id := slotID{db, slot}
	if _, ok := sp.pending[id]; !ok {
		return false, nil
	}
	err := p.copyGroupsBefore(id, nil)
	return err == nil, err
}

// SpillBytes is the number of bytes written to the spill files so far.
func (c *Checkpoint) SpillBytes() int64 {
	var n int64
	for _, p := range c.parts {
		n += p.sp.size
	}
	return n
}

// BufferedBytes is the memory the out-of-order machinery holds beyond the
// data files' own writers, in every part: the spill's 64 KB write buffer,
// CopyAside's 64 KB read buffer, the value scratch of the largest record
// copied (dropped after a copy when over 1 MB), a 2 KB slot bitmap per
// database written in place or aside, and about 64 bytes per slot written
// aside and not yet copied. Records are never held beyond one at a time.
func (c *Checkpoint) BufferedBytes() int64 {
	var n int64
	for _, p := range c.parts {
		n += p.bufferedBytes()
	}
	return n
}

// PartBufferedBytes is BufferedBytes of the part holding slot alone: it
// may run concurrently with calls for other parts.
func (c *Checkpoint) PartBufferedBytes(slot int) int64 { return c.part(slot).bufferedBytes() }

func (p *part) bufferedBytes() int64 {
	return p.sp.bufferedBytes() + int64(len(p.written))*int64(len(slotSet{})*8)
}
