package memtier

import (
	"context"
	"time"
)

// Active expiry, after Redis's activeExpireCycle: ten times a second, sample
// keys that have a TTL and delete the expired ones. While more than
// expireStalePercent of a round's samples were expired, the cycle keeps
// going, up to expireCycleBudget of each period, so effort follows how many
// keys are waiting to be reclaimed.
const (
	expirePeriod        = 100 * time.Millisecond
	expireCycleBudget   = 25 * time.Millisecond // 25% of one core at most
	expireSamplesPerDB  = 20
	expireStalePercent  = 10
	expireSlotsPerRound = 64 // empty slots visited per round before giving up
)

// RunActiveExpiry reclaims expired keys in the background until ctx ends.
func (ks *Keyspace) RunActiveExpiry(ctx context.Context) {
	t := time.NewTicker(expirePeriod)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ks.ActiveExpireCycle(expireCycleBudget)
		}
	}
}

// ActiveExpireCycle runs one cycle of at most budget wall time and returns
// the number of keys it deleted.
func (ks *Keyspace) ActiveExpireCycle(budget time.Duration) int {
	start := time.Now()
	deleted := 0
	for i := 0; i < ks.NumDBs(); i++ {
		for {
			sampled, expired := ks.expireRound(i)
			deleted += expired
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
	return deleted
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
	now := ks.NowMs()
	for visited := 0; sampled < expireSamplesPerDB && visited < NumSlots; visited++ {
		s := db.expireCursor
		db.expireCursor = (s + 1) % NumSlots
		ks.slots[s].Lock()
		sd := &db.slots[s]
		for k, at := range sd.expires {
			sampled++
			if at <= now {
				db.expireKey(sd, k)
				expired++
			}
			if sampled >= expireSamplesPerDB {
				break
			}
		}
		ks.slots[s].Unlock()
		if sampled == 0 && visited >= expireSlotsPerRound*expireSamplesPerDB {
			break
		}
	}
	return sampled, expired
}
