package memtier

import "unsafe"

// Eviction (DESIGN.md invariant 7): when memory holds more than its budget,
// clean keys (equal to Pebble's copy) are dropped from memory. They stay on
// disk, count as cold, and fault back in on their next access, so eviction
// costs no I/O and loses nothing. Dirty keys are never dropped: memory
// pressure triggers a checkpoint instead, which makes them clean.

// unloadable reports whether slot s's disk copy is current enough for its
// clean keys to be dropped: not being replaced whole, and with nothing the
// running checkpoint wrote still uncommitted (until then the disk has the
// old copy of those keys).
func (sd *slotData) unloadable() bool {
	return !sd.rewrite && !sd.pendingRewrite && sd.keys.count(markPending) == 0
}

// objectBytes estimates what o's value takes in memory.
func objectBytes(o *Object) int64 {
	n := int64(unsafe.Sizeof(Object{}))
	if o.Type == TypeString {
		return n + int64(cap(o.Bytes()))
	}
	if m, ok := o.Payload().(interface{ MemSize() int }); ok {
		n += int64(m.MemSize())
	}
	return n
}

// EvictionCursor is where UnloadClean resumes: one owner (the server's
// cron) keeps it between calls.
type EvictionCursor struct{ db, slot int }

// UnloadClean drops clean keys idle for at least minIdle seconds from
// memory, visiting at most slots slots from the cursor, until it has freed
// about target bytes. It returns the keys dropped and the bytes their values
// held (an estimate: the garbage collector frees them later).
func (ks *Keyspace) UnloadClean(cur *EvictionCursor, target int64, minIdle uint32, slots int) (keys int, freed int64) {
	if !ks.tracking {
		return 0, 0
	}
	now := ks.accessClock.Load()
	for visited := 0; visited < slots && freed < target; visited++ {
		ks.wide.RLock()
		if cur.db >= len(ks.dbs) {
			cur.db = 0
		}
		db := ks.dbs[cur.db]
		s := cur.slot
		ks.slots[s].Lock()
		sd := &db.slots[s]
		if sd.unloadable() {
			for k, o := range sd.keys.all() {
				if sd.isDirty(k) || now-o.access < minIdle {
					continue
				}
				freed += objectBytes(o) + int64(len(k))
				keys++
				sd.keys.remove(k)
				if db.removeExpire(sd, k) { // the disk copy keeps it
					sd.coldExpires++
					db.coldExpiry.Add(1)
				}
				sd.cold++
				ks.Persist.ColdKeys.Add(1)
				ks.Persist.Unloaded.Add(1)
			}
		}
		ks.slots[s].Unlock()
		ks.wide.RUnlock()
		if cur.slot++; cur.slot == NumSlots {
			cur.slot = 0
			cur.db++
		}
	}
	return keys, freed
}
