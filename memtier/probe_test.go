package memtier

import "testing"

// coldEntry is a key of probeStore: its value and expiry.
type coldEntry struct {
	o        *Object
	expireAt int64
}

// probeStore is a ColdStore of database 0 that counts the values it loads.
type probeStore struct {
	keys  map[string]coldEntry
	loads int
}

func (p *probeStore) Load(db int, key []byte) (*Object, int64, error) {
	p.loads++
	if e, ok := p.keys[string(key)]; ok && db == 0 {
		return e.o.Clone(), e.expireAt, nil
	}
	return nil, 0, nil
}

func (p *probeStore) Probe(db int, key []byte) (Type, int64, bool, error) {
	if e, ok := p.keys[string(key)]; ok && db == 0 {
		return e.o.Type, e.expireAt, true, nil
	}
	return 0, 0, false, nil
}

func (p *probeStore) LoadSlot(db, slot int, fn func(key []byte, o *Object, expireAt int64) bool) error {
	for k, e := range p.keys {
		if db == 0 && SlotOf([]byte(k)) == slot {
			p.loads++
			if !fn([]byte(k), e.o.Clone(), e.expireAt) {
				break
			}
		}
	}
	return nil
}

func (p *probeStore) SlotKeys(db, slot int, fn func(key []byte, expireAt int64) bool) error {
	for k, e := range p.keys {
		if db == 0 && SlotOf([]byte(k)) == slot && !fn([]byte(k), e.expireAt) {
			break
		}
	}
	return nil
}

func (p *probeStore) SlotCounts(db int, fn func(slot int, keys, expires int64) bool) error {
	if db != 0 {
		return nil
	}
	counts := map[int]SlotCount{}
	for k, e := range p.keys {
		c := counts[SlotOf([]byte(k))]
		c.Keys++
		c.Expires += b2i(e.expireAt != 0)
		counts[SlotOf([]byte(k))] = c
	}
	for s, c := range counts {
		fn(s, c.Keys, c.Expires)
	}
	return nil
}

// TestColdKeysReplacedAndInspectedUnread checks that the commands that
// replace, delete or only inspect a key (SET, DEL, EXISTS, TYPE, TTL) leave
// a cold key's value on disk: a big collection costs a metadata read, not a
// fault-in. The bookkeeping is the fault-in's: DBSIZE, the cold count, the
// tombstone that keeps a deleted key from coming back, TTLs, and the
// reclaiming of a cold key found expired.
func TestColdKeysReplacedAndInspectedUnread(t *testing.T) {
	const now = 1_700_000_000_000
	ks := New(1, NewManualClock(now))
	store := &probeStore{keys: map[string]coldEntry{
		"big":     {bigHash(5000), 0},
		"ttl":     {NewString([]byte("v")), now + 60_000},
		"keepttl": {bigHash(5000), now + 90_000},
		"set":     {bigHash(5000), now + 30_000},
		"gone":    {bigHash(5000), now - 1},
	}}
	if err := ks.AttachStore(store); err != nil {
		t.Fatal(err)
	}
	db := ks.DB(0)
	ks.LockAll()
	defer ks.UnlockAll()

	if typ, at, found := db.LookupInfo([]byte("big")); !found || typ != TypeHash || at != -1 {
		t.Errorf("LookupInfo(big) = %v %d %v, want a hash with no TTL", typ, at, found)
	}
	if typ, at, found := db.LookupInfo([]byte("ttl")); !found || typ != TypeString || at != now+60_000 {
		t.Errorf("LookupInfo(ttl) = %v %d %v, want a string with its TTL", typ, at, found)
	}
	if _, _, found := db.LookupInfo([]byte("gone")); found {
		t.Error("LookupInfo found a cold key whose TTL has passed")
	}
	if got := ks.Stats.ExpiredKeys.Load(); got != 1 {
		t.Errorf("expired keys: %d, want 1 (the cold key found expired)", got)
	}
	if !db.Delete([]byte("big")) {
		t.Error("Delete(big) found nothing")
	}
	if db.Delete([]byte("big")) || db.Delete([]byte("nosuch")) {
		t.Error("Delete found a deleted or absent key")
	}
	db.SetString([]byte("set"), []byte("new"))
	db.SetKeepTTL([]byte("keepttl"), NewString([]byte("kept")))
	if store.loads != 0 {
		t.Fatalf("the disk tier loaded %d values, want none", store.loads)
	}

	if got := db.Size(); got != 3 {
		t.Errorf("DBSIZE %d, want 3 (5 keys, one expired, one deleted)", got)
	}
	if got := ks.Persist.ColdKeys.Load(); got != 1 {
		t.Errorf("cold keys %d, want 1 (ttl)", got)
	}
	if db.Peek([]byte("big")) != nil || store.loads != 0 {
		t.Error("a deleted cold key came back from the disk tier")
	}
	if o := db.Peek([]byte("set")); o == nil || string(o.Bytes()) != "new" || db.Expire([]byte("set")) != -1 {
		t.Error("SET over a cold key: want the new string with no TTL")
	}
	if o := db.Peek([]byte("keepttl")); o == nil || string(o.Bytes()) != "kept" || db.Expire([]byte("keepttl")) != now+90_000 {
		t.Error("a KEEPTTL write over a cold key lost its value or TTL")
	}
	for _, k := range []string{"big", "gone", "set", "keepttl"} {
		if !db.slots[SlotOf([]byte(k))].isDirty(k) {
			t.Errorf("%s is not dirty: the next checkpoint would not write it", k)
		}
	}
}
