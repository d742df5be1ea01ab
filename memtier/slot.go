package memtier

import "github.com/structd/structd/internal/crc16"

// NumSlots is the number of hash slots, as in Redis Cluster.
const NumSlots = 16384

// SlotOf returns the hash slot of key: CRC16-XMODEM of the key, or of its hash
// tag when the key contains a non-empty "{...}" section, modulo NumSlots.
// Only the first '{' and the first '}' after it count: "{}" and "a{}{b}"
// hash the whole key, "{a}{b}" hashes "a".
func SlotOf(key []byte) int {
	for i, c := range key {
		if c != '{' {
			continue
		}
		for j := i + 1; j < len(key); j++ {
			if key[j] == '}' {
				if j == i+1 {
					break
				}
				return int(crc16.Checksum(key[i+1:j]) & (NumSlots - 1))
			}
		}
		break
	}
	return int(crc16.Checksum(key) & (NumSlots - 1))
}
