package memtier

import (
	"fmt"
	"sync"
	"sync/atomic"
)

// The keyspace's side of persistence (DESIGN.md invariants 1, 2, 5 and 8).
//
// Pebble holds the whole dataset as of the last committed checkpoint C; the
// keyspace holds a subset of it plus everything changed since. Per slot of
// each database it keeps:
//
//   - cold: how many keys of the slot are on disk and not in memory. While it
//     is above zero a miss asks the disk tier (ColdStore) before answering
//     "no such key", and a faulted-in key is clean.
//   - dirty (markDirty on a key of the slot's table, slotkeys.go): the keys
//     changed since a checkpoint last wrote the slot. A dirty key with a
//     value is written by the next checkpoint; one without is a tombstone,
//     written as a deletion (invariant 2), and is never faulted back in
//     from the stale disk copy.
//   - rewrite: the slot's disk copy is stale as a whole (FLUSHDB, FLUSHALL,
//     SWAPDB, persistence switched on): the next checkpoint deletes the
//     slot on disk and writes every key in memory. Such a slot has no cold
//     keys.
//   - written: the epoch of the last checkpoint that wrote the slot, for the
//     point-in-time rule (invariant 5): while checkpoint E runs, what a
//     write changes in a slot with written < E is written as it was at E's
//     point in time P (front-run, through the AsideFunc) before the write.
//     PrepareWrite does that; every write path calls it with the slot's
//     lock held. It front-runs only the keys the write names: a key dirty
//     at P is written aside, a key clean at P needs nothing (the disk has
//     it as it was at P), and the slot becomes split until the walker
//     reaches it. A slot with nothing dirty at P is marked written only
//     when a write first reaches it (frontRun), not by the walker.
//   - A database with no dirty key and no slot to rewrite at P is left out
//     of the checkpoint whole (DB.inCheckpoint, Keyspace.CheckpointCovers):
//     the walker skips it and writes to it front-run nothing. A write
//     during a checkpoint then reads the key's slot only in the databases
//     with something to write, and neither it nor the walker writes to an
//     unused database's slots, whose untouched memory would cost a page
//     fault with a TLB shootdown at the first write.
//   - split: while a slot is split, markDirty is on the keys dirty at P
//     that are not written yet (the walker writes them), and the changes
//     made since P get markSince, which becomes markDirty when the walker
//     is done with the slot. split also keeps the slot's key count at
//     P, what the checkpoint records for the slot. A write that names no
//     keys (FLUSHALL, SWAPDB) front-runs whole slots instead (frontRun).
//   - pending/pendingRewrite (markPending): what the running checkpoint
//     wrote for the slot and has not committed yet. Until it commits the disk still has the old
//     copy, so pending tombstones still block fault-in; if it fails they go
//     back to dirty.
//
// All of it is guarded by the slot's lock, like the slot's keys.

// ColdStore is the disk tier as the keyspace reads it: the state of the
// last committed checkpoint. The snapshot package adapts disktier to it.
type ColdStore interface {
	// Load returns key's value and expiry (absolute Unix ms, 0 for none),
	// or a nil object when the store does not hold it.
	Load(db int, key []byte) (*Object, int64, error)
	// Probe returns key's type and expiry without reading its value (a
	// big collection's elements stay on disk); found is false when the
	// store does not hold it.
	Probe(db int, key []byte) (typ Type, expireAt int64, found bool, err error)
	// LoadSlot calls fn for every key stored in a slot of a database.
	// key is only valid during the call.
	LoadSlot(db, slot int, fn func(key []byte, o *Object, expireAt int64) bool) error
	// SlotKeys calls fn for every key stored in a slot of a database,
	// without reading values. key is only valid during the call.
	SlotKeys(db, slot int, fn func(key []byte, expireAt int64) bool) error
	// SlotCounts calls fn for each slot of db holding keys, with their
	// number and how many of them have a TTL (-1 when the store does not
	// know).
	SlotCounts(db int, fn func(slot int, keys, expires int64) bool) error
}

// DiskError is raised (as a panic caught by the command layer, which
// replies with it) when a key must be read from the disk tier and cannot
// be: a checksum mismatch, a record that does not decode, an I/O error.
// The lookup that needed the key cannot answer without it, and answering
// "no such key" would let a write replace data that still exists.
type DiskError struct {
	DB  int
	Key string
	Err error
}

func (e *DiskError) Error() string {
	return fmt.Sprintf("disk tier read of key '%s' in db %d failed: %v", e.Key, e.DB, e.Err)
}

func (e *DiskError) Unwrap() error { return e.Err }

// SlotEntry is one key a checkpoint writes: its value and expiry, or its
// deletion when Obj is nil.
type SlotEntry struct {
	Key      string
	Obj      *Object
	ExpireAt int64
	// Elems, when not nil, are the only elements of Obj (a hash, set or
	// sorted set) that changed: the writer may write those and the
	// metadata instead of the whole value.
	Elems []string
}

// SlotWriter receives the keys of one slot that a checkpoint writes, with
// the slot's lock held: the objects must be encoded before it returns.
// rewrite asks for every key the disk holds in the slot to be deleted
// first. keys is how many keys the slot holds once written: the keys in
// memory plus the cold ones (a clean key in memory is on disk as it is, a
// cold key is on disk, and every other change is among the entries).
// Entries come in no particular order.
type SlotWriter interface {
	WriteSlot(db, slot int, rewrite bool, count SlotCount, entries []SlotEntry) error
}

// SlotCount is a slot's number of keys and, of those, keys with a TTL, as a
// checkpoint writes them (expired keys not yet reclaimed included).
type SlotCount struct{ Keys, Expires int64 }

// AsideFunc writes a slot out of order for the running checkpoint: it is
// called by PrepareWrite, with the slot's lock held, before the first write
// to a slot the checkpoint has not reached yet, and must call write with the
// SlotWriter that puts the records aside.
type AsideFunc func(db, slot int, write func(SlotWriter) error) error

// checkpointState is the running checkpoint as the keyspace sees it.
type checkpointState struct {
	running atomic.Bool
	// epoch is the running (or last) checkpoint's number; written under
	// LockAll, read under any slot lock.
	epoch uint32
	aside AsideFunc

	// covers[i] says database i had something to write at P (its
	// DB's inCheckpoint then); written under LockAll, then only read.
	covers []bool

	mu      sync.Mutex
	err     error         // first front-run failure
	failed  atomic.Bool   // err is set: the walker asks at every slot
	written []writtenSlot // slots holding pending state
}

type writtenSlot struct {
	db   *DB
	slot int
}

// splitState is a slot the running checkpoint has not written but whose
// keys writes have front-run one by one (see the top of this file). The
// keys changed since P have markSince.
type splitState struct {
	elems    map[string]map[string]struct{} // of the keys changed since P, the ones changed only in these elements
	countAtP SlotCount                      // the slot's counts at P
}

// changes returns the mark a change to the slot is recorded with, and the
// keys' changed elements: markDirty, or while the slot is split, markSince.
func (sd *slotData) changes() (mark uint8, elems *map[string]map[string]struct{}) {
	if sp := sd.split; sp != nil {
		return markSince, &sp.elems
	}
	return markDirty, &sd.elems
}

// isDirty reports whether key of the slot differs from the disk's copy as
// of the last committed checkpoint, or is about to.
func (sd *slotData) isDirty(key string) bool {
	return sd.keys.isMarked(key, markDirty|markSince)
}

// PersistStats are the persistence figures INFO reports.
type PersistStats struct {
	DirtyKeys atomic.Int64 // keys in dirty sets (checkpoint_dirty_keys)
	ColdKeys  atomic.Int64 // keys on disk not yet in memory (cold_keys)
	Unloaded  atomic.Int64 // clean keys dropped from memory under maxmemory (evict.go)
	// UnpreparedWrites counts keys changed in a slot the running
	// checkpoint had not written, without PrepareWrite first: a write path
	// that breaks invariant 5. Tests require it to stay zero.
	UnpreparedWrites atomic.Int64
}

// AttachStore makes the keyspace persistent over cold, the state of the
// last committed checkpoint: from now on every change is tracked for the
// next checkpoint, and the slots cold holds keys of are faulted in on
// demand. Call it once, before the keyspace is used.
func (ks *Keyspace) AttachStore(cold ColdStore) error {
	ks.cold = cold
	ks.tracking = true
	for _, db := range ks.dbs {
		var unknown []int // slots whose TTL count the store does not know
		err := cold.SlotCounts(db.id, func(slot int, n, expires int64) bool {
			db.slots[slot].cold = n
			db.size.Add(n)
			db.groupLen[slot/slotsPerGroup].Add(n)
			ks.Persist.ColdKeys.Add(n)
			if expires < 0 {
				unknown = append(unknown, slot)
			} else {
				db.slots[slot].coldExpires = expires
				db.coldExpiry.Add(expires)
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("memtier: key counts of db %d: %w", db.id, err)
		}
		for _, slot := range unknown {
			var expires int64
			err := cold.SlotKeys(db.id, slot, func(_ []byte, expireAt int64) bool {
				expires += b2i(expireAt != 0)
				return true
			})
			if err != nil {
				return fmt.Errorf("memtier: keys with a TTL in slot %d of db %d: %w", slot, db.id, err)
			}
			db.slots[slot].coldExpires = expires
			db.coldExpiry.Add(expires)
		}
	}
	return nil
}

// Persistent reports whether changes are tracked for checkpoints.
func (ks *Keyspace) Persistent() bool { return ks.tracking }

// markDirty records that key of slot s changed since the last checkpoint.
// It takes the key as the command has it: a key changed again since it
// became dirty costs one lookup and no copy.
func (db *DB) markDirty(s int, key []byte) { markDirtyKey(db, s, unsafeString(key), true) }

// markDirtyKey is markDirty for a key as a string: one the dirty set may
// keep (the string the slot's keys hold, shared, not copied), or when
// borrowed is set, one it must copy to keep.
func markDirtyKey(db *DB, s int, key string, borrowed bool) {
	if !db.ks.tracking {
		return
	}
	if _, elems := db.slots[s].changes(); *elems != nil {
		delete(*elems, key) // the whole key changed
	}
	if addDirty(db, s, key, borrowed) {
		checkPrepared(db, s, key)
	}
}

// checkPrepared counts a change to key of slot s that PrepareWrite did not
// front-run while the running checkpoint has not written the slot: a write
// path that breaks invariant 5. Tests require the count to stay zero.
func checkPrepared(db *DB, s int, key string) {
	ck := &db.ks.ck
	if !ck.running.Load() || !db.inCheckpoint {
		return
	}
	sd := &db.slots[s]
	if sd.split != nil {
		if sd.keys.isMarked(key, markDirty) {
			db.ks.Persist.UnpreparedWrites.Add(1) // its state at P is lost
		}
		return
	}
	if sd.written != ck.epoch {
		db.ks.Persist.UnpreparedWrites.Add(1)
	}
}

// maxDirtyElems bounds the elements remembered per dirty key: past it the
// whole key is written, which then costs about as much.
const maxDirtyElems = 1024

// MarkDirtyElems records that only the given elements (hash fields, set or
// sorted set members) of key changed, with its metadata, so the next
// checkpoint writes those instead of the whole collection (invariant 8
// within a key: checkpointing a collection of millions of elements costs
// what changed in it). A key already dirty as a whole stays so. Caller
// holds the key's slot lock.
func (db *DB) MarkDirtyElems(key []byte, elems [][]byte) {
	if !db.ks.tracking {
		return
	}
	s := SlotOf(key)
	_, dirtyElems := db.slots[s].changes()
	set, partial := (*dirtyElems)[string(key)]
	if !partial {
		if !addDirty(db, s, unsafeString(key), true) {
			return // dirty as a whole already (or the slot is rewritten)
		}
		checkPrepared(db, s, unsafeString(key))
		set = make(map[string]struct{}, len(elems))
		if *dirtyElems == nil {
			*dirtyElems = make(map[string]map[string]struct{})
		}
		(*dirtyElems)[string(key)] = set
	}
	for _, e := range elems {
		set[string(e)] = struct{}{}
	}
	if len(set) > maxDirtyElems {
		delete(*dirtyElems, string(key))
	}
}

// markExpired records the removal of a key whose TTL passed. Expiry needs
// no PrepareWrite: a checkpoint that writes the slot afterwards writes the
// deletion of a key that had expired by its point in time anyway, and the
// log's DEL of it replays as a no-op.
//
// In a split slot, a key no write touched since P existed at P: its
// deletion joins the keys the walker writes, and the count at P loses it.
func (db *DB) markExpired(s int, key string) {
	if !db.ks.tracking {
		return
	}
	sd := &db.slots[s]
	if sp := sd.split; sp != nil {
		if !sd.keys.isMarked(key, markSince|markPending) {
			sp.countAtP.Keys-- // and it had a TTL:
			sp.countAtP.Expires--
			delete(sd.elems, key)
			addToSet(db, sd, markDirty, key, false)
			return
		}
	}
	addDirty(db, s, key, false)
}

// addDirty records a change to key of slot s (changes) and reports whether
// the key was not dirty yet. A borrowed key is copied if it is added.
func addDirty(db *DB, s int, key string, borrowed bool) bool {
	sd := &db.slots[s]
	if sd.rewrite {
		return false // the next checkpoint writes the whole slot anyway
	}
	mark, _ := sd.changes()
	return addToSet(db, sd, mark, key, borrowed)
}

// addToSet gives key of slot sd mark, markDirty or markSince, and reports
// whether it lacked it. A borrowed key is copied if the slot has to keep
// it.
func addToSet(db *DB, sd *slotData, mark uint8, key string, borrowed bool) bool {
	if !sd.keys.mark(key, mark, borrowed) {
		return false
	}
	db.countDirty(1)
	return true
}

// countDirty adds n to the database's and the keyspace's dirty key counts.
func (db *DB) countDirty(n int64) {
	db.dirtyKeys.Add(n)
	db.ks.Persist.DirtyKeys.Add(n)
}

// MarkDirty records that key changed in place (a field of a hash, an
// element of a list): every write handler reports its changes through it
// (commands.Ctx.KeyChanged). Caller holds the key's slot lock.
func (db *DB) MarkDirty(key []byte) {
	if db.ks.tracking {
		db.markDirty(SlotOf(key), key)
	}
}

// tombstoned reports whether key was deleted since the disk copy was
// written (or is being replaced by the running checkpoint): the disk's copy
// must not be faulted in.
func (sd *slotData) tombstoned(key []byte) bool {
	return sd.keys.isMarked(unsafeString(key), markDirty|markSince|markPending)
}

// faultIn loads key of slot s from the disk tier into memory, clean, and
// returns it; nil when the disk does not hold it. The caller has found it
// missing from the slot's map and sd.cold > 0.
func (db *DB) faultIn(s int, key []byte) *Object {
	sd := &db.slots[s]
	if sd.tombstoned(key) {
		return nil
	}
	o, expireAt, err := db.ks.cold.Load(db.id, key)
	if err != nil {
		panic(&DiskError{DB: db.id, Key: string(key), Err: err})
	}
	if o == nil {
		return nil
	}
	db.adopt(sd, string(key), o, expireAt)
	return o
}

// probeCold reports whether key, absent from slot s's map, lives on disk,
// with its type and expiry, reading only its metadata: a command that
// replaces, deletes or only inspects a cold key (SET, DEL, EXISTS, TYPE,
// TTL) costs one point read, not a fault-in of a value that may be a
// collection of millions of elements. A cold key found expired is reclaimed
// as an expired key in memory is. On true the key is still counted cold:
// the caller that replaces or deletes it calls uncold.
func (db *DB) probeCold(s int, key []byte) (typ Type, expireAt int64, live bool) {
	sd := &db.slots[s]
	if sd.cold == 0 || sd.tombstoned(key) {
		return 0, 0, false
	}
	typ, expireAt, found, err := db.ks.cold.Probe(db.id, key)
	if err != nil {
		panic(&DiskError{DB: db.id, Key: string(key), Err: err})
	}
	if !found {
		return 0, 0, false
	}
	if expireAt != 0 && expireAt <= db.ks.expiryNow() {
		db.uncold(sd, expireAt)
		db.expireKey(s, string(key))
		return 0, 0, false
	}
	return typ, expireAt, true
}

// uncold stops counting a key of slot sd, with expiry expireAt (0 for
// none), as cold: it was faulted in, or replaced or deleted without being
// read.
func (db *DB) uncold(sd *slotData, expireAt int64) {
	sd.cold--
	db.ks.Persist.ColdKeys.Add(-1)
	if expireAt != 0 {
		sd.coldExpires--
		db.coldExpiry.Add(-1)
	}
}

// b2i is 1 for true, 0 for false.
func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// adopt puts a key read from disk into slot sd's map, clean.
func (db *DB) adopt(sd *slotData, key string, o *Object, expireAt int64) {
	o.access = db.ks.accessClock.Load()
	sd.keys.set(key, o, false)
	if expireAt != 0 {
		if sd.expires == nil {
			sd.expires = make(map[string]int64)
		}
		sd.expires[key] = expireAt
		db.withExpiry.Add(1)
	}
	db.uncold(sd, expireAt)
}

// SlotLoader reads whole slots of one database in increasing slot order
// (the warm-up): LoadSlot's job for many slots, through one reader. Load
// must read a slot from a view of the disk tier no older than the last
// checkpoint whose ingestion had returned when Load was called.
type SlotLoader interface {
	Load(slot int, fn func(key []byte, o *Object, expireAt int64) bool) error
	Close() error
}

// SlotLoaderStore is a ColdStore that also reads slots in sequence.
type SlotLoaderStore interface {
	NewSlotLoader(db int) SlotLoader
}

// loadSlot faults in every cold key of slot s. Caller holds its lock.
func (db *DB) loadSlot(s int) {
	db.loadSlotFrom(s, func(fn func(key []byte, o *Object, expireAt int64) bool) error {
		return db.ks.cold.LoadSlot(db.id, s, fn)
	})
}

// loadSlotFrom is loadSlot reading the slot through load. Caller holds the
// slot's lock, so a checkpoint cannot end between the disk's view and the
// tombstones checked against it: a loader whose view predates the last
// ingestion sees the slot's pending tombstones still in place, since
// EndCheckpoint clears them under this lock after the ingestion returned.
func (db *DB) loadSlotFrom(s int, load func(fn func(key []byte, o *Object, expireAt int64) bool) error) {
	sd := &db.slots[s]
	if sd.cold == 0 {
		return
	}
	sd.keys.reserve(int(sd.cold)) // no growing while loading
	err := load(func(key []byte, o *Object, expireAt int64) bool {
		if !sd.keys.has(unsafeString(key)) && !sd.tombstoned(key) {
			db.adopt(sd, string(key), o, expireAt)
		}
		return true
	})
	if err != nil {
		panic(&DiskError{DB: db.id, Key: fmt.Sprintf("<slot %d>", s), Err: err})
	}
	// Keys counted cold but not found were deleted on disk meanwhile: none
	// can be, the disk changes only by checkpoints of keys in memory.
	db.forgetCold(sd)
}

// forgetCold stops counting slot sd's cold keys: they were all loaded, or
// the slot was flushed.
func (db *DB) forgetCold(sd *slotData) {
	db.ks.Persist.ColdKeys.Add(-sd.cold)
	db.coldExpiry.Add(-sd.coldExpires)
	sd.cold, sd.coldExpires = 0, 0
}

// coldKeys calls fn for each key of slot s that is on disk and not in
// memory, with its expiry, without loading values (SCAN, KEYS). Caller
// holds the slot's lock.
func (db *DB) coldKeys(s int, fn func(key string, expireAt int64)) {
	sd := &db.slots[s]
	if sd.cold == 0 {
		return
	}
	err := db.ks.cold.SlotKeys(db.id, s, func(key []byte, expireAt int64) bool {
		if !sd.keys.has(unsafeString(key)) && !sd.tombstoned(key) {
			fn(string(key), expireAt)
		}
		return true
	})
	if err != nil {
		panic(&DiskError{DB: db.id, Key: fmt.Sprintf("<slot %d>", s), Err: err})
	}
}

// Live reports whether key exists and has not expired, like Peek != nil,
// without loading a cold key's value: SCAN's filter for the keys ScanSlots
// handed it (which leaves out cold keys already expired). Caller holds the
// key's slot lock or LockAll.
func (db *DB) Live(key []byte) bool {
	s := SlotOf(key)
	sd := &db.slots[s]
	if sd.keys.has(unsafeString(key)) || sd.cold == 0 {
		return db.peek(s, key) != nil
	}
	return !sd.tombstoned(key)
}

// LoadAll faults in every cold key of the database. Caller holds LockAll.
func (db *DB) LoadAll() {
	for s := range db.slots {
		db.loadSlot(s)
	}
}

// occupied reports whether slot s may hold keys in memory or on disk: a key
// on disk is in memory, cold, or a tombstone.
func (db *DB) occupied(s int) bool {
	sd := &db.slots[s]
	return sd.keys.len() > 0 || sd.cold > 0 || sd.keys.count(markDirty) > 0 || sd.keys.count(markPending) > 0 || sd.rewrite || sd.pendingRewrite || sd.split != nil
}

// markRewrite makes the next checkpoint replace slot s on disk as a whole.
// The slot has no cold keys, and is not split: the keyspace-wide writes
// that call it front-ran every slot whole first.
func (db *DB) markRewrite(s int) {
	if !db.ks.tracking {
		return
	}
	sd := &db.slots[s]
	db.countDirty(-int64(sd.keys.count(markDirty)))
	sd.keys.clearMark(markDirty)
	sd.elems = nil
	if !sd.rewrite {
		db.rewriteSlots.Add(1)
	}
	sd.rewrite = true
}

// WarmSlot faults in the cold keys of slot s of database i, taking the
// slot's lock: the background warm-up after a restart. It returns how many
// keys it loaded.
func (ks *Keyspace) WarmSlot(i, s int) int64 {
	ks.wide.RLock()
	defer ks.wide.RUnlock()
	ks.slots[s].Lock()
	defer ks.slots[s].Unlock()
	db := ks.dbs[i]
	n := db.slots[s].cold
	db.loadSlot(s)
	return n
}

// Warmer faults in the cold keys of one database slot by slot, through
// one reader of the disk tier when it can read slots in sequence (a
// SlotLoaderStore): the warm-up's loop. It is used by one goroutine, slots
// ascending; Close it.
type Warmer struct {
	ks *Keyspace
	db *DB
	r  SlotLoader // nil: LoadSlot per slot
}

// NewWarmer returns a Warmer of database i.
func (ks *Keyspace) NewWarmer(i int) *Warmer {
	w := &Warmer{ks: ks, db: ks.dbs[i]}
	if ls, ok := ks.cold.(SlotLoaderStore); ok {
		w.r = ls.NewSlotLoader(i)
	}
	return w
}

// WarmSlot is Keyspace.WarmSlot of slot s of the Warmer's database.
func (w *Warmer) WarmSlot(s int) int64 {
	ks := w.ks
	ks.wide.RLock()
	defer ks.wide.RUnlock()
	ks.slots[s].Lock()
	defer ks.slots[s].Unlock()
	n := w.db.slots[s].cold
	if w.r == nil {
		w.db.loadSlot(s)
	} else {
		w.db.loadSlotFrom(s, func(fn func(key []byte, o *Object, expireAt int64) bool) error {
			return w.r.Load(s, fn)
		})
	}
	return n
}

// Close releases the Warmer's reader.
func (w *Warmer) Close() error {
	if w.r == nil {
		return nil
	}
	return w.r.Close()
}

// BeginCheckpoint starts checkpoint epoch at this point in time P: from now
// on a write to a slot the checkpoint has not written yet front-runs it
// through aside. The caller holds LockAll, so no command is between its
// change and its log record. It returns the checkpoint's epoch.
func (ks *Keyspace) BeginCheckpoint(aside AsideFunc) uint32 {
	ck := &ks.ck
	ck.epoch++
	ck.aside = aside
	ck.err = nil
	ck.failed.Store(false)
	ck.written = ck.written[:0]
	ck.covers = ck.covers[:0]
	for _, db := range ks.dbs {
		db.inCheckpoint = db.dirtyKeys.Load() > 0 || db.rewriteSlots.Load() > 0
		ck.covers = append(ck.covers, db.inCheckpoint)
	}
	ck.running.Store(true)
	return ck.epoch
}

// CheckpointCovers reports whether the running checkpoint writes database
// i: whether it had dirty keys or slots to rewrite at P. The walker skips
// the others whole: no slot of theirs has anything as of P to write, and
// no write front-runs one of their slots (their changes since P are dirty
// for the next checkpoint), so none has records put aside either.
func (ks *Keyspace) CheckpointCovers(i int) bool { return ks.ck.covers[i] }

// WriteSlot is the checkpoint walker's step: it writes slot s of database
// i through w unless a write already front-ran it, which it reports with
// aside true (the caller then copies the records put aside). A database
// the checkpoint does not cover is in place i only after a SWAPDB, which
// front-ran every slot of the one it replaced: aside too. It takes the
// slot's lock.
func (ks *Keyspace) WriteSlot(i, s int, w SlotWriter) (aside bool, err error) {
	ks.wide.RLock()
	defer ks.wide.RUnlock()
	ks.slots[s].Lock()
	defer ks.slots[s].Unlock()
	db := ks.dbs[i]
	if !db.inCheckpoint || db.slots[s].written == ks.ck.epoch {
		return true, nil
	}
	return false, db.writeSlot(s, w)
}

// writeSlot hands slot s's changes to w and moves them to pending. Caller
// holds the slot's lock; the slot has not been written in this epoch. A
// split slot hands over the keys dirty at P that no write front-ran, with
// its count at P, and then takes the changes made since P as its dirty
// set.
func (db *DB) writeSlot(s int, w SlotWriter) error {
	sd := &db.slots[s]
	ck := &db.ks.ck
	if sd.keys.count(markDirty) == 0 && !sd.rewrite {
		// Nothing as of P. A slot never split is left as it is: a write
		// to it front-runs it (frontRun marks it written) before the
		// write's changes could be taken for P's, and the walker writes
		// nothing into the memory of slots no one uses.
		if sd.split != nil {
			sd.written = ck.epoch
			db.unsplit(sd)
		}
		return nil
	}
	sd.written = ck.epoch
	buf := slotEntryBufs.Get().(*[]SlotEntry)
	defer func() {
		clear(*buf) // drop the references to objects and keys
		slotEntryBufs.Put(buf)
	}()
	entries := (*buf)[:0]
	if sd.rewrite {
		for k, o := range sd.keys.all() {
			entries = append(entries, SlotEntry{Key: k, Obj: o, ExpireAt: sd.expires[k]})
		}
	} else {
		for k, o := range sd.keys.eachMarked(markDirty) {
			entries = append(entries, sd.entry(k, o))
		}
	}
	*buf = entries
	count := sd.count()
	if sd.split != nil {
		count = sd.split.countAtP
	}
	if err := w.WriteSlot(db.id, s, sd.rewrite, count, entries); err != nil {
		return err
	}
	db.countDirty(-int64(sd.keys.moveMark(markDirty, markPending)))
	if sd.split == nil {
		ck.register(db, s)
	}
	sd.elems = nil
	if sd.rewrite {
		db.rewriteSlots.Add(-1)
	}
	sd.pendingRewrite, sd.rewrite = sd.rewrite, false
	db.unsplit(sd)
	return nil
}

// count is the slot's key counts now, in memory and on disk.
func (sd *slotData) count() SlotCount {
	return SlotCount{Keys: int64(sd.keys.len()) + sd.cold, Expires: int64(len(sd.expires)) + sd.coldExpires}
}

// entry is what a checkpoint writes for dirty key k of the slot, whose
// value is o (nil for a tombstone): its value and expiry (only its changed elements when it knows them), or its
// deletion.
func (sd *slotData) entry(k string, o *Object) SlotEntry {
	e := SlotEntry{Key: k, Obj: o, ExpireAt: sd.expires[k]}
	if set, ok := sd.elems[k]; ok && o != nil {
		e.Elems = make([]string, 0, len(set))
		for el := range set {
			e.Elems = append(e.Elems, el)
		}
	}
	return e
}

// unsplit ends the split of a slot the walker is done with (or that no
// checkpoint will write): the changes made since P become its dirty keys.
// Its dirty set holds nothing the checkpoint still has to write.
func (db *DB) unsplit(sd *slotData) {
	sp := sd.split
	if sp == nil {
		return
	}
	sd.split = nil
	for k := range sd.keys.eachMarked(markSince) {
		if !sd.keys.mark(k, markDirty, false) {
			db.countDirty(-1) // counted with both marks
			delete(sd.elems, k)
		} else if set, ok := sp.elems[k]; ok {
			if sd.elems == nil {
				sd.elems = make(map[string]map[string]struct{})
			}
			sd.elems[k] = set
		}
	}
	sd.keys.clearMark(markSince)
}

// register lists slot s of db among the slots holding pending state, for
// EndCheckpoint.
func (ck *checkpointState) register(db *DB, s int) {
	ck.mu.Lock()
	ck.written = append(ck.written, writtenSlot{db, s})
	ck.mu.Unlock()
}

// slotEntryBufs recycles the entry lists writeSlot hands to SlotWriters
// (which encode them before returning), so a checkpoint allocates no
// memory per key: the garbage collector lets the heap grow by what is
// allocated before it collects, and a checkpoint must not grow the
// process by the size of the data it writes (invariant 5).
var slotEntryBufs = sync.Pool{New: func() any { return new([]SlotEntry) }}

// PrepareWrite front-runs the running checkpoint (invariant 5) for a
// write of the keys args[positions]: each key, in every database the
// checkpoint covers, that is dirty at P in a slot the checkpoint has not
// written yet is written aside
// now, before the caller changes it. Every write path calls it with the
// keys' slot locks (or LockAll) held: commands.Exec for write commands,
// the serving of blocked clients. A write may only change the keys it
// names. Cheap when no checkpoint runs.
func (ks *Keyspace) PrepareWrite(args [][]byte, positions []int) {
	if !ks.ck.running.Load() {
		return
	}
	for _, p := range positions {
		key := args[p]
		s := SlotOf(key)
		for _, db := range ks.dbs {
			if db.inCheckpoint {
				db.frontRunKey(s, key)
			}
		}
	}
}

// PrepareWriteAll is PrepareWrite for every slot: for keyspace-wide writes
// (FLUSHALL, SWAPDB, a transaction). Caller holds LockAll.
func (ks *Keyspace) PrepareWriteAll() {
	if !ks.ck.running.Load() {
		return
	}
	for _, db := range ks.dbs {
		if !db.inCheckpoint {
			continue
		}
		for s := range db.slots {
			db.frontRun(s)
		}
	}
}

// frontRunKey writes key of slot s aside as it was at P if the running
// checkpoint has not written the slot and the key was dirty at P,
// splitting the slot. A slot with nothing dirty at P has nothing to write:
// it counts as written. A slot to be replaced whole is front-run whole.
func (db *DB) frontRunKey(s int, key []byte) {
	ck := &db.ks.ck
	sd := &db.slots[s]
	if sd.written == ck.epoch {
		return
	}
	if sd.split == nil {
		if sd.keys.count(markDirty) == 0 || sd.rewrite {
			db.frontRun(s) // nothing to write, or the whole slot
			return
		}
		sd.split = &splitState{countAtP: sd.count()}
		ck.register(db, s)
	}
	if sd.keys.isMarked(unsafeString(key), markDirty) {
		db.asideKey(s, string(key))
	}
}

// asideKey writes dirty key k of split slot s aside and moves it to
// pending. A failure fails the checkpoint (CheckpointErr), not the write:
// the key still moves, and goes back to dirty when the checkpoint ends.
func (db *DB) asideKey(s int, k string) {
	ck := &db.ks.ck
	sd := &db.slots[s]
	buf := slotEntryBufs.Get().(*[]SlotEntry)
	entries := append((*buf)[:0], sd.entry(k, sd.keys.get(k)))
	err := ck.aside(db.id, s, func(w SlotWriter) error {
		return w.WriteSlot(db.id, s, false, sd.split.countAtP, entries)
	})
	clear(entries)
	*buf = entries
	slotEntryBufs.Put(buf)
	sd.keys.mark(k, markPending, false) // first: k keeps a mark, so it stays
	sd.keys.unmark(k, markDirty)
	delete(sd.elems, k)
	db.countDirty(-1)
	if err != nil {
		ck.fail(err)
	}
}

// frontRun writes slot s aside whole if the running checkpoint has not
// written it: every key dirty at P. A failure fails the checkpoint
// (CheckpointErr), not the write: the slot's changes stay dirty for the
// next one.
func (db *DB) frontRun(s int) {
	ck := &db.ks.ck
	sd := &db.slots[s]
	if sd.written == ck.epoch {
		return
	}
	if sd.split != nil {
		// Keys already went aside one by one: the rest go the same way,
		// so that no two groups of the slot overlap.
		for k := range sd.keys.eachMarked(markDirty) {
			db.asideKey(s, k)
		}
	}
	if sd.keys.count(markDirty) == 0 && !sd.rewrite {
		sd.written = ck.epoch
		db.unsplit(sd)
		return
	}
	err := ck.aside(db.id, s, func(w SlotWriter) error { return db.writeSlot(s, w) })
	if err != nil {
		sd.written = ck.epoch
		ck.fail(err)
	}
}

// fail records the first front-run failure of the running checkpoint.
func (ck *checkpointState) fail(err error) {
	ck.mu.Lock()
	if ck.err == nil {
		ck.err = err
		ck.failed.Store(true)
	}
	ck.mu.Unlock()
}

// CheckpointErr is the first error of a front-run write of the running
// checkpoint, which must then be abandoned.
func (ks *Keyspace) CheckpointErr() error {
	if !ks.ck.failed.Load() {
		return nil
	}
	ks.ck.mu.Lock()
	defer ks.ck.mu.Unlock()
	return ks.ck.err
}

// EndCheckpoint ends the running checkpoint. committed says whether its
// files are in Pebble: then what it wrote is clean; otherwise it all
// becomes dirty again for the next one.
func (ks *Keyspace) EndCheckpoint(committed bool) {
	ck := &ks.ck
	ck.running.Store(false)
	ck.mu.Lock()
	written := ck.written
	ck.written = nil
	ck.mu.Unlock()
	ks.wide.RLock()
	defer ks.wide.RUnlock()
	for _, ws := range written {
		ks.slots[ws.slot].Lock()
		sd := &ws.db.slots[ws.slot]
		ws.db.unsplit(sd) // a slot the walker did not reach: it failed
		if !committed {
			for k := range sd.keys.eachMarked(markPending) {
				// Whole: the elements it changed before P are not known
				// any more.
				delete(sd.elems, k)
				if !sd.rewrite {
					addToSet(ws.db, sd, markDirty, k, false)
				}
			}
			if sd.pendingRewrite {
				ws.db.markRewrite(ws.slot)
			}
		}
		sd.keys.clearMark(markPending)
		sd.pendingRewrite = false
		ks.slots[ws.slot].Unlock()
	}
}
