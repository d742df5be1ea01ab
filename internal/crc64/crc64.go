// Package crc64 implements CRC-64/Jones as Redis uses it (RDB trailers,
// DUMP payloads): reflected polynomial 0x95ac9329ac4bc9b5, initial value 0,
// no final inversion. The check value of "123456789" is 0xe9c6d914c4b8d9ca.
//
// Go's hash/crc64 is not usable for this: it inverts the register at both
// ends and rebuilds its tables on every call for a non-standard polynomial.
package crc64

// Poly is the Jones polynomial in reflected (LSB-first) form.
const Poly = 0x95ac9329ac4bc9b5

// tables[0] is the byte-at-a-time table of the reflected polynomial;
// tables[k][v] is the CRC of byte v followed by k zero bytes, so eight input
// bytes fold in with eight independent lookups (slicing-by-8).
var tables = func() (t [8][256]uint64) {
	for i := range t[0] {
		crc := uint64(i)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ Poly
			} else {
				crc >>= 1
			}
		}
		t[0][i] = crc
	}
	for k := 1; k < 8; k++ {
		for i := range t[k] {
			prev := t[k-1][i]
			t[k][i] = prev>>8 ^ t[0][byte(prev)]
		}
	}
	return t
}()

// Update returns the CRC of the bytes that produced crc followed by b, so a
// checksum can be computed over data that arrives in pieces:
// Update(Update(0, a), b) == Checksum(a+b).
func Update(crc uint64, b []byte) uint64 {
	for len(b) >= 8 {
		crc ^= uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
			uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		crc = tables[7][byte(crc)] ^ tables[6][byte(crc>>8)] ^
			tables[5][byte(crc>>16)] ^ tables[4][byte(crc>>24)] ^
			tables[3][byte(crc>>32)] ^ tables[2][byte(crc>>40)] ^
			tables[1][byte(crc>>48)] ^ tables[0][byte(crc>>56)]
		b = b[8:]
	}
	for _, c := range b {
		crc = tables[0][byte(crc)^c] ^ crc>>8
	}
	return crc
}

// Checksum returns the CRC-64/Jones of b.
func Checksum(b []byte) uint64 { return Update(0, b) }
