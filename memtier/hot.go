package memtier

import (
	"cmp"
	"slices"
)

// HotKey names a key of a database: an entry of the list of the most
// recently used keys that a checkpoint stores for the next start's
// warm-up, which loads them before anything else when it has a memory
// budget (so a restarted server holds what was hot, not the first slots).
type HotKey struct {
	DB  int
	Key string
}

// HotKeys returns up to max of the keys in memory, the most recently
// accessed first (by the access clock, whose unit is the second: keys used
// in the same second come in no particular order). It reads every slot
// twice under its lock, one slot at a time, so it sees keys that change
// meanwhile as they are when it reaches them: the list is a ranking, not a
// point-in-time view.
func (ks *Keyspace) HotKeys(max int) []HotKey {
	if max <= 0 {
		return nil
	}
	// First pass: how many keys were last used in each second, to find
	// the oldest second the list reaches.
	perSecond := map[uint32]int{}
	ks.eachSlot(func(sd *slotData, _ int) {
		for _, o := range sd.keys.all() {
			perSecond[o.access]++
		}
	})
	seconds := make([]uint32, 0, len(perSecond))
	for s := range perSecond {
		seconds = append(seconds, s)
	}
	slices.Sort(seconds)
	// cutoff is the oldest second the list reaches and above the keys used
	// after it; when every key fits, the cutoff is the oldest second and
	// above counts none of its keys either way.
	cutoff, above := uint32(0), 0
	for i := len(seconds) - 1; i >= 0; i-- {
		cutoff = seconds[i]
		if i == 0 || above+perSecond[cutoff] >= max {
			break
		}
		above += perSecond[cutoff]
	}
	// Second pass: the keys used after the cutoff, and as many used in
	// the cutoff second as fit, so the list never holds more than max.
	type ranked struct {
		HotKey
		access uint32
	}
	found := make([]ranked, 0, min(max, above+perSecond[cutoff]))
	atCutoff := max - above
	ks.eachSlot(func(sd *slotData, db int) {
		for k, o := range sd.keys.all() {
			switch {
			case o.access > cutoff:
			case o.access == cutoff && atCutoff > 0:
				atCutoff--
			default:
				continue
			}
			found = append(found, ranked{HotKey{db, k}, o.access})
		}
	})
	slices.SortStableFunc(found, func(a, b ranked) int { return cmp.Compare(b.access, a.access) })
	found = found[:min(len(found), max)] // keys first used between the passes
	hot := make([]HotKey, len(found))
	for i, r := range found {
		hot[i] = r.HotKey
	}
	return hot
}

// eachSlot calls fn for every slot of every database, holding that slot's
// lock (and the keyspace's shared) during the call.
func (ks *Keyspace) eachSlot(fn func(sd *slotData, db int)) {
	for db := range ks.dbs {
		for s := range NumSlots {
			ks.wide.RLock()
			ks.slots[s].Lock()
			if db < len(ks.dbs) {
				fn(&ks.dbs[db].slots[s], db)
			}
			ks.slots[s].Unlock()
			ks.wide.RUnlock()
		}
	}
}

// WarmKey loads key of database db from the disk tier if it is cold, as
// the warm-up does for the keys of the hot-key list, and reports whether
// it did. It never expires the key (the warm-up is no access): a key past
// its time is loaded and expires as any other. It panics with a
// *DiskError when the disk tier cannot be read, like any fault-in.
func (ks *Keyspace) WarmKey(db int, key []byte) bool {
	s := SlotOf(key)
	ks.wide.RLock()
	defer ks.wide.RUnlock()
	ks.slots[s].Lock()
	defer ks.slots[s].Unlock()
	if db < 0 || db >= len(ks.dbs) {
		return false
	}
	d := ks.dbs[db]
	sd := &d.slots[s]
	if sd.cold == 0 || sd.keys.has(unsafeString(key)) {
		return false
	}
	return d.faultIn(s, key) != nil
}
