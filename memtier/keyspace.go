package memtier

import (
	"sync"
	"sync/atomic"
	"time"
)

// Clock tells the keyspace the time. Tests substitute a fake one so expiry
// is exact without sleeping.
type Clock interface {
	// NowMs is the current Unix time in milliseconds.
	NowMs() int64
}

// SystemClock is the wall clock.
type SystemClock struct{}

// NowMs implements Clock.
func (SystemClock) NowMs() int64 { return time.Now().UnixMilli() }

// ManualClock is a Clock that moves only when told: tests drive expiry with
// it exactly, without sleeping.
type ManualClock struct{ ms atomic.Int64 }

// NewManualClock returns a ManualClock reading ms.
func NewManualClock(ms int64) *ManualClock {
	c := &ManualClock{}
	c.ms.Store(ms)
	return c
}

// NowMs implements Clock.
func (c *ManualClock) NowMs() int64 { return c.ms.Load() }

// Advance moves the clock forward by d.
func (c *ManualClock) Advance(d time.Duration) { c.ms.Add(d.Milliseconds()) }

// Stats are keyspace counters INFO reports.
type Stats struct {
	ExpiredKeys      atomic.Int64 // keys removed because their TTL passed
	KeyspaceHits     atomic.Int64
	KeyspaceMisses   atomic.Int64
	ExpiredStalePerc atomic.Int64 // last active-expiry pass, percent of sampled keys found expired
	Dirty            atomic.Int64 // changes since start (rdb_changes_since_last_save until persistence)
}

// Keyspace is every database of the server and the locks over them.
type Keyspace struct {
	Clock Clock
	Stats Stats

	// expiryFrozenAt, when not 0, is the time keys expire by instead of
	// the clock's: a script's start, for as long as it runs (FreezeExpiry).
	expiryFrozenAt atomic.Int64

	// wide is held shared by per-slot commands and exclusively by commands
	// that span the keyspace. It also guards dbs (SWAPDB reorders it).
	wide  sync.RWMutex
	slots [NumSlots]sync.Mutex
	dbs   []*DB

	// accessClock is the clock, in seconds, stamped on objects when they
	// are accessed (OBJECT IDLETIME, LRU). Like Redis's LRU clock it is
	// cached and refreshed by RefreshAccessClock, so reads never ask the
	// system for the time.
	accessClock atomic.Uint32

	// watches are the keys clients WATCH (watch.go).
	watches watchRegistry
	// OnExpired, if set, is called for every key reclaimed because its TTL
	// passed (lazily or by active expiry), after its removal, with its
	// slot lock held: the server emits the "expired" keyspace event. Set it
	// before the keyspace is used.
	OnExpired func(db *DB, key string)
	// OnKeyMiss and OnNewKey, if set, are called when a client read finds
	// no key (Get, LookupNoTouch) and when a key is created: the "keymiss"
	// and "new" keyspace events. Set them before the keyspace is used.
	OnKeyMiss func(db *DB, key []byte)
	OnNewKey  func(db *DB, key []byte)

	// blk is the registry of clients blocked on keys (blocking.go).
	blk blocking

	// undo is the active transaction's undo log (undo.go), set and
	// cleared under LockAll; UndoStats count what undo logs did.
	undo      *UndoLog
	UndoStats UndoStats

	// Persistence (persist.go): the disk tier, whether changes are
	// tracked for checkpoints, and the running checkpoint.
	cold     ColdStore
	tracking bool
	loading  bool // SetLoading
	ck       checkpointState
	Persist  PersistStats
}

// New returns a keyspace of n empty databases.
func New(n int, clock Clock) *Keyspace {
	ks := &Keyspace{Clock: clock, dbs: make([]*DB, n)}
	for i := range ks.dbs {
		ks.dbs[i] = newDB(ks, i)
	}
	ks.RefreshAccessClock()
	return ks
}

// NumDBs is the number of databases.
func (ks *Keyspace) NumDBs() int { return len(ks.dbs) }

// KeyCount is the number of keys in every database, cold ones included.
func (ks *Keyspace) KeyCount() (n int64) {
	for _, db := range ks.dbs {
		n += db.Size()
	}
	return n
}

// DB returns database i. The caller holds a lock (shared or exclusive):
// SWAPDB changes which DB answers to an index.
func (ks *Keyspace) DB(i int) *DB { return ks.dbs[i] }

// NowMs is the keyspace clock's time; 0 while loading, so that no key
// expires during an AOF replay.
func (ks *Keyspace) NowMs() int64 {
	if ks.loading {
		return 0
	}
	return ks.Clock.NowMs()
}

// expiryNow is the time keys expire by: NowMs, or while a script runs, the
// time it started, so no key expires in the middle of a script (Redis's
// script time snapshot). Deadlines and TTLs are still computed from NowMs,
// as Redis computes them from the real time.
func (ks *Keyspace) expiryNow() int64 {
	if at := ks.expiryFrozenAt.Load(); at != 0 && !ks.loading {
		return at
	}
	return ks.NowMs()
}

// FreezeExpiry makes keys expire by the time now until ThawExpiry: a
// script's run, whose keys do not expire while it runs. It reports whether
// this call froze expiry; a call while frozen (a script a script called)
// changes nothing, and its caller must not thaw. The caller holds LockAll.
func (ks *Keyspace) FreezeExpiry() bool {
	if ks.expiryFrozenAt.Load() != 0 {
		return false
	}
	ks.expiryFrozenAt.Store(max(ks.Clock.NowMs(), 1))
	return true
}

// ThawExpiry ends FreezeExpiry: keys expire by the clock again.
func (ks *Keyspace) ThawExpiry() { ks.expiryFrozenAt.Store(0) }

// SetLoading marks the keyspace as being loaded from the AOF, or done. While
// loading, time stands still before every deadline, as Redis expires
// nothing while it loads: the log holds the DEL of every key that expired
// in the run that wrote it, in its place, and every deadline is absolute,
// so replaying later must not expire keys the original still had (an
// APPEND to a key that expired since would create a new key without its
// TTL). Call it only while no command runs.
func (ks *Keyspace) SetLoading(on bool) { ks.loading = on }

// LockSlots takes the keyspace lock shared and the given slot locks, which
// must be sorted ascending without duplicates (the order prevents deadlock).
func (ks *Keyspace) LockSlots(slots []int) {
	ks.wide.RLock()
	for _, s := range slots {
		ks.slots[s].Lock()
	}
}

// UnlockSlots releases what LockSlots took.
func (ks *Keyspace) UnlockSlots(slots []int) {
	for i := len(slots) - 1; i >= 0; i-- {
		ks.slots[slots[i]].Unlock()
	}
	ks.wide.RUnlock()
}

// LockAll takes the keyspace exclusively: no other command runs until
// UnlockAll.
func (ks *Keyspace) LockAll() { ks.wide.Lock() }

// UnlockAll releases LockAll.
func (ks *Keyspace) UnlockAll() { ks.wide.Unlock() }

// RLockAll takes the keyspace lock shared without any slot, for readers of
// keyspace-wide counters.
func (ks *Keyspace) RLockAll() { ks.wide.RLock() }

// RUnlockAll releases RLockAll.
func (ks *Keyspace) RUnlockAll() { ks.wide.RUnlock() }

// SwapDB exchanges the contents of databases a and b. Caller holds LockAll.
func (ks *Keyspace) SwapDB(a, b int) {
	ks.PrepareWriteAll()
	if ks.tracking {
		// Both databases change index: on disk each is rewritten whole
		// under its new number, so both must be in memory whole.
		da, dbb := ks.dbs[a], ks.dbs[b]
		da.LoadAll()
		dbb.LoadAll()
		for s := range da.slots {
			if da.occupied(s) || dbb.occupied(s) {
				da.markRewrite(s)
				dbb.markRewrite(s)
			}
		}
	}
	ks.touchAllWatched(a, ks.dbs[a], ks.dbs[b])
	ks.touchAllWatched(b, ks.dbs[b], ks.dbs[a])
	ks.dbs[a], ks.dbs[b] = ks.dbs[b], ks.dbs[a]
	ks.dbs[a].id, ks.dbs[b].id = a, b
	ks.signalSwapped(a, b)
}

// FlushAll empties every database. Caller holds LockAll.
func (ks *Keyspace) FlushAll() {
	for _, db := range ks.dbs {
		db.Flush()
	}
}

// RefreshAccessClock updates the cached access clock from Clock. The server
// calls it from its cron, ten times a second.
func (ks *Keyspace) RefreshAccessClock() {
	ks.accessClock.Store(uint32(ks.NowMs() / 1000))
}

// AccessClock is the cached access clock in seconds.
func (ks *Keyspace) AccessClock() uint32 { return ks.accessClock.Load() }
