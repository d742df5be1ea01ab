// Package snapshot takes StructD's checkpoints: incremental, point-in-time
// and atomic (DESIGN.md invariants 5, 6 and 8), without a fork and without
// a copy of the dataset.
//
// A checkpoint starts at a point in time P with the keyspace locked
// exclusively for an instant: the AOF starts a new segment (P is its start),
// and the keyspace begins tracking which slots the checkpoint has written.
// Then the walker visits every slot of every database in key order and
// writes the slot's dirty keys and tombstones into sorted SST files. A
// client write to a slot the walker has not reached yet first writes that
// slot aside (memtier's PrepareWrite calls Aside), so every slot is written
// as it was at P; the walker copies those records in when it gets there.
// The files, plus the checkpoint record naming P, are ingested into Pebble
// in one Ingest, and only then is the AOF before P deleted.
//
// Extra memory is buffers: the SST writers' blocks, the spill's buffers, and
// the list of one slot's changed keys at a time.
package snapshot

import (
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
	"unsafe"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/disktier"
	"github.com/structd/structd/memtier"
)

// Log is the redo log as a checkpoint uses it (aof.Writer).
type Log interface {
	// Rotate starts a new segment; Pos after it is that segment's start.
	Rotate() error
	Pos() aof.Pos
	// Sync makes everything appended so far durable, including the new
	// segment's name.
	Sync() error
	// TruncateBefore deletes the segments before a committed checkpoint's
	// position.
	TruncateBefore(aof.Pos) (int, error)
}

// Checkpointer takes checkpoints of one keyspace into one store. Run calls
// must not overlap (the server runs one at a time).
type Checkpointer struct {
	KS    *memtier.Keyspace
	Store *disktier.Store
	// Log is the AOF, or nil when appendonly is off: the checkpoint then
	// records no log position.
	Log Log
	// Dir is where the checkpoint's files are written before ingestion: a
	// directory on the store's file system, emptied by each checkpoint.
	Dir    string
	Logger *slog.Logger
}

// Result describes a committed checkpoint.
type Result struct {
	Record   disktier.Record
	Duration time.Duration
	// PeakExtraMemory is the most memory the checkpoint held beyond the
	// dataset at any moment: the spill's and the walk's buffers.
	PeakExtraMemory int64
	// SpillBytes is what front-run slots wrote to the spill file.
	SpillBytes int64
}

// run is one checkpoint in progress.
type run struct {
	mu   sync.Mutex // serializes the walker's and front-runs' writes to ck
	ck   *disktier.Checkpoint
	peak int64
}

// Run takes a checkpoint and commits it. On failure nothing is committed,
// every change it would have written stays dirty for the next one, and the
// AOF is untouched.
func (c *Checkpointer) Run() (Result, error) {
	start := time.Now()
	prev, _, err := c.Store.Record()
	if err != nil {
		return Result{}, err
	}
	if err := c.removeDir(); err != nil {
		return Result{}, err
	}
	r := &run{}
	rec := disktier.Record{Seq: prev.Seq + 1}

	// P: no command runs between its change and its log record, so with
	// the keyspace held the log position and the memory state agree.
	c.KS.LockAll()
	if c.Log != nil {
		if err := c.Log.Rotate(); err != nil {
			c.KS.UnlockAll()
			return Result{}, fmt.Errorf("snapshot: rotate the AOF: %w", err)
		}
		p := c.Log.Pos()
		rec.AOFSegment, rec.AOFOffset = p.Seg, uint64(p.Off)
	}
	rec.TimeMs = c.KS.NowMs()
	r.ck, err = c.Store.NewCheckpoint(c.Dir, rec)
	if err != nil {
		c.KS.UnlockAll()
		return Result{}, err
	}
	c.KS.BeginCheckpoint(r.aside)
	c.KS.UnlockAll()

	files, err := c.walk(r)
	committed := false
	if err == nil && c.Log != nil {
		// The segment P names must exist on disk before the record that
		// names it does.
		err = c.Log.Sync()
	}
	if err == nil {
		err = c.Store.IngestCheckpoint(files)
		committed = err == nil
	}
	c.KS.EndCheckpoint(committed)
	if !committed {
		r.mu.Lock()
		if abortErr := r.ck.Abort(); abortErr != nil {
			c.Logger.Warn("checkpoint files not removed", "dir", c.Dir, "err", abortErr)
		}
		r.mu.Unlock()
		return Result{}, err
	}
	res := Result{Duration: time.Since(start), PeakExtraMemory: r.peak, SpillBytes: r.ck.SpillBytes()}
	res.Record, _, err = c.Store.Record()
	if err != nil {
		return res, err
	}
	if c.Log != nil {
		if _, err := c.Log.TruncateBefore(aof.Pos{Seg: rec.AOFSegment, Off: int64(rec.AOFOffset)}); err != nil {
			// The checkpoint is committed; old segments are garbage that
			// the next checkpoint deletes.
			c.Logger.Warn("old AOF segments not deleted", "err", err)
		}
	}
	return res, nil
}

// walk writes every slot of every database in key order and finishes the
// checkpoint's files.
func (c *Checkpointer) walk(r *run) ([]string, error) {
	w := slotWriter{r: r, lock: true}
	for db := 0; db < c.KS.NumDBs(); db++ {
		for s := 0; s < memtier.NumSlots; s++ {
			aside, err := c.KS.WriteSlot(db, s, w)
			if err == nil && aside {
				r.mu.Lock()
				_, err = r.ck.CopyAside(db, s)
				r.notePeak(0)
				r.mu.Unlock()
			}
			if err == nil {
				err = c.KS.CheckpointErr()
			}
			if err != nil {
				return nil, err
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ck.Finish()
}

// aside is the keyspace's front-run hook (memtier.AsideFunc): a write is
// about to change slot of db, which the walker has not reached.
func (r *run) aside(db, slot int, write func(memtier.SlotWriter) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ck.WriteAside(db, slot, func() error { return write(slotWriter{r: r}) })
}

// notePeak records the memory in use now: the checkpoint's buffers plus
// extra, the walker's own for the slot at hand. Caller holds r.mu.
func (r *run) notePeak(extra int64) {
	if m := r.ck.BufferedBytes() + extra; m > r.peak {
		r.peak = m
	}
}

// slotWriter writes one slot's changes into the checkpoint; lock says
// whether it must take r.mu (the walker) or already holds it (a front-run,
// inside WriteAside).
type slotWriter struct {
	r    *run
	lock bool
}

// entryBytes is what one entry of a slot's change list costs the walk.
const entryBytes = int64(unsafe.Sizeof(memtier.SlotEntry{}) + unsafe.Sizeof([]byte(nil)))

// WriteSlot implements memtier.SlotWriter: the keys in Pebble's order,
// after the deletion of the whole slot when it is rewritten.
func (w slotWriter) WriteSlot(db, slot int, rewrite bool, entries []memtier.SlotEntry) error {
	r := w.r
	if w.lock {
		r.mu.Lock()
		defer r.mu.Unlock()
	}
	slices.SortFunc(entries, func(a, b memtier.SlotEntry) int {
		switch {
		case disktier.KeyLess(keyBytes(a.Key), keyBytes(b.Key)):
			return -1
		case a.Key == b.Key:
			return 0
		}
		return 1
	})
	r.notePeak(int64(cap(entries)) * entryBytes)
	if rewrite {
		if err := r.ck.DeleteSlots(db, slot, slot+1); err != nil {
			return err
		}
	}
	for _, e := range entries {
		var err error
		switch {
		case e.Obj == nil:
			err = r.ck.Delete(db, keyBytes(e.Key))
		case e.Elems != nil:
			fields := make([][]byte, len(e.Elems))
			for i, el := range e.Elems {
				fields[i] = keyBytes(el)
			}
			err = r.ck.PutFields(db, keyBytes(e.Key), e.Obj, e.ExpireAt, fields)
		default:
			err = r.ck.Put(db, keyBytes(e.Key), e.Obj, e.ExpireAt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// keyBytes is k's bytes without a copy; the disk tier only reads them.
func keyBytes(k string) []byte { return unsafe.Slice(unsafe.StringData(k), len(k)) }

// removeDir clears what an earlier checkpoint that did not finish (a crash
// before ingestion) left in Dir.
func (c *Checkpointer) removeDir() error {
	fs := c.Store.FS()
	if err := fs.RemoveAll(c.Dir); err != nil {
		return fmt.Errorf("snapshot: clear %s: %w", c.Dir, err)
	}
	return nil
}
