package memtier

import "math/rand/v2"

// slotsPerGroup is how many consecutive slots share a DB.groupLen counter.
const slotsPerGroup = 128

// ScanSlots is one SCAN call. Starting at slot cursor, it hands every key of
// each slot it visits to fn (expired ones too: SCAN filters them after
// MATCH, as Redis does), and stops after the slot that brings the keys
// handed over to count. It returns the cursor for the next call: the next
// slot, or 0 once the last slot has been visited (a cursor past the last
// slot also ends the scan).
//
// Redis bounds a call by the empty buckets it visits too; here an empty
// slot costs a length check and an empty group of slots one counter read,
// so a call skips them all, and a small database is scanned in one call.
//
// The cursor guarantee: a call hands over whole slots and the cursor moves
// forward over slot numbers, and a key never changes slot, so every key
// present from the first call to the last is returned, exactly once.
//
// Caller holds LockAll. fn must not add or remove keys.
func (db *DB) ScanSlots(cursor uint64, count int64, fn func(key string)) uint64 {
	var found int64
	for s := cursor; s < NumSlots; s++ {
		if s%slotsPerGroup == 0 && db.groupLen[s/slotsPerGroup].Load() == 0 {
			s += slotsPerGroup - 1
			continue
		}
		sd := &db.slots[s]
		if sd.keys.len() == 0 && sd.cold == 0 {
			continue
		}
		for k := range sd.keys.all() {
			fn(k)
		}
		now := db.ks.expiryNow()
		db.coldKeys(int(s), func(k string, at int64) {
			if at == 0 || at > now {
				fn(k) // expired cold keys are skipped, not loaded to be reclaimed
			}
		})
		found += int64(sd.keys.len()) + sd.cold
		if found >= count {
			if s+1 == NumSlots {
				return 0
			}
			return s + 1
		}
	}
	return 0
}

// Keys calls fn for every live key, in no particular order. It does not
// reclaim the expired keys it skips, as Redis's KEYS only filters them.
// Caller holds LockAll. fn must not add or remove keys.
func (db *DB) Keys(fn func(key string)) {
	now := db.ks.expiryNow()
	for s := range db.slots {
		sd := &db.slots[s]
		for k := range sd.keys.all() {
			if at, ok := sd.expires[k]; ok && at <= now {
				continue
			}
			fn(k)
		}
		db.coldKeys(s, func(k string, at int64) {
			if at == 0 || at > now {
				fn(k)
			}
		})
	}
}

// RandomKey returns a live key chosen uniformly at random, or false when the
// database has none. When the key drawn has expired, RandomKey reclaims every
// expired key of its slot and draws again: each draw that fails removes at
// least one key, so it ends even when nearly every key has expired.
// Caller holds LockAll.
func (db *DB) RandomKey() (string, bool) {
	for {
		n := db.size.Load()
		if n == 0 {
			return "", false
		}
		s, k := db.nthKey(rand.Int64N(n))
		if at, ok := db.slots[s].expires[k]; ok && at <= db.ks.expiryNow() {
			db.reclaimSlot(s)
			continue
		}
		return k, true
	}
}

// nthKey returns the slot and name of the n-th key (0-based) in slot order,
// and in map order within the slot. n is below db.Size().
func (db *DB) nthKey(n int64) (int, string) {
	g := 0
	for ; g < len(db.groupLen)-1; g++ {
		l := db.groupLen[g].Load()
		if n < l {
			break
		}
		n -= l
	}
	s := g * slotsPerGroup
	for ; s < NumSlots-1; s++ {
		l := int64(db.SlotLen(s))
		if n < l {
			break
		}
		n -= l
	}
	db.loadSlot(s)
	for k := range db.slots[s].keys.all() {
		if n == 0 {
			return s, k
		}
		n--
	}
	panic("memtier: key counts out of step with slot maps")
}

// reclaimSlot deletes the expired keys of slot s and returns how many.
func (db *DB) reclaimSlot(s int) int {
	sd := &db.slots[s]
	now := db.ks.expiryNow()
	var expired []string
	for k, at := range sd.expires {
		if at <= now {
			expired = append(expired, k)
		}
	}
	for _, k := range expired {
		db.expireKey(s, k)
	}
	return len(expired)
}
