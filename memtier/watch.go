package memtier

import (
	"sync"
	"sync/atomic"
)

// The WATCH registry, after Redis's watched_keys: for each database index
// and slot, the watchers of each key. A database index, not a *DB, owns
// its watches: SWAPDB exchanges the contents of two databases while the
// clients watching "key in db 3" keep watching db 3, as in Redis.
//
// Each slot's table is guarded by that slot's lock, like the keys, so a
// write that touches its key already holds the lock the registry needs.
// The whole registry costs one atomic load per change while nobody
// watches anything.

// Watch is one client's WATCH state: the keys it watches and whether any
// of them changed since. The client's goroutine owns keys; dirty is set by
// whichever goroutine changes a watched key.
type Watch struct {
	dirty atomic.Bool
	keys  []*watchedKey
}

// watchedKey is one key a client watches, shared between the client's list
// and the registry.
type watchedKey struct {
	w   *Watch
	db  int
	key string
	// expired is true when the key was already logically expired at WATCH
	// time: its reclamation is then no change (Redis's wk->expired).
	// Guarded by the key's slot lock.
	expired bool
}

// watchRegistry holds the watched keys of a keyspace.
type watchRegistry struct {
	// count is the number of watched keys across databases: the fast path
	// of every change reads it and nothing else when it is zero.
	count  atomic.Int64
	once   sync.Once
	tables []watchTable // per database index, allocated at the first WATCH
}

// watchTable is the watched keys of one database index, by slot.
type watchTable struct {
	slots [NumSlots]map[string][]*watchedKey
}

func (r *watchRegistry) init(dbs int) {
	r.once.Do(func() { r.tables = make([]watchTable, dbs) })
}

// Watching reports whether w watches any key.
func (w *Watch) Watching() bool { return len(w.keys) > 0 }

// Dirty reports whether a watched key changed since it was watched.
func (w *Watch) Dirty() bool { return w.dirty.Load() }

// Watch adds key of db to w (WATCH). The caller holds the key's slot lock.
// Watching a key twice is a no-op, as in Redis.
func (ks *Keyspace) Watch(w *Watch, db *DB, key []byte) {
	ks.watches.init(len(ks.dbs))
	s := SlotOf(key)
	t := &ks.watches.tables[db.id]
	if t.slots[s] == nil {
		t.slots[s] = make(map[string][]*watchedKey)
	}
	for _, wk := range t.slots[s][string(key)] {
		if wk.w == w {
			return
		}
	}
	wk := &watchedKey{w: w, db: db.id, key: string(key), expired: db.isExpired(s, key)}
	t.slots[s][wk.key] = append(t.slots[s][wk.key], wk)
	w.keys = append(w.keys, wk)
	ks.watches.count.Add(1)
}

// Unwatch forgets every key w watches and clears its dirty flag (UNWATCH,
// EXEC, DISCARD, RESET, disconnection). The caller holds the keyspace lock,
// shared (RLockAll, or a command's locks without slots) or exclusive, and
// no slot lock: Unwatch takes each slot's lock in turn.
func (ks *Keyspace) Unwatch(w *Watch, exclusive bool) {
	for _, wk := range w.keys {
		s := SlotOf([]byte(wk.key))
		if !exclusive {
			ks.slots[s].Lock()
		}
		m := ks.watches.tables[wk.db].slots[s]
		list := m[wk.key]
		for i, other := range list {
			if other == wk {
				list = append(list[:i], list[i+1:]...)
				break
			}
		}
		if len(list) == 0 {
			delete(m, wk.key)
		} else {
			m[wk.key] = list
		}
		if !exclusive {
			ks.slots[s].Unlock()
		}
		ks.watches.count.Add(-1)
	}
	w.keys = w.keys[:0]
	w.dirty.Store(false)
}

// UnwatchUnlocked is Unwatch for a caller that holds no keyspace lock
// (DISCARD, UNWATCH and RESET run Unlocked, to answer while a script holds
// the keyspace as Redis's do): it takes the lock only when w watches keys.
func (ks *Keyspace) UnwatchUnlocked(w *Watch) {
	if len(w.keys) == 0 {
		w.dirty.Store(false)
		return
	}
	ks.wide.RLock()
	defer ks.wide.RUnlock()
	ks.Unwatch(w, false)
}

// TouchWatched marks the watchers of key in db dirty: their EXEC fails.
// Every change of a key calls it (Ctx.KeyChanged), with the key's slot
// lock held. A watcher that saw the key already expired is not disturbed by
// the key's removal (Redis's touchWatchedKey).
func (ks *Keyspace) TouchWatched(db *DB, key []byte) {
	if ks.watches.count.Load() == 0 {
		return
	}
	s := SlotOf(key)
	list := ks.watches.tables[db.id].slots[s][string(key)]
	for _, wk := range list {
		if wk.expired {
			if !db.slots[s].keys.has(unsafeString(key)) {
				wk.expired = false // logically no change
				continue
			}
		}
		wk.w.dirty.Store(true)
	}
}

// touchWatchedExpired marks the watchers of a key reclaimed because its
// TTL passed. Caller holds the slot lock.
func (ks *Keyspace) touchWatchedExpired(db *DB, s int, key string) {
	if ks.watches.count.Load() == 0 {
		return
	}
	for _, wk := range ks.watches.tables[db.id].slots[s][key] {
		if wk.expired {
			wk.expired = false
			continue
		}
		wk.w.dirty.Store(true)
	}
}

// touchAllWatched marks dirty every watcher of database index i whose key
// exists in emptied or in replacement (nil for none): FLUSHDB and FLUSHALL
// empty a database, SWAPDB replaces one's contents (Redis's
// touchAllWatchedKeysInDb). Caller holds LockAll.
func (ks *Keyspace) touchAllWatched(i int, emptied, replacement *DB) {
	if ks.watches.count.Load() == 0 {
		return
	}
	t := &ks.watches.tables[i]
	for s := range t.slots {
		for key, list := range t.slots[s] {
			exists := emptied.peek(s, []byte(key)) != nil
			if !exists && replacement != nil {
				exists = replacement.peek(s, []byte(key)) != nil
			}
			if !exists {
				continue
			}
			for _, wk := range list {
				wk.w.dirty.Store(true)
			}
		}
	}
}

// WatchedExpired reports whether a key w watches was live at WATCH time and
// has expired since, reclaimed or not: Redis 7.0 fails EXEC for it. Caller
// holds LockAll.
func (ks *Keyspace) WatchedExpired(w *Watch) bool {
	for _, wk := range w.keys {
		if wk.expired {
			continue
		}
		db := ks.dbs[wk.db]
		if db.isExpired(SlotOf([]byte(wk.key)), []byte(wk.key)) {
			return true
		}
	}
	return false
}

// isExpired reports whether key is stored in slot s with a deadline that
// has passed (not yet reclaimed).
func (db *DB) isExpired(s int, key []byte) bool {
	sd := &db.slots[s]
	if !sd.keys.has(unsafeString(key)) {
		return false
	}
	at, ok := sd.expires[string(key)]
	return ok && at <= db.ks.expiryNow()
}

// keyExpired runs the hooks of a key reclaimed because its TTL passed: its
// watchers see a change, and OnExpired emits the keyspace event.
func (ks *Keyspace) keyExpired(db *DB, s int, key string) {
	ks.touchWatchedExpired(db, s, key)
	if ks.OnExpired != nil {
		ks.OnExpired(db, key)
	}
}

// WatchedKeys is the number of watched keys, counted once per watcher.
func (ks *Keyspace) WatchedKeys() int64 { return ks.watches.count.Load() }
