package disktier

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"iter"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/structd/structd/memtier"
)

// SSTWriter writes one SST file for ingestion from records handed in key
// order: point keys (Set, Delete) strictly increasing, range deletions
// (DeleteRange) sorted and non-overlapping; the two streams are ordered
// independently. Every record gets the sequence number of the ingestion, so
// a range deletion in a file does not delete the point keys of the same
// ingestion: that is how a key is replaced (delete its old range, set its
// new records) in one file.
type SSTWriter struct {
	path string
	w    *sstable.Writer
	n    int
}

// NewSSTWriter creates path on fs and writes an SST with opts (see
// Store.SSTOptions for the options matching a store).
func NewSSTWriter(fs vfs.FS, path string, opts sstable.WriterOptions) (*SSTWriter, error) {
	f, err := fs.Create(path, vfs.WriteCategoryUnspecified)
	if err != nil {
		return nil, fmt.Errorf("disktier: create %s: %w", path, err)
	}
	return &SSTWriter{path: path, w: sstable.NewWriter(objstorageprovider.NewFileWritable(f), opts)}, nil
}

// Set adds a point key.
func (w *SSTWriter) Set(k, v []byte) error { w.n++; return w.wrap(w.w.Set(k, v)) }

// Delete adds a point deletion.
func (w *SSTWriter) Delete(k []byte) error { w.n++; return w.wrap(w.w.Delete(k)) }

// DeleteRange adds a range deletion of [start, end).
func (w *SSTWriter) DeleteRange(start, end []byte) error {
	w.n++
	return w.wrap(w.w.DeleteRange(start, end))
}

// Records is the number of records added so far.
func (w *SSTWriter) Records() int { return w.n }

// Close finishes the file and syncs it.
func (w *SSTWriter) Close() error { return w.wrap(w.w.Close()) }

func (w *SSTWriter) wrap(err error) error {
	if err != nil {
		return fmt.Errorf("disktier: sst %s: %w", w.path, err)
	}
	return nil
}

func (w *SSTWriter) set(k, v []byte) error            { return w.Set(k, v) }
func (w *SSTWriter) del(k []byte) error               { return w.Delete(k) }
func (w *SSTWriter) delRange(start, end []byte) error { return w.DeleteRange(start, end) }

// WriteSST writes pairs, keys strictly increasing, as a new SST at path on
// the store's file system, ready for IngestCheckpoint. It is the raw form
// of what Checkpoint does (which also keeps key counts and the Record):
// for tools and for records outside the key encoding.
func (s *Store) WriteSST(path string, pairs iter.Seq2[[]byte, []byte]) error {
	w, err := NewSSTWriter(s.fs, path, s.SSTOptions())
	if err != nil {
		return err
	}
	for k, v := range pairs {
		if err := w.Set(k, v); err != nil {
			w.w.Close()
			return err
		}
	}
	return w.Close()
}

// SSTOptions are the writer options of an SST the store can ingest: its
// table format, comparer and compression. They are level 0's on purpose:
// the bottom level's options set WritingToLowestLevel, which lets the
// writer drop point deletions as obsolete, and an ingested file lands above
// older data whenever it overlaps it, where those deletions must survive
// (TestCheckpointPutFieldsIsIncremental fails with the bottom level's).
func (s *Store) SSTOptions() sstable.WriterOptions {
	return s.po.MakeWriterOptions(0, s.db.TableFormat())
}

// Record is the checkpoint record, written in the system range of the same
// ingestion as the checkpoint's data (invariant 6), so the data and its AOF
// position commit together.
type Record struct {
	Seq        uint64 // checkpoint number, 1 for the first
	AOFSegment uint64 // P(C): the AOF segment and offset replay starts from
	AOFOffset  uint64
	TimeMs     int64 // when the checkpoint's point in time was taken (Unix ms)
	Keys       int64 // keys written (puts) by this checkpoint
	Deletes    int64 // keys deleted by this checkpoint
	Bytes      int64 // bytes of the data SSTs of this checkpoint (set by Finish)
}

const recordVersion = 1

func (r Record) encode() []byte {
	b := []byte{recordVersion}
	for _, x := range [...]uint64{r.Seq, r.AOFSegment, r.AOFOffset, uint64(r.TimeMs), uint64(r.Keys), uint64(r.Deletes), uint64(r.Bytes)} {
		b = binary.AppendUvarint(b, x)
	}
	return b
}

func decodeRecord(v []byte) (Record, error) {
	if len(v) == 0 || v[0] != recordVersion {
		return Record{}, corrupt("checkpoint record version")
	}
	var f [7]uint64
	p := 1
	for i := range f {
		x, w := binary.Uvarint(v[p:])
		if w <= 0 {
			return Record{}, corrupt("checkpoint record")
		}
		f[i], p = x, p+w
	}
	return Record{Seq: f[0], AOFSegment: f[1], AOFOffset: f[2], TimeMs: int64(f[3]),
		Keys: int64(f[4]), Deletes: int64(f[5]), Bytes: int64(f[6])}, nil
}

// Record returns the last committed checkpoint record; ok is false before
// the first checkpoint.
func (s *Store) Record() (r Record, ok bool, err error) {
	v, closer, err := s.db.Get(checkpointKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("disktier: checkpoint record: %w", err)
	}
	defer closer.Close()
	r, err = decodeRecord(v)
	return r, err == nil, err
}

// Checkpoint writes the SST files of one checkpoint into a directory:
// data files holding the changed keys in key order (Split starts a new one
// where the walker jumps back in the key order), and at Finish a system
// file with the key counts of the changed slots and the Record. Nothing is
// visible until IngestCheckpoint ingests all of them in one Ingest; a crash
// before that leaves the previous checkpoint (the files are left behind for
// Abort or the next start to remove).
//
// It reads the store's current state (the previous checkpoint) to tell new
// keys from replaced ones, so nothing else may write the store until the
// files are ingested or abandoned.
//
// A checkpoint is made of parts (NewCheckpointParts): part i covers the
// slots [PartSlots(i)) of every database and has its own data files, spill
// file and scratch, so parts are written by different goroutines at once.
// A part's files never hold more than one database, so the files of
// different parts never overlap and one Ingest takes them all.
//
// Calls that touch one part (Put, PutFields, Delete, DeleteSlots within the
// part, WriteAside, CopyAside, PartBufferedBytes of a slot of the part) are
// NOT safe for concurrent use with each other: the walker and the client
// goroutines that front-run slots (WriteAside) share the part, and the
// caller (the snapshot package) serializes them with a mutex per part.
// Calls for different parts may run concurrently. Split, Finish, Abort,
// SpillBytes, BufferedBytes and a DeleteSlots across parts touch every
// part: nothing may run with them.
type Checkpoint struct {
	s     *Store
	dir   string
	rec   Record // Keys and Deletes are the parts' sums, taken by Finish
	parts []*part
	files []string // every part's files, then the system file (Finish)
	// The elemsKey bound of the store before the checkpoint, if known.
	elemsKnown bool
	elemsBase  int64
	catalog    []byte // the script catalog record to write (SetCatalog), or nil
}

// part is the share of a checkpoint covering slots [from, to) of every
// database.
type part struct {
	c        *Checkpoint
	idx      int
	from, to int
	files    []string
	cur      *SSTWriter
	curDB    int // the database of cur's records
	w        *writer
	last     []byte   // the last key base written in place, to check the order
	obuf     []byte   // order's scratch for a key's base
	written  slotSets // slots written in place (keys or DeleteSlots)
	sp       *spill   // slots written aside (aside.go)
	keys     int64    // Record.Keys of this part
	deletes  int64    // Record.Deletes of this part
}

// dataSink sends the writer's records to the part's current data file,
// opening one when needed, or to the spill file during WriteAside.
type dataSink struct{ p *part }

func (d dataSink) file() (*SSTWriter, error) {
	p := d.p
	if p.cur == nil {
		name := fmt.Sprintf("ckpt-%06d-%04d.sst", p.c.rec.Seq, len(p.files))
		if p.idx > 0 {
			name = fmt.Sprintf("ckpt-%06d-p%d-%04d.sst", p.c.rec.Seq, p.idx, len(p.files))
		}
		path := p.c.s.fs.PathJoin(p.c.dir, name)
		w, err := NewSSTWriter(p.c.s.fs, path, p.c.s.SSTOptions())
		if err != nil {
			return nil, err
		}
		p.cur = w
		p.files = append(p.files, path)
	}
	return p.cur, nil
}

func (d dataSink) set(k, v []byte) error {
	if d.p.sp.cur != nil {
		return d.p.sp.put(spillSet, k, v)
	}
	w, err := d.file()
	if err != nil {
		return err
	}
	return w.Set(k, v)
}

func (d dataSink) del(k []byte) error {
	if d.p.sp.cur != nil {
		return d.p.sp.put(spillDel, k, nil)
	}
	w, err := d.file()
	if err != nil {
		return err
	}
	return w.Delete(k)
}

func (d dataSink) delRange(start, end []byte) error {
	if d.p.sp.cur != nil {
		return d.p.sp.put(spillDelRange, start, end)
	}
	w, err := d.file()
	if err != nil {
		return err
	}
	return w.DeleteRange(start, end)
}

// NewCheckpoint starts checkpoint rec.Seq, writing its files into dir
// (created if needed, on the store's file system), as one part.
func (s *Store) NewCheckpoint(dir string, rec Record) (*Checkpoint, error) {
	return s.NewCheckpointParts(dir, rec, 1)
}

// NewCheckpointParts starts checkpoint rec.Seq in n parts (1 to 64) over
// equal slot ranges, to be written concurrently, one goroutine per part.
func (s *Store) NewCheckpointParts(dir string, rec Record, n int) (*Checkpoint, error) {
	if n < 1 || n > 64 {
		return nil, fmt.Errorf("disktier: checkpoint in %d parts: 1 to 64", n)
	}
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("disktier: checkpoint dir %s: %w", dir, err)
	}
	stored, err := storedSlots(s.db)
	if err != nil {
		return nil, err
	}
	elems, known, err := readElems(s.db)
	if err != nil {
		return nil, err
	}
	if !known && len(stored) == 0 {
		known = true // an empty store: no key has sub-keys
	}
	c := &Checkpoint{s: s, dir: dir, rec: rec, parts: make([]*part, n), elemsKnown: known, elemsBase: elems}
	for i := range c.parts {
		name := fmt.Sprintf("ckpt-%06d-aside.spill", rec.Seq)
		if i > 0 {
			name = fmt.Sprintf("ckpt-%06d-aside-%d.spill", rec.Seq, i)
		}
		p := &part{c: c, idx: i, from: i * memtier.NumSlots / n, to: (i + 1) * memtier.NumSlots / n,
			written: make(slotSets), sp: newSpill(s.fs, s.fs.PathJoin(dir, name))}
		p.w = newWriter(s.db, dataSink{p}, nil)
		p.w.stored = stored
		// Sized for a database's slots up front (part 0 gathers every
		// part's at Finish): growing them would leave each smaller table
		// behind as garbage, and a checkpoint's garbage is what the heap
		// budget of a running checkpoint pays for.
		slots := memtier.NumSlots / n
		if i == 0 {
			slots = memtier.NumSlots
		}
		p.w.counts = make(map[slotID]SlotCount, slots)
		p.w.deltas = make(map[slotID]SlotCount, slots)
		p.w.elemsFree = known && elems == 0
		c.parts[i] = p
	}
	return c, nil
}

// Parts is the number of parts of the checkpoint.
func (c *Checkpoint) Parts() int { return len(c.parts) }

// PartSlots is the slot range [from, to) part i covers in every database.
func (c *Checkpoint) PartSlots(i int) (from, to int) { return c.parts[i].from, c.parts[i].to }

// PartOf is the part covering slot (which must be a slot).
func (c *Checkpoint) PartOf(slot int) int {
	i := slot * len(c.parts) / memtier.NumSlots
	for i > 0 && slot < c.parts[i].from {
		i--
	}
	for i < len(c.parts)-1 && slot >= c.parts[i].to {
		i++
	}
	return i
}

func (c *Checkpoint) part(slot int) *part { return c.parts[c.PartOf(slot)] }

// enter prepares an in-place write to db: a part of a checkpoint in several
// parts keeps each file to one database (the other parts' files cover the
// rest of its slot ranges), so it closes the current file on a change of
// database. The order check still runs across files.
func (p *part) enter(db int) error {
	if p.cur != nil && db != p.curDB && len(p.c.parts) > 1 {
		err := p.cur.Close()
		p.cur = nil
		if err != nil {
			return err
		}
	}
	p.curDB = db
	return nil
}

// order checks that key (in slot of db) comes after everything written in
// place before, so a walker that jumps back gets a clear error telling it
// to Split first, not a corrupt file.
func (p *part) order(db, slot int, key []byte) error {
	p.obuf = appendKeyBase(p.obuf[:0], db, slot, key)
	base := p.obuf
	if p.sp.cur != nil {
		return p.sp.order(db, slot, base)
	}
	if p.sp.aside.has(db, slot) {
		// Keys front-run aside that sort before this one go first.
		if err := p.copyGroupsBefore(slotID{db, slot}, base); err != nil {
			return err
		}
	}
	if p.last != nil && string(base) <= string(p.last) {
		return fmt.Errorf("disktier: checkpoint key %q (db %d) out of order: Split before going back", key, db)
	}
	if err := p.enter(db); err != nil {
		return err
	}
	p.written.add(db, slot)
	// p.last is owned by the part (CopyAside hands it a range's copy,
	// which nothing else keeps), so it is overwritten in place.
	p.last = append(p.last[:0], base...)
	return nil
}

// Put writes key's whole value. Keys must come in key order within a file:
// by database, slot, then SortKeys order.
func (c *Checkpoint) Put(db int, key []byte, o *memtier.Object, expireAt int64) error {
	slot := memtier.SlotOf(key)
	p := c.part(slot)
	if err := p.order(db, slot, key); err != nil {
		return err
	}
	p.keys++
	return p.w.put(db, key, o, expireAt)
}

// PutFields writes key's metadata and the named elements only (see
// Batch.PutFields).
func (c *Checkpoint) PutFields(db int, key []byte, o *memtier.Object, expireAt int64, fields [][]byte) error {
	slot := memtier.SlotOf(key)
	p := c.part(slot)
	if err := p.order(db, slot, key); err != nil {
		return err
	}
	p.keys++
	return p.w.putFields(db, key, o, expireAt, fields)
}

// Delete writes the deletion of key (a tombstone of invariant 2).
func (c *Checkpoint) Delete(db int, key []byte) error {
	slot := memtier.SlotOf(key)
	p := c.part(slot)
	if err := p.order(db, slot, key); err != nil {
		return err
	}
	p.deletes++
	return p.w.delete(db, key)
}

// SetSlotCount gives the number of keys slot of db holds once the
// checkpoint is ingested, and how many of them have a TTL, as the caller
// knows them (the keyspace: the keys in memory plus the cold ones): the
// checkpoint writes them as the slot's count
// instead of counting new and deleted keys, and when the store holds no
// key under sub-keys (its bound of them is 0), the keys written to the slot
// need no lookup of their previous records. Call it before writing the
// slot (in place or inside WriteAside); it must be exact.
func (c *Checkpoint) SetSlotCount(db, slot int, keys, expires int64) error {
	if slot < 0 || slot >= memtier.NumSlots || keys < 0 || expires < 0 || expires > keys {
		return fmt.Errorf("disktier: count %d (%d with a TTL) of slot %d of db %d", keys, expires, slot, db)
	}
	c.part(slot).w.counts[slotID{db, slot}] = SlotCount{keys, expires}
	return nil
}

// DeleteSlots deletes every key of slots [from, to) of db as stored by the
// previous checkpoint (FLUSHDB, FLUSHALL, or a SWAPDB rewrite): call it
// before writing any key of those slots, in key order like the keys. A
// range over several parts is one range deletion per part.
//
// Inside WriteAside it may only delete the one slot being written aside,
// before any of its keys.
func (c *Checkpoint) DeleteSlots(db, from, to int) error {
	if from < 0 || to > memtier.NumSlots || from >= to {
		return fmt.Errorf("disktier: bad slot range [%d, %d)", from, to)
	}
	for _, p := range c.parts {
		if lo, hi := max(from, p.from), min(to, p.to); lo < hi {
			if err := p.deleteSlots(db, lo, hi); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *part) deleteSlots(db, from, to int) error {
	lo, _ := slotRange(db, from, to)
	if sp := p.sp; sp.cur != nil {
		if db != sp.cur.db || from != sp.cur.slot || to != from+1 || len(sp.last) > 0 {
			return fmt.Errorf("disktier: DeleteSlots [%d, %d) of db %d inside WriteAside of slot %d of db %d: only that slot, first", from, to, db, sp.cur.slot, sp.cur.db)
		}
		sp.first = append(sp.first[:0], lo...)
		sp.last = append(sp.last[:0], lo...)
		return p.w.deleteSlots(db, from, to)
	}
	if slot := p.sp.aside.anyIn(db, from, to); slot >= 0 {
		return fmt.Errorf("disktier: DeleteSlots [%d, %d) of db %d covers slot %d, written aside: delete around it", from, to, db, slot)
	}
	if p.last != nil && string(lo) <= string(p.last) {
		return fmt.Errorf("disktier: checkpoint slots [%d, %d) of db %d out of order: Split before going back", from, to, db)
	}
	if err := p.enter(db); err != nil {
		return err
	}
	for slot := from; slot < to; slot++ {
		p.written.add(db, slot)
	}
	p.last = lo
	return p.w.deleteSlots(db, from, to)
}

// Split closes the current data file of every part; the next write starts
// a new one. Files must not overlap: the walker splits where it goes back
// in the key order, and the ranges it writes after must not overlap earlier
// files.
func (c *Checkpoint) Split() error {
	for _, p := range c.parts {
		if p.sp.cur != nil {
			return errors.New("disktier: checkpoint Split inside WriteAside")
		}
	}
	var errs []error
	for _, p := range c.parts {
		errs = append(errs, p.split())
	}
	return errors.Join(errs...)
}

func (p *part) split() error {
	p.last = nil
	if p.cur == nil {
		return nil
	}
	err := p.cur.Close()
	p.cur = nil
	return err
}

// Finish closes the data files and writes the system file (key counts and
// the Record), returning every file for IngestCheckpoint. It removes the
// spill files, and refuses to finish while a slot written aside has not
// been copied (its records would be lost).
func (c *Checkpoint) Finish() ([]string, error) {
	if err := c.Split(); err != nil {
		return nil, err
	}
	w := c.parts[0].w
	for _, p := range c.parts {
		if err := p.w.close(); err != nil {
			return nil, fmt.Errorf("disktier: checkpoint lookups: %w", err)
		}
		for id := range p.sp.pending {
			return nil, fmt.Errorf("disktier: checkpoint finished with slot %d of db %d written aside and never copied (%d such slots)", id.slot, id.db, len(p.sp.pending))
		}
		if err := p.sp.remove(); err != nil {
			return nil, err
		}
		for _, f := range p.files {
			st, err := c.s.fs.Stat(f)
			if err != nil {
				return nil, fmt.Errorf("disktier: checkpoint file %s: %w", f, err)
			}
			c.rec.Bytes += st.Size()
		}
		c.files = append(c.files, p.files...)
		p.files = nil
		c.rec.Keys += p.keys
		c.rec.Deletes += p.deletes
		if p.w != w {
			// The parts' slots are disjoint: their count changes and
			// cleared ranges add up without overlapping.
			for id, d := range p.w.deltas {
				w.deltas[id] = w.deltas[id].plus(d)
			}
			for id, n := range p.w.counts {
				w.counts[id] = n
			}
			w.elems += p.w.elems
			for db, spans := range p.w.cleared {
				w.cleared[db] = append(w.cleared[db], spans...)
			}
		}
	}
	path := c.s.fs.PathJoin(c.dir, fmt.Sprintf("ckpt-%06d-sys.sst", c.rec.Seq))
	sys, err := NewSSTWriter(c.s.fs, path, c.s.SSTOptions())
	if err != nil {
		return nil, err
	}
	c.files = append(c.files, path)
	// The system records go to their own file, written last yet sorting
	// before all data, so it never overlaps a data file.
	w.sys = sys
	if err := w.finishCounts(); err != nil {
		return nil, err
	}
	if err := sys.Set(checkpointKey, c.rec.encode()); err != nil {
		return nil, err
	}
	if err := c.writeCatalog(sys); err != nil { // sorts after the Record
		return nil, err
	}
	if err := w.finishElems(c.elemsKnown, c.elemsBase); err != nil { // sorts after the Record
		return nil, err
	}
	if err := sys.Close(); err != nil {
		return nil, err
	}
	return c.files, nil
}

// Abort removes the files written so far and the spill files.
func (c *Checkpoint) Abort() error {
	var errs []error
	for _, p := range c.parts {
		errs = append(errs, p.w.close(), p.sp.remove())
		if p.cur != nil {
			errs = append(errs, p.cur.Close())
			p.cur = nil
		}
		c.files = append(c.files, p.files...)
		p.files = nil
	}
	for _, f := range c.files {
		if err := c.s.fs.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	c.files = nil
	return errors.Join(errs...)
}

// IngestCheckpoint makes a checkpoint's files part of the store in one
// Pebble Ingest: they become visible together, with the Record, or not at
// all (invariant 6). The files are moved into the store.
func (s *Store) IngestCheckpoint(files []string) error {
	if err := s.db.Ingest(context.Background(), files); err != nil {
		return fmt.Errorf("disktier: ingest checkpoint: %w", err)
	}
	s.changes.Add(1)
	return nil
}
