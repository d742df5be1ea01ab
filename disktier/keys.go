package disktier

import (
	"bytes"
	"encoding/binary"
	"slices"

	"github.com/structd/structd/memtier"
)

// Key encoding (FORMAT.md has the full picture). Every Pebble key starts with
// a one-byte space:
//
//	spaceSystem 0x00  system records: the checkpoint record, per-slot key counts
//	spaceData   0x01  db (4 bytes BE) · slot (2 bytes BE) · uvarint(len(key)) · key · kind · rest
//
// so the data of a database is one contiguous range, a slot of a database is
// one contiguous range inside it, and a key's records (its metadata record,
// then its element sub-keys) are one contiguous range inside its slot. The
// length prefix makes the user key prefix-free: no key's range contains
// another key's records. Within a slot, keys order by the bytes of
// uvarint(len) · key (SortKeys); Redis promises no order, so only contiguity
// matters.
const (
	spaceSystem byte = 0x00
	spaceData   byte = 0x01
)

// The record kinds that follow a key's base prefix.
const (
	kindMeta byte = 0x00 // the metadata record (and inline payload)
	kindElem byte = 0x01 // one element sub-key: hash field, set/zset member, list chunk
	kindEnd  byte = 0x02 // exclusive end of the key's range; never written
)

// The system records. sysCount·db·slot holds the number of keys of that
// slot of that database (uvarint); sysCheckpoint holds the Record;
// sysCatalog holds the script catalog (catalog.go); sysElems holds a bound
// on the keys stored under sub-keys (uvarint); sysHotKeys holds the most
// recently used keys (hotkeys.go).
const (
	sysHotKeys    byte = 'h'
	sysCount      byte = 'n'
	sysCheckpoint byte = 'r'
	sysCatalog    byte = 's'
	sysElems      byte = 'x'
)

// slotPrefixLen is the length of space · db · slot.
const slotPrefixLen = 1 + 4 + 2

// appendDBPrefix appends the prefix shared by every key of database db.
func appendDBPrefix(dst []byte, db int) []byte {
	dst = append(dst, spaceData)
	return binary.BigEndian.AppendUint32(dst, uint32(db))
}

// appendSlotPrefix appends the prefix shared by every key of slot of db.
func appendSlotPrefix(dst []byte, db, slot int) []byte {
	return binary.BigEndian.AppendUint16(appendDBPrefix(dst, db), uint16(slot))
}

// appendKeyBase appends the prefix shared by every record of key: the slot
// prefix and the length-prefixed key. slot must be memtier.SlotOf(key).
func appendKeyBase(dst []byte, db, slot int, key []byte) []byte {
	dst = appendSlotPrefix(dst, db, slot)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	return append(dst, key...)
}

// dbRange is [start, end) of every data key of db.
func dbRange(db int) (start, end []byte) {
	return appendDBPrefix(nil, db), appendDBPrefix(nil, db+1)
}

// slotRange is [start, end) of the data keys of slots [from, to) of db;
// to may be 16384 (the end of the database).
func slotRange(db, from, to int) (start, end []byte) {
	start = appendSlotPrefix(nil, db, from)
	if to >= memtier.NumSlots {
		return start, appendDBPrefix(nil, db+1)
	}
	return start, appendSlotPrefix(nil, db, to)
}

// countKey is the system key holding the key count of slot of db.
func countKey(db, slot int) []byte {
	k := []byte{spaceSystem, sysCount}
	k = binary.BigEndian.AppendUint32(k, uint32(db))
	return binary.BigEndian.AppendUint16(k, uint16(slot))
}

// countRange is [start, end) of the count records of db.
func countRange(db int) (start, end []byte) {
	start = binary.BigEndian.AppendUint32([]byte{spaceSystem, sysCount}, uint32(db))
	end = binary.BigEndian.AppendUint32([]byte{spaceSystem, sysCount}, uint32(db+1))
	return start, end
}

// checkpointKey is the system key of the checkpoint Record.
var checkpointKey = []byte{spaceSystem, sysCheckpoint}

// elemsKey is the system key of the bound on the number of keys stored
// under sub-keys (LayoutElems), in every database: it only grows (a
// deletion or a change of layout leaves it), so 0 proves that no key has
// sub-keys. A store without it (written before it existed, or by a batch
// first) proves nothing.
var elemsKey = []byte{spaceSystem, sysElems}

// parseDataKey splits a data key into its database, slot, user key, kind
// and the rest (the element), all aliasing k. ok is false for keys that are
// not well-formed data keys.
func parseDataKey(k []byte) (db, slot int, key []byte, kind byte, rest []byte, ok bool) {
	if len(k) < slotPrefixLen+2 || k[0] != spaceData {
		return 0, 0, nil, 0, nil, false
	}
	db = int(binary.BigEndian.Uint32(k[1:5]))
	slot = int(binary.BigEndian.Uint16(k[5:7]))
	n, w := binary.Uvarint(k[slotPrefixLen:])
	if w <= 0 || uint64(len(k)-slotPrefixLen-w) < n+1 {
		return 0, 0, nil, 0, nil, false
	}
	p := slotPrefixLen + w
	key = k[p : p+int(n)]
	return db, slot, key, k[p+int(n)], k[p+int(n)+1:], true
}

// SortKeys sorts keys of one slot of one database into the order their
// records have in Pebble, the order a checkpoint must write them in.
func SortKeys(keys [][]byte) {
	slices.SortFunc(keys, KeyCompare)
}

// KeyCompare is the order of user keys within a slot, as -1, 0 or +1: the
// order of the bytes of uvarint(len) · key. (uvarint is little-endian, so
// this is not length order past 127 bytes.) A checkpoint sorts each slot's
// keys with it, so it makes one pass over the bytes.
func KeyCompare(a, b []byte) int {
	if len(a) != len(b) {
		var la, lb [binary.MaxVarintLen64]byte
		return bytes.Compare(la[:binary.PutUvarint(la[:], uint64(len(a)))], lb[:binary.PutUvarint(lb[:], uint64(len(b)))])
	}
	return bytes.Compare(a, b)
}
