package memtier

import "errors"

// ReplaceStore makes cold the keyspace's whole dataset: every database is
// emptied in memory, with no tombstone and nothing dirty (the new store is
// not a change to write), and its keys become cold keys of cold. A
// replica's full synchronization loads its master's checkpoint with it.
// Watchers of keys that were present are touched, as FLUSHALL touches
// them. Caller holds LockAll, and no checkpoint runs.
func (ks *Keyspace) ReplaceStore(cold ColdStore) error {
	if ks.ck.running.Load() {
		return errors.New("memtier: store replaced while a checkpoint runs")
	}
	for i, db := range ks.dbs {
		ks.touchAllWatched(db.id, db, nil)
		ks.dbs[i] = newDB(ks, i) // every count and slot state starts anew
	}
	ks.Persist.DirtyKeys.Store(0)
	ks.Persist.ColdKeys.Store(0)
	return ks.AttachStore(cold)
}
