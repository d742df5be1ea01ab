package memtier

// keyMissed runs the OnKeyMiss hook (the "keymiss" keyspace event).
func (ks *Keyspace) keyMissed(db *DB, key []byte) {
	if ks.OnKeyMiss != nil {
		if ks.undo != nil {
			ks.undo.holdEvent(ks.OnKeyMiss, db, key) // a rollback must not deliver it
			return
		}
		ks.OnKeyMiss(db, key)
	}
}

// keyAdded runs the OnNewKey hook (the "new" keyspace event).
func (ks *Keyspace) keyAdded(db *DB, key []byte) {
	if ks.OnNewKey != nil {
		if ks.undo != nil {
			ks.undo.holdEvent(ks.OnNewKey, db, key) // a rollback must not deliver it
			return
		}
		ks.OnNewKey(db, key)
	}
}
