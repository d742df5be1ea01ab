package disktier

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/structd/structd/memtier"
)

// The hot-key record (0x00 'h'): the keys that were the most recently used
// when the server last stopped, most recent first, for the warm-up of the
// next start (memtier.HotKeys). Encoding: version byte (1), uvarint count,
// then per key uvarint(db) · uvarint(len) · key.

// hotKeysKey is the system key of the hot-key record.
var hotKeysKey = []byte{spaceSystem, sysHotKeys}

const hotKeysVersion = 1

// SaveHotKeys stores keys as the hot-key record, durably. It is a hint
// for the warm-up, not data: it is written on its own, outside checkpoints
// (invariant 1 is about the keys and values).
func (s *Store) SaveHotKeys(keys []memtier.HotKey) error {
	b := binary.AppendUvarint([]byte{hotKeysVersion}, uint64(len(keys)))
	for _, k := range keys {
		b = binary.AppendUvarint(b, uint64(k.DB))
		b = binary.AppendUvarint(b, uint64(len(k.Key)))
		b = append(b, k.Key...)
	}
	if err := s.db.Set(hotKeysKey, b, pebble.Sync); err != nil {
		return fmt.Errorf("disktier: hot-key record: %w", err)
	}
	return nil
}

// HotKeys returns the hot-key record of the last committed checkpoint that
// wrote one (nil if none did).
func (s *Store) HotKeys() ([]memtier.HotKey, error) {
	v, closer, err := s.db.Get(hotKeysKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("disktier: hot-key record: %w", err)
	}
	defer closer.Close()
	return decodeHotKeys(v)
}

func decodeHotKeys(v []byte) ([]memtier.HotKey, error) {
	bad := func(what string) error { return fmt.Errorf("disktier: hot-key record: %s", what) }
	if len(v) == 0 || v[0] != hotKeysVersion {
		return nil, bad("unknown version")
	}
	v = v[1:]
	n, w := binary.Uvarint(v)
	if w <= 0 || n > uint64(len(v)) { // every key takes at least two bytes
		return nil, bad("bad count")
	}
	v = v[w:]
	keys := make([]memtier.HotKey, 0, n)
	for range n {
		db, w := binary.Uvarint(v)
		if w <= 0 || db > 1<<31 {
			return nil, bad("bad database")
		}
		v = v[w:]
		l, w := binary.Uvarint(v)
		if w <= 0 || l > uint64(len(v)-w) {
			return nil, bad("bad key length")
		}
		v = v[w:]
		keys = append(keys, memtier.HotKey{DB: int(db), Key: string(v[:l])})
		v = v[l:]
	}
	if len(v) != 0 {
		return nil, bad("trailing bytes")
	}
	return keys, nil
}
