package snapshot

import (
	"errors"

	"github.com/structd/structd/disktier"
	"github.com/structd/structd/memtier"
)

// ColdStore is the disk tier as the keyspace reads it (memtier.ColdStore):
// the state of the last committed checkpoint, faulted in on demand.
type ColdStore struct{ Store *disktier.Store }

// Load implements memtier.ColdStore.
func (c ColdStore) Load(db int, key []byte) (*memtier.Object, int64, error) {
	o, expireAt, err := c.Store.Load(db, key)
	if errors.Is(err, disktier.ErrNotFound) {
		return nil, 0, nil
	}
	return o, expireAt, err
}

// Probe implements memtier.ColdStore.
func (c ColdStore) Probe(db int, key []byte) (memtier.Type, int64, bool, error) {
	m, err := c.Store.Meta(db, key)
	if errors.Is(err, disktier.ErrNotFound) {
		return 0, 0, false, nil
	}
	return m.Type, m.ExpireAt, err == nil, err
}

// LoadSlot implements memtier.ColdStore.
func (c ColdStore) LoadSlot(db, slot int, fn func(key []byte, o *memtier.Object, expireAt int64) bool) error {
	return c.Store.LoadSlot(db, slot, fn)
}

// SlotKeys implements memtier.ColdStore.
func (c ColdStore) SlotKeys(db, slot int, fn func(key []byte, expireAt int64) bool) error {
	return c.Store.Keys(db, slot, func(k disktier.KeyInfo) bool {
		if k.Slot != slot {
			return false
		}
		return fn(k.Key, k.Meta.ExpireAt)
	})
}

// SlotCounts implements memtier.ColdStore.
func (c ColdStore) SlotCounts(db int, fn func(slot int, keys, expires int64) bool) error {
	return c.Store.SlotCounts(db, func(slot int, n disktier.SlotCount) bool { return fn(slot, n.Keys, n.Expires) })
}

// NewSlotLoader implements memtier.SlotLoaderStore.
func (c ColdStore) NewSlotLoader(db int) memtier.SlotLoader {
	return c.Store.NewSlotReader(db)
}
