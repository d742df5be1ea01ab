// Package crc16 implements CRC16-XMODEM (polynomial 0x1021, initial value 0,
// no reflection, no final XOR), the checksum Redis Cluster uses to map keys
// to hash slots.
package crc16

// tables[0] is the byte-at-a-time table for polynomial 0x1021; tables[k][v]
// is the CRC of byte v followed by k zero bytes. Because the CRC is linear,
// eight input bytes fold in with eight independent lookups (slicing-by-8).
var tables = func() (t [8][256]uint16) {
	for i := range t[0] {
		crc := uint16(i) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[0][i] = crc
	}
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			prev := t[k-1][i]
			t[k][i] = prev<<8 ^ t[0][prev>>8]
		}
	}
	return t
}()

// Checksum returns the CRC16-XMODEM of b.
func Checksum(b []byte) uint16 {
	var crc uint16
	for len(b) >= 8 {
		crc = tables[7][byte(crc>>8)^b[0]] ^ tables[6][byte(crc)^b[1]] ^
			tables[5][b[2]] ^ tables[4][b[3]] ^ tables[3][b[4]] ^
			tables[2][b[5]] ^ tables[1][b[6]] ^ tables[0][b[7]]
		b = b[8:]
	}
	for _, c := range b {
		crc = crc<<8 ^ tables[0][byte(crc>>8)^c]
	}
	return crc
}
