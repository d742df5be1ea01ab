package memtier

import (
	"sync/atomic"
)

// slotData holds the keys of one database that hash to one slot.
type slotData struct {
	keys slotKeys
	// expires has the deadline (Unix ms) of each key in keys that has one,
	// like Redis's expires dict: active expiry samples it.
	expires map[string]int64

	// Persistence state (persist.go), guarded by the slot lock like keys.
	cold           int64                          // keys on disk not in memory
	coldExpires    int64                          // of those, the ones with a TTL
	elems          map[string]map[string]struct{} // dirty keys changed only in these elements
	written        uint32                         // epoch of the last checkpoint that wrote the slot
	rewrite        bool                           // the next checkpoint replaces the slot on disk whole
	pendingRewrite bool
	split          *splitState // keys front-run one by one, the slot not written yet
}

// DB is one numbered database. Except where noted, its methods require the
// caller to hold the lock of the key's slot (or LockAll).
type DB struct {
	ks    *Keyspace
	id    int
	slots []slotData
	// size and withExpiry count keys and keys in memory with a TTL across
	// slots, so DBSIZE and INFO keyspace need no lock; coldExpiry counts
	// the cold keys with a TTL.
	size       atomic.Int64
	withExpiry atomic.Int64
	coldExpiry atomic.Int64
	// groupLen counts keys per group of slotsPerGroup consecutive slots,
	// so RANDOMKEY finds the slot of the n-th key without reading every
	// slot. Writers under different slot locks share a group: atomic.
	groupLen [NumSlots / slotsPerGroup]atomic.Int64
	// expireCursor is where active expiry resumes; only its goroutine uses it.
	expireCursor int

	// Persistence state across slots (persist.go). dirtyKeys counts the
	// keys with markDirty or markSince (the keyspace's Persist.DirtyKeys
	// is their sum over databases), rewriteSlots the slots with rewrite
	// set. A checkpoint has nothing to write for a database with neither
	// at its point in time P, and leaves it out (inCheckpoint false).
	dirtyKeys    atomic.Int64
	rewriteSlots atomic.Int64
	// inCheckpoint says the running (or last) checkpoint writes this
	// database's data: written under LockAll at P, read under a slot lock.
	inCheckpoint bool
}

func newDB(ks *Keyspace, id int) *DB {
	return &DB{ks: ks, id: id, slots: make([]slotData, NumSlots)}
}

// ID is the database's index.
func (db *DB) ID() int { return db.id }

// Size is the number of keys, including expired ones not yet reclaimed (as
// Redis's DBSIZE). Safe without locks.
func (db *DB) Size() int64 { return db.size.Load() }

// ExpiresCount is the number of keys with a TTL. Safe without locks.
func (db *DB) ExpiresCount() int64 { return db.withExpiry.Load() + db.coldExpiry.Load() }

// Get returns the live object under key, or nil. An expired key is deleted
// on the way (lazy expiry), so it is never returned. Get counts a keyspace
// hit or miss and refreshes the access time: it is the lookup for commands
// that read the key for the client. Lookups that are not client reads use
// Peek.
func (db *DB) Get(key []byte) *Object {
	o := db.Peek(key)
	if o == nil {
		db.ks.Stats.KeyspaceMisses.Add(1)
		db.ks.keyMissed(db, key)
		return nil
	}
	db.ks.Stats.KeyspaceHits.Add(1)
	o.access = db.ks.accessClock.Load()
	return o
}

// LookupNoTouch returns the live object under key, or nil, counting a
// keyspace hit or miss without refreshing the access time: Redis's
// LOOKUP_NOTOUCH reads (TTL, EXISTS, TYPE, OBJECT).
func (db *DB) LookupNoTouch(key []byte) *Object {
	o := db.Peek(key)
	if o == nil {
		db.ks.Stats.KeyspaceMisses.Add(1)
		db.ks.keyMissed(db, key)
	} else {
		db.ks.Stats.KeyspaceHits.Add(1)
	}
	return o
}

// LookupWrite returns the live object under key, or nil, refreshing its
// access time without counting hits or misses, as Redis's lookupKeyWrite.
func (db *DB) LookupWrite(key []byte) *Object {
	o := db.Peek(key)
	if o != nil {
		o.access = db.ks.accessClock.Load()
	}
	return o
}

// IdleSeconds is the time since o was last accessed, in seconds of the
// access clock (OBJECT IDLETIME).
func (db *DB) IdleSeconds(o *Object) int64 {
	idle := int64(db.ks.accessClock.Load()) - int64(o.access)
	if idle < 0 {
		return 0
	}
	return idle
}

// Peek returns the live object under key, or nil, deleting it if it has
// expired, without touching statistics or access time.
func (db *DB) Peek(key []byte) *Object {
	return db.peek(SlotOf(key), key)
}

// peek is Peek for a key known to be in slot s.
func (db *DB) peek(s int, key []byte) *Object {
	sd := &db.slots[s]
	o := sd.keys.get(unsafeString(key))
	if o == nil {
		if sd.cold == 0 {
			return nil
		}
		if o = db.faultIn(s, key); o == nil {
			return nil
		}
	}
	return db.unexpired(s, key, o)
}

// peekResident is peek for a key in memory only: a cold key reads as
// absent and stays on disk (probeCold tells whether it lives there).
func (db *DB) peekResident(s int, key []byte) *Object {
	o := db.slots[s].keys.get(unsafeString(key))
	if o == nil {
		return nil
	}
	return db.unexpired(s, key, o)
}

// unexpired returns o, the object in memory under key, or nil after
// reclaiming the key if its TTL has passed (lazy expiry).
func (db *DB) unexpired(s int, key []byte, o *Object) *Object {
	sd := &db.slots[s]
	if len(sd.expires) > 0 {
		if at, ok := sd.expires[string(key)]; ok && at <= db.ks.expiryNow() {
			db.expireKey(s, string(key))
			return nil
		}
	}
	return o
}

// LookupInfo returns the type and deadline (Unix ms, -1 for none) of a
// live key, counting a keyspace hit or miss as LookupNoTouch does, without
// faulting a cold key's value in: EXISTS, TYPE and the TTL family need
// no more.
func (db *DB) LookupInfo(key []byte) (typ Type, expireAt int64, found bool) {
	s := SlotOf(key)
	if o := db.peekResident(s, key); o != nil {
		typ, expireAt, found = o.Type, db.Expire(key), true
	} else if typ, expireAt, found = db.probeCold(s, key); found && expireAt == 0 {
		expireAt = -1
	}
	if !found {
		db.ks.Stats.KeyspaceMisses.Add(1)
		db.ks.keyMissed(db, key)
		return 0, 0, false
	}
	db.ks.Stats.KeyspaceHits.Add(1)
	return typ, expireAt, true
}

// Set stores o under key, replacing any value and clearing its TTL (as SET).
func (db *DB) Set(key []byte, o *Object) {
	db.put(key, o, false)
}

// SetString stores a copy of val as a string under key and clears its TTL,
// as SET without options. Overwriting a string reuses its object, and its
// buffer when the new value fits without wasting much of it, so the hot
// path of SET allocates nothing for existing keys. (Nothing keeps a
// reference to a value's bytes outside its slot lock: replies copy them.)
func (db *DB) SetString(key, val []byte) {
	s := SlotOf(key)
	old := db.peekResident(s, key) // a cold value is replaced unread (put)
	if old == nil || old.Type != TypeString {
		db.put(key, NewString(val), false)
		return
	}
	if cap(old.Bytes()) >= len(val) && cap(old.Bytes()) <= 2*len(val)+64 {
		old.SetBytes(append(old.Bytes()[:0], val...))
	} else {
		old.SetBytes(append([]byte(nil), val...))
	}
	old.Enc = stringEncoding(old.Bytes())
	old.access = db.ks.accessClock.Load()
	db.removeExpire(&db.slots[s], string(key))
	db.markDirty(s, key)
}

// SetKeepTTL stores o under key, keeping the TTL of the value it replaces.
// Commands that modify a value (APPEND, INCR, SETRANGE, SET KEEPTTL) use it.
func (db *DB) SetKeepTTL(key []byte, o *Object) {
	db.put(key, o, true)
}

func (db *DB) put(key []byte, o *Object, keepTTL bool) {
	s := SlotOf(key)
	sd := &db.slots[s]
	o.access = db.ks.accessClock.Load()
	old := sd.keys.get(unsafeString(key))
	ok := old != nil
	if !ok && sd.cold > 0 {
		// A cold key is replaced without reading its value.
		var expireAt int64
		if _, expireAt, ok = db.probeCold(s, key); ok {
			db.uncold(sd, expireAt)
			if keepTTL && expireAt != 0 {
				db.SetExpire(key, expireAt)
			}
		}
	}
	if ok {
		db.markDirty(s, key)
		if old == o && keepTTL {
			return
		}
		sd.keys.set(unsafeString(key), o, true) // present: not copied
		if !keepTTL {
			db.removeExpire(sd, string(key))
		}
		db.ks.signalReady(s, db.id, key)
		return
	}
	sd.keys.set(unsafeString(key), o, true) // copied once, marks included
	db.markDirty(s, key)
	db.size.Add(1)
	db.groupLen[s/slotsPerGroup].Add(1)
	db.ks.keyAdded(db, key)
	db.ks.signalReady(s, db.id, key)
}

// Delete removes key and reports whether a live key was there. A cold key
// is deleted without reading its value.
func (db *DB) Delete(key []byte) bool {
	s := SlotOf(key)
	if db.peekResident(s, key) == nil {
		_, expireAt, live := db.probeCold(s, key)
		if !live {
			return false
		}
		db.uncold(&db.slots[s], expireAt)
	}
	db.remove(s, string(key))
	db.markDirty(s, key)
	return true
}

// remove deletes key, which is in slot s.
func (db *DB) remove(s int, key string) {
	sd := &db.slots[s]
	sd.keys.remove(key)
	db.removeExpire(sd, key)
	db.size.Add(-1)
	db.groupLen[s/slotsPerGroup].Add(-1)
}

func (db *DB) removeExpire(sd *slotData, key string) bool {
	if _, ok := sd.expires[key]; !ok {
		return false
	}
	delete(sd.expires, key)
	db.withExpiry.Add(-1)
	return true
}

func (db *DB) expireKey(s int, key string) {
	db.remove(s, key)
	db.markExpired(s, key)
	db.ks.Stats.ExpiredKeys.Add(1)
	db.ks.keyExpired(db, s, key)
}

// Expire returns the deadline (Unix ms) of a live key, or -1 when it has
// none. The caller has checked the key exists.
func (db *DB) Expire(key []byte) int64 {
	sd := &db.slots[SlotOf(key)]
	if at, ok := sd.expires[string(key)]; ok {
		return at
	}
	return -1
}

// SetExpire sets the deadline (Unix ms) of an existing key.
func (db *DB) SetExpire(key []byte, atMs int64) {
	s := SlotOf(key)
	sd := &db.slots[s]
	db.markDirty(s, key)
	if sd.expires == nil {
		sd.expires = make(map[string]int64)
	}
	if _, ok := sd.expires[string(key)]; !ok {
		db.withExpiry.Add(1)
	}
	sd.expires[string(key)] = atMs
}

// Persist removes the TTL of key and reports whether it had one.
func (db *DB) Persist(key []byte) bool {
	s := SlotOf(key)
	if !db.removeExpire(&db.slots[s], string(key)) {
		return false
	}
	db.markDirty(s, key)
	return true
}

// Flush removes every key. Caller holds LockAll.
func (db *DB) Flush() {
	db.ks.touchAllWatched(db.id, db, nil)
	db.ks.PrepareWriteAll()
	if db.holdsNothing() {
		// Every slot is already as the loop below leaves it. FLUSHALL
		// flushes every database (16 by default), most of them unused,
		// and reading all their slots cost about 15 ms.
		return
	}
	for i := range db.slots {
		sd := &db.slots[i]
		had := db.occupied(i)
		db.forgetCold(sd)
		sd.keys.dropValues() // keys marked for the checkpoint stay, as tombstones
		sd.expires = nil
		if had {
			db.markRewrite(i)
		}
	}
	db.size.Store(0)
	db.withExpiry.Store(0)
	for i := range db.groupLen {
		db.groupLen[i].Store(0)
	}
}

// holdsNothing reports whether no slot of the database has a key (live,
// cold or a tombstone) or checkpoint state: no key counts in size, none
// is dirty, no slot is to be rewritten, and neither the running nor the
// last checkpoint covered the database (pending marks and splits exist
// only in the databases it covers). Caller holds LockAll.
func (db *DB) holdsNothing() bool {
	return db.size.Load() == 0 && db.dirtyKeys.Load() == 0 && db.rewriteSlots.Load() == 0 && !db.inCheckpoint
}

// SlotKeys calls fn for each live key of slot s, skipping (and reclaiming)
// expired ones, until fn returns false. The caller holds the slot's lock or
// LockAll. fn must not add or remove keys.
func (db *DB) SlotKeys(s int, fn func(key string, o *Object) bool) {
	db.loadSlot(s)
	sd := &db.slots[s]
	now := db.ks.expiryNow()
	var expired []string
	for k, o := range sd.keys.all() {
		if at, ok := sd.expires[k]; ok && at <= now {
			expired = append(expired, k)
			continue
		}
		if !fn(k, o) {
			break
		}
	}
	for _, k := range expired {
		db.expireKey(s, k)
	}
}

// SlotLen is the number of keys (live or not yet reclaimed, in memory or
// on disk) in slot s.
func (db *DB) SlotLen(s int) int { return db.slots[s].keys.len() + int(db.slots[s].cold) }
