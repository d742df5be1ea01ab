package memtier

import (
	"slices"
	"sync"
	"sync/atomic"
)

// Blocking pops (BLPOP, BLMOVE, BZPOPMIN, ...) wait on keys through this
// registry. Its invariants, in the package's locking model:
//
//   - The waiters of a key are kept per slot and read or changed only under
//     that slot's lock (or LockAll). A command that finds nothing to pop
//     registers its waiter under the locks it already holds, so no push can
//     slip between its check and its registration.
//   - A waiter is claimed exactly once (Claim is a CAS): by the command that
//     serves it or by its own client giving up (timeout, kill). A waiter on
//     several keys may thus sit in several lists; whoever meets a claimed
//     waiter skips it, and its owner removes it from every list afterwards.
//   - When a key with waiters is stored (created, or replaced by another
//     object) it is recorded as ready, with its slot. Only the holder of a
//     slot's lock stores into the slot, so the ready keys of a slot are the
//     holder's to serve before it releases the lock: nothing is left behind.

// Waiter is one blocked client: the database and keys it waits on and what
// its command needs to serve it (Data, opaque to memtier).
type Waiter struct {
	DB   int
	Keys []string // distinct, in the order the command named them
	Data any

	slots   []int // sorted distinct slots of Keys
	claimed atomic.Bool
	done    chan struct{}
}

// NewWaiter returns a waiter on keys (copied, duplicates dropped) of
// database db.
func NewWaiter(db int, keys [][]byte, data any) *Waiter {
	w := &Waiter{DB: db, Data: data, done: make(chan struct{})}
	for _, k := range keys {
		if !slices.Contains(w.Keys, string(k)) {
			w.Keys = append(w.Keys, string(k))
			w.slots = append(w.slots, SlotOf(k))
		}
	}
	slices.Sort(w.slots)
	w.slots = slices.Compact(w.slots)
	return w
}

// Slots are the sorted distinct slots of the waiter's keys, for LockSlots.
func (w *Waiter) Slots() []int { return w.slots }

// Claim takes the waiter for its one outcome: served by a command, or given
// up by its client. Only the first call returns true.
func (w *Waiter) Claim() bool { return w.claimed.CompareAndSwap(false, true) }

// Claimed reports whether the waiter was claimed.
func (w *Waiter) Claimed() bool { return w.claimed.Load() }

// Wake tells the client that the command which claimed the waiter has
// written its reply. Called once, by the claimer that served it.
func (w *Waiter) Wake() { close(w.done) }

// Done is closed by Wake.
func (w *Waiter) Done() <-chan struct{} { return w.done }

// waitKey names a key of a database index: waiters stay with the index
// (SWAPDB does not move them), as in Redis.
type waitKey struct {
	db  int
	key string
}

// ReadyKey is a key that was stored while clients waited on it.
type ReadyKey struct {
	Slot int
	DB   int
	Key  string
}

// blocking is the Keyspace's waiter registry and ready-key list.
type blocking struct {
	// waiters[s] is under slot s's lock; nil while the slot has none.
	waiters [NumSlots]map[waitKey][]*Waiter

	readyMu sync.Mutex
	ready   []ReadyKey
	// readyN is len(ready), read without readyMu on every command's path.
	readyN atomic.Int32
}

// AddWaiter registers w on each of its keys, after the waiters already
// there. The caller holds the locks of w's slots.
func (ks *Keyspace) AddWaiter(w *Waiter) {
	for _, k := range w.Keys {
		s := SlotOf([]byte(k))
		m := ks.blk.waiters[s]
		if m == nil {
			m = make(map[waitKey][]*Waiter)
			ks.blk.waiters[s] = m
		}
		wk := waitKey{w.DB, k}
		m[wk] = append(m[wk], w)
	}
}

// RemoveWaiter unregisters w from all its keys. The caller holds the locks
// of w's slots.
func (ks *Keyspace) RemoveWaiter(w *Waiter) {
	for _, k := range w.Keys {
		s := SlotOf([]byte(k))
		m := ks.blk.waiters[s]
		wk := waitKey{w.DB, k}
		list := slices.DeleteFunc(m[wk], func(x *Waiter) bool { return x == w })
		if len(list) == 0 {
			delete(m, wk)
		} else {
			m[wk] = list
		}
		if len(m) == 0 {
			ks.blk.waiters[s] = nil
		}
	}
}

// Waiters returns a copy of the waiters on key of database db, first
// blocked first. The caller holds the key's slot lock.
func (ks *Keyspace) Waiters(db int, key string) []*Waiter {
	return slices.Clone(ks.blk.waiters[SlotOf([]byte(key))][waitKey{db, key}])
}

// signalReady records key (in slot s of database db) as ready if clients
// wait on it. put calls it for every key it stores, under the slot lock.
func (ks *Keyspace) signalReady(s, db int, key []byte) {
	m := ks.blk.waiters[s]
	if m == nil {
		return
	}
	if _, ok := m[waitKey{db, string(key)}]; !ok {
		return
	}
	ks.MarkReady(ReadyKey{Slot: s, DB: db, Key: string(key)})
}

// MarkReady records rk as ready unless it already is. Commands use it to put
// back a key they could not finish serving.
func (ks *Keyspace) MarkReady(rk ReadyKey) {
	ks.blk.readyMu.Lock()
	if !slices.Contains(ks.blk.ready, rk) {
		ks.blk.ready = append(ks.blk.ready, rk)
		ks.blk.readyN.Store(int32(len(ks.blk.ready)))
	}
	ks.blk.readyMu.Unlock()
}

// ReadyPending reports whether some key is ready: the cheap check every
// command makes before releasing its locks.
func (ks *Keyspace) ReadyPending() bool { return ks.blk.readyN.Load() > 0 }

// TakeReady removes and returns the ready keys whose slot held reports true
// for (the slots whose locks the caller holds), in the order they became
// ready.
func (ks *Keyspace) TakeReady(held func(slot int) bool) []ReadyKey {
	ks.blk.readyMu.Lock()
	defer ks.blk.readyMu.Unlock()
	var out []ReadyKey
	keep := ks.blk.ready[:0]
	for _, rk := range ks.blk.ready {
		if held(rk.Slot) {
			out = append(out, rk)
		} else {
			keep = append(keep, rk)
		}
	}
	clear(ks.blk.ready[len(keep):])
	ks.blk.ready = keep
	ks.blk.readyN.Store(int32(len(keep)))
	return out
}

// TryLockSlot takes slot s's lock if it is free, without waiting. A command
// serving blocked clients uses it for a slot outside its own (BLMOVE's
// destination): never waiting while holding locks cannot deadlock. The
// caller holds the keyspace lock shared (it is inside LockSlots).
func (ks *Keyspace) TryLockSlot(s int) bool { return ks.slots[s].TryLock() }

// UnlockSlot releases TryLockSlot.
func (ks *Keyspace) UnlockSlot(s int) { ks.slots[s].Unlock() }

// signalSwapped marks as ready the keys of databases a and b that clients
// wait on and that now exist, after SWAPDB (Redis's
// scanDatabaseForReadyKeys). Caller holds LockAll.
func (ks *Keyspace) signalSwapped(a, b int) {
	for s := range ks.blk.waiters {
		for wk := range ks.blk.waiters[s] {
			if (wk.db == a || wk.db == b) && ks.dbs[wk.db].peek(s, []byte(wk.key)) != nil {
				ks.MarkReady(ReadyKey{Slot: s, DB: wk.db, Key: wk.key})
			}
		}
	}
}

// WaitedKeys is the number of keys clients wait on, across databases. The
// caller holds LockAll.
func (ks *Keyspace) WaitedKeys() int {
	n := 0
	for _, m := range ks.blk.waiters {
		n += len(m)
	}
	return n
}
