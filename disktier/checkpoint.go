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
// A Checkpoint is NOT safe for concurrent use. The walker and the client
// goroutines that front-run slots (WriteAside) share it: the caller (the
// snapshot package) serializes every call with its own mutex.
type Checkpoint struct {
	s       *Store
	dir     string
	rec     Record
	files   []string
	cur     *SSTWriter
	w       *writer
	last    []byte   // the last key base written to cur, to check the order
	obuf    []byte   // order's scratch for a key's base
	written slotSets // slots written in place (keys or DeleteSlots)
	sp      *spill   // slots written aside (aside.go)
}

// dataSink sends the writer's records to the current data file, opening one
// when needed, or to the spill file during WriteAside.
type dataSink struct{ c *Checkpoint }

func (d dataSink) file() (*SSTWriter, error) {
	if d.c.cur == nil {
		path := d.c.s.fs.PathJoin(d.c.dir, fmt.Sprintf("ckpt-%06d-%04d.sst", d.c.rec.Seq, len(d.c.files)))
		w, err := NewSSTWriter(d.c.s.fs, path, d.c.s.SSTOptions())
		if err != nil {
			return nil, err
		}
		d.c.cur = w
		d.c.files = append(d.c.files, path)
	}
	return d.c.cur, nil
}

func (d dataSink) set(k, v []byte) error {
	if d.c.sp.cur != nil {
		return d.c.sp.put(spillSet, k, v)
	}
	w, err := d.file()
	if err != nil {
		return err
	}
	return w.Set(k, v)
}

func (d dataSink) del(k []byte) error {
	if d.c.sp.cur != nil {
		return d.c.sp.put(spillDel, k, nil)
	}
	w, err := d.file()
	if err != nil {
		return err
	}
	return w.Delete(k)
}

func (d dataSink) delRange(start, end []byte) error {
	if d.c.sp.cur != nil {
		return d.c.sp.put(spillDelRange, start, end)
	}
	w, err := d.file()
	if err != nil {
		return err
	}
	return w.DeleteRange(start, end)
}

// NewCheckpoint starts checkpoint rec.Seq, writing its files into dir
// (created if needed, on the store's file system).
func (s *Store) NewCheckpoint(dir string, rec Record) (*Checkpoint, error) {
	if err := s.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("disktier: checkpoint dir %s: %w", dir, err)
	}
	spill := newSpill(s.fs, s.fs.PathJoin(dir, fmt.Sprintf("ckpt-%06d-aside.spill", rec.Seq)))
	stored, err := storedSlots(s.db)
	if err != nil {
		return nil, err
	}
	c := &Checkpoint{s: s, dir: dir, rec: rec, written: make(slotSets), sp: spill}
	c.w = newWriter(s.db, dataSink{c}, nil)
	c.w.stored = stored
	return c, nil
}

// order checks that key (in slot of db) comes after everything written to
// the current file, so a walker that jumps back gets a clear error telling
// it to Split first, not a corrupt file.
func (c *Checkpoint) order(db int, key []byte) error {
	slot := memtier.SlotOf(key)
	c.obuf = appendKeyBase(c.obuf[:0], db, slot, key)
	base := c.obuf
	if c.sp.cur != nil {
		return c.sp.order(db, slot, base)
	}
	if c.sp.aside.has(db, slot) {
		return fmt.Errorf("disktier: checkpoint key %q (db %d): its slot %d was written aside: CopyAside it instead", key, db, slot)
	}
	c.written.add(db, slot)
	if c.cur != nil && c.last != nil && string(base) <= string(c.last) {
		return fmt.Errorf("disktier: checkpoint key %q (db %d) out of order: Split before going back", key, db)
	}
	// c.last is owned by the Checkpoint (CopyAside hands it a range's
	// copy, which nothing else keeps), so it is overwritten in place.
	c.last = append(c.last[:0], base...)
	return nil
}

// Put writes key's whole value. Keys must come in key order within a file:
// by database, slot, then SortKeys order.
func (c *Checkpoint) Put(db int, key []byte, o *memtier.Object, expireAt int64) error {
	if err := c.order(db, key); err != nil {
		return err
	}
	c.rec.Keys++
	return c.w.put(db, key, o, expireAt)
}

// PutFields writes key's metadata and the named elements only (see
// Batch.PutFields).
func (c *Checkpoint) PutFields(db int, key []byte, o *memtier.Object, expireAt int64, fields [][]byte) error {
	if err := c.order(db, key); err != nil {
		return err
	}
	c.rec.Keys++
	return c.w.putFields(db, key, o, expireAt, fields)
}

// Delete writes the deletion of key (a tombstone of invariant 2).
func (c *Checkpoint) Delete(db int, key []byte) error {
	if err := c.order(db, key); err != nil {
		return err
	}
	c.rec.Deletes++
	return c.w.delete(db, key)
}

// DeleteSlots deletes every key of slots [from, to) of db as stored by the
// previous checkpoint (FLUSHDB, FLUSHALL, or a SWAPDB rewrite): call it
// before writing any key of those slots, in key order like the keys.
//
// Inside WriteAside it may only delete the one slot being written aside,
// before any of its keys.
func (c *Checkpoint) DeleteSlots(db, from, to int) error {
	if from < 0 || to > memtier.NumSlots || from >= to {
		return fmt.Errorf("disktier: bad slot range [%d, %d)", from, to)
	}
	lo, _ := slotRange(db, from, to)
	if sp := c.sp; sp.cur != nil {
		if db != sp.cur.db || from != sp.cur.slot || to != from+1 || len(sp.last) > 0 {
			return fmt.Errorf("disktier: DeleteSlots [%d, %d) of db %d inside WriteAside of slot %d of db %d: only that slot, first", from, to, db, sp.cur.slot, sp.cur.db)
		}
		sp.last = append(sp.last[:0], lo...)
		return c.w.deleteSlots(db, from, to)
	}
	if slot := c.sp.aside.anyIn(db, from, to); slot >= 0 {
		return fmt.Errorf("disktier: DeleteSlots [%d, %d) of db %d covers slot %d, written aside: delete around it", from, to, db, slot)
	}
	for slot := from; slot < to; slot++ {
		c.written.add(db, slot)
	}
	if c.cur != nil && c.last != nil && string(lo) <= string(c.last) {
		return fmt.Errorf("disktier: checkpoint slots [%d, %d) of db %d out of order: Split before going back", from, to, db)
	}
	c.last = lo
	return c.w.deleteSlots(db, from, to)
}

// Split closes the current data file; the next write starts a new one.
// Files must not overlap: the walker splits where it goes back in the key
// order, and the ranges it writes after must not overlap earlier files.
func (c *Checkpoint) Split() error {
	if c.sp.cur != nil {
		return errors.New("disktier: checkpoint Split inside WriteAside")
	}
	if c.cur == nil {
		return nil
	}
	err := c.cur.Close()
	c.cur, c.last = nil, nil
	return err
}

// Finish closes the data files and writes the system file (key counts and
// the Record), returning every file for IngestCheckpoint. It removes the
// spill file, and refuses to finish while a slot written aside has not
// been copied (its records would be lost).
func (c *Checkpoint) Finish() ([]string, error) {
	if err := c.Split(); err != nil {
		return nil, err
	}
	for id := range c.sp.pending {
		return nil, fmt.Errorf("disktier: checkpoint finished with slot %d of db %d written aside and never copied (%d such slots)", id.slot, id.db, len(c.sp.pending))
	}
	if err := c.sp.remove(); err != nil {
		return nil, err
	}
	for _, f := range c.files {
		st, err := c.s.fs.Stat(f)
		if err != nil {
			return nil, fmt.Errorf("disktier: checkpoint file %s: %w", f, err)
		}
		c.rec.Bytes += st.Size()
	}
	path := c.s.fs.PathJoin(c.dir, fmt.Sprintf("ckpt-%06d-sys.sst", c.rec.Seq))
	w, err := NewSSTWriter(c.s.fs, path, c.s.SSTOptions())
	if err != nil {
		return nil, err
	}
	c.files = append(c.files, path)
	// The system records go to their own file, written last yet sorting
	// before all data, so it never overlaps a data file.
	c.w.sys = w
	if err := c.w.finishCounts(); err != nil {
		return nil, err
	}
	if err := w.Set(checkpointKey, c.rec.encode()); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return c.files, nil
}

// Abort removes the files written so far and the spill file.
func (c *Checkpoint) Abort() error {
	errs := []error{c.sp.remove()}
	if c.cur != nil {
		errs = append(errs, c.cur.Close())
		c.cur = nil
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
	return nil
}
