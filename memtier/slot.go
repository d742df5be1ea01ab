package memtier

import (
	"bytes"

	"github.com/structd/structd/internal/crc16"
)

// NumSlots is the number of hash slots, as in Redis Cluster.
const NumSlots = 16384

// SlotOf returns the hash slot of key: CRC16-XMODEM of the key, or of its hash
// tag when the key contains a non-empty "{...}" section, modulo NumSlots.
// Only the first '{' and the first '}' after it count: "{}" and "a{}{b}"
// hash the whole key, "{a}{b}" hashes "a".
func SlotOf(key []byte) int {
	if open := bytes.IndexByte(key, '{'); open >= 0 {
		if n := bytes.IndexByte(key[open+1:], '}'); n > 0 {
			return int(crc16.Checksum(key[open+1:open+1+n]) & (NumSlots - 1))
		}
	}
	return int(crc16.Checksum(key) & (NumSlots - 1))
}
