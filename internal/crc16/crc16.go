// Package crc16 implements CRC16-XMODEM (polynomial 0x1021, initial value 0,
// no reflection, no final XOR), the checksum Redis Cluster uses to map keys
// to hash slots.
package crc16

// table is the byte-at-a-time lookup table for polynomial 0x1021.
var table = func() (t [256]uint16) {
	for i := range t {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[i] = crc
	}
	return t
}()

// Checksum returns the CRC16-XMODEM of b.
func Checksum(b []byte) uint16 {
	var crc uint16
	for _, c := range b {
		crc = crc<<8 ^ table[byte(crc>>8)^c]
	}
	return crc
}
