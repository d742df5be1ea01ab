package memtier

import "time"

// Active expiry, after Redis's activeExpireCycle: the server cron calls
// ActiveExpireCycle hz times a second with a budget of a quarter of its
// period. A cycle samples keys that have a TTL and deletes the expired ones,
// and keeps going while more than expireStalePercent of a round's samples
// were expired, up to the budget, so effort follows how many keys are
// waiting to be reclaimed.
const (
	expireSamplesPerDB  = 20
	expireStalePercent  = 10
	expireSlotsPerRound = 64 // empty slots visited per round before giving up
)

// ActiveExpireCycle runs one cycle of at most budget wall time and returns
// the number of keys it deleted.
func (ks *Keyspace) ActiveExpireCycle(budget time.Duration) int {
	deleted, _ := ks.activeExpireCycle(budget)
	return deleted
}

// activeExpireCycle is ActiveExpireCycle, also returning how many keys with
// a TTL it sampled: the measure of its effort.
func (ks *Keyspace) activeExpireCycle(budget time.Duration) (deleted, sampledTotal int) {
	start := time.Now()
	for i := 0; i < ks.NumDBs(); i++ {
		for {
			sampled, expired := ks.expireRound(i)
			deleted += expired
			sampledTotal += sampled
			if sampled > 0 {
				ks.Stats.ExpiredStalePerc.Store(int64(expired * 100 / sampled))
			}
			if sampled == 0 || expired*100 <= sampled*expireStalePercent || time.Since(start) > budget {
				break
			}
		}
		if time.Since(start) > budget {
			break
		}
	}
	return deleted, sampledTotal
}

// expireRound samples up to expireSamplesPerDB keys with a TTL from database
// i, resuming at its cursor, and deletes the expired ones.
func (ks *Keyspace) expireRound(i int) (sampled, expired int) {
	ks.wide.RLock()
	defer ks.wide.RUnlock()
	db := ks.dbs[i]
	if db.withExpiry.Load() == 0 {
		return 0, 0
	}
	now := ks.expiryNow()
	for visited := 0; sampled < expireSamplesPerDB && visited < NumSlots; visited++ {
		s := db.expireCursor
		ks.slots[s].Lock()
		sd := &db.slots[s]
		inSlot, expiredInSlot, whole := 0, 0, true
		for k, at := range sd.expires {
			if sampled >= expireSamplesPerDB {
				whole = false
				break
			}
			sampled++
			inSlot++
			if at <= now {
				db.expireKey(s, k)
				expired++
				expiredInSlot++
			}
		}
		ks.slots[s].Unlock()
		// A slot sampled only in part stays under the cursor while it
		// yields expired keys, so keys crowded into one slot by a hash
		// tag are reclaimed as fast as spread ones. Otherwise move on:
		// a slot of live keys must not hold the cursor.
		if whole || expiredInSlot*100 <= inSlot*expireStalePercent {
			db.expireCursor = (s + 1) % NumSlots
		}
		if sampled == 0 && visited >= expireSlotsPerRound*expireSamplesPerDB {
			break
		}
	}
	return sampled, expired
}
