// Package snapshot takes StructD's checkpoints: incremental, point-in-time
// and atomic (DESIGN.md invariants 5, 6 and 8), without a fork and without
// a copy of the dataset.
//
// A checkpoint starts at a point in time P with the keyspace locked
// exclusively for an instant: the AOF starts a new segment (P is its start),
// and the keyspace begins tracking which slots the checkpoint has written.
// Then the walker visits every slot of every database in key order and
// writes the slot's dirty keys and tombstones into sorted SST files; one
// goroutine per CPU walks its own share of the slots of every database
// into its own files (a part of disktier's Checkpoint), so encoding and
// block compression use every core. A
// client write to a slot the walker has not reached yet first writes the
// keys it changes aside as they were at P, if they were dirty then
// (memtier's PrepareWrite calls aside), so every slot is written as it was
// at P; the walker copies those records in when it gets there.
// The files, plus the checkpoint record naming P, are ingested into Pebble
// in one Ingest, and only then is the AOF before P deleted.
//
// Extra memory is buffers: each part's SST writer blocks and spill buffers,
// and the list of one slot's changed keys at a time per part.
package snapshot

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
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
	// Parts is how many goroutines write the checkpoint, each its share
	// of every database's slots (disktier.NewCheckpointParts); 0 means
	// defaultParts.
	Parts int
	// Catalog is the script catalog stored with the checkpoint when it
	// changed (catalog.go); nil for none.
	Catalog Catalog
	// AtPoint, if set, is called at the checkpoint's point in time P,
	// with the keyspace locked exclusively: the replication offset read
	// there is P's (no write is between its change and its feed).
	AtPoint func()
}

// defaultParts is how many parts a checkpoint has, whatever the number of
// CPUs. A part's walker and the front-runs of its slots share its mutex,
// so parts are also how far writers that front-run spread out: on 2 CPUs,
// 8 parts instead of one per CPU served SET -P 16 -d 256 -r 1M with
// checkpoints running 253-260k req/s against 197-231k, for the same SAVE
// time (1M keys: 1.43-1.66 s against 1.51-1.55 s) and 3-4 MB more
// buffers.
const defaultParts = 8

// parts is the number of parts of the next checkpoint.
func (c *Checkpointer) parts() int {
	if c.Parts > 0 {
		return c.Parts
	}
	return defaultParts
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
	ck *disktier.Checkpoint
	// mu serializes each part's calls: its walker's and the front-runs of
	// its slots (disktier.Checkpoint's rule).
	mu []sync.Mutex
	// used is each part's memory at its last note; peak the most their
	// sum reached.
	used []atomic.Int64
	peak atomic.Int64
}

// lockAll takes every part's mutex, for the calls that touch every part.
func (r *run) lockAll() {
	for i := range r.mu {
		r.mu[i].Lock()
	}
}

func (r *run) unlockAll() {
	for i := range r.mu {
		r.mu[i].Unlock()
	}
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
	n := c.parts()
	r := &run{mu: make([]sync.Mutex, n), used: make([]atomic.Int64, n)}
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
	r.ck, err = c.Store.NewCheckpointParts(c.Dir, rec, n)
	if err != nil {
		c.KS.UnlockAll()
		return Result{}, err
	}
	catalogGen, catalogWritten, err := c.catalogAtP(r.ck)
	if err != nil {
		r.ck.Abort()
		c.KS.UnlockAll()
		return Result{}, err
	}
	if c.AtPoint != nil {
		c.AtPoint()
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
		r.lockAll()
		if abortErr := r.ck.Abort(); abortErr != nil {
			c.Logger.Warn("checkpoint files not removed", "dir", c.Dir, "err", abortErr)
		}
		r.unlockAll()
		return Result{}, err
	}
	if catalogWritten {
		c.Catalog.CatalogSaved(catalogGen)
	}
	r.lockAll()
	spill := r.ck.SpillBytes()
	r.unlockAll()
	res := Result{Duration: time.Since(start), PeakExtraMemory: r.peak.Load(), SpillBytes: spill}
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

// walk writes every slot of every database in key order, each part of
// the checkpoint by its own goroutine, and finishes the checkpoint's files.
// The first failure stops every part.
func (c *Checkpointer) walk(r *run) ([]string, error) {
	var (
		wg   sync.WaitGroup
		stop atomic.Bool
		errs = make([]error, len(r.mu))
	)
	for i := range r.mu {
		wg.Go(func() {
			if errs[i] = c.walkPart(r, i, &stop); errs[i] != nil {
				stop.Store(true)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	r.lockAll()
	defer r.unlockAll()
	return r.ck.Finish()
}

// walkPart writes part i's slots of every database, in key order, until
// stop is set.
func (c *Checkpointer) walkPart(r *run, i int, stop *atomic.Bool) error {
	// One interface value for the whole walk: converting the struct at
	// each of the slots allocates.
	var w memtier.SlotWriter = slotWriter{r: r, lock: true}
	from, to := r.ck.PartSlots(i)
	for db := 0; db < c.KS.NumDBs(); db++ {
		if !c.KS.CheckpointCovers(db) {
			continue
		}
		for s := from; s < to; s++ {
			if stop.Load() {
				return nil
			}
			// What writes front-ran in the slot is copied after the
			// walker's own records of it (disktier merges them).
			_, err := c.KS.WriteSlot(db, s, w)
			if err == nil {
				r.mu[i].Lock()
				var copied bool
				if copied, err = r.ck.CopyAside(db, s); copied {
					r.notePeak(i, s, 0)
				}
				r.mu[i].Unlock()
			}
			if err == nil {
				err = c.KS.CheckpointErr()
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// aside is the keyspace's front-run hook (memtier.AsideFunc): a write is
// about to change slot of db, which the walker has not reached.
func (r *run) aside(db, slot int, write func(memtier.SlotWriter) error) error {
	i := r.ck.PartOf(slot)
	r.mu[i].Lock()
	defer r.mu[i].Unlock()
	return r.ck.WriteAside(db, slot, func() error { return write(slotWriter{r: r}) })
}

// notePeak records the memory part i (the part of slot) uses now: its
// buffers plus extra, the walker's own for the slot at hand; the peak is
// the most the parts' sum reached. Caller holds r.mu[i].
func (r *run) notePeak(i, slot int, extra int64) {
	r.used[i].Store(r.ck.PartBufferedBytes(slot) + extra)
	var sum int64
	for j := range r.used {
		sum += r.used[j].Load()
	}
	for {
		p := r.peak.Load()
		if sum <= p || r.peak.CompareAndSwap(p, sum) {
			return
		}
	}
}

// slotWriter writes one slot's changes into the checkpoint; lock says
// whether it must take its part's mutex (the walker) or already holds it
// (a front-run, inside WriteAside).
type slotWriter struct {
	r    *run
	lock bool
}

// entryBytes is what one entry of a slot's change list costs the walk.
const entryBytes = int64(unsafe.Sizeof(memtier.SlotEntry{}) + unsafe.Sizeof([]byte(nil)))

// WriteSlot implements memtier.SlotWriter: the keys in Pebble's order,
// after the deletion of the whole slot when it is rewritten.
func (w slotWriter) WriteSlot(db, slot int, rewrite bool, count memtier.SlotCount, entries []memtier.SlotEntry) error {
	r := w.r
	part := r.ck.PartOf(slot)
	if w.lock {
		r.mu[part].Lock()
		defer r.mu[part].Unlock()
	}
	runtime.KeepAlive(touch(entries)) // KeepAlive: the reads are the point
	slices.SortFunc(entries, func(a, b memtier.SlotEntry) int {
		return disktier.KeyCompare(keyBytes(a.Key), keyBytes(b.Key))
	})
	r.notePeak(part, slot, int64(cap(entries))*entryBytes)
	if err := r.ck.SetSlotCount(db, slot, count.Keys, count.Expires); err != nil {
		return err
	}
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

// touch reads the first byte of each entry's key, object and string value
// before the sort and the encoder do. A slot's keys, objects and values lie
// anywhere in the heap, so each is a cache miss (and on a VM often a TLB
// miss too); the reads here do not depend on one another (the values'
// on their objects only), so the CPU overlaps their misses, where the
// sort and the encoder would wait for each in turn. It returns a byte
// of what it read, so the reads are not optimised away.
func touch(entries []memtier.SlotEntry) byte {
	var sum byte
	for i := range entries {
		e := &entries[i]
		if len(e.Key) > 0 {
			sum ^= e.Key[0]
		}
		if e.Obj != nil {
			sum ^= byte(e.Obj.Type)
		}
	}
	for i := range entries {
		if o := entries[i].Obj; o != nil && o.Type == memtier.TypeString {
			if b := o.Bytes(); len(b) > 0 {
				sum ^= b[0]
			}
		}
	}
	return sum
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
