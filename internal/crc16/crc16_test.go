package crc16

import "testing"

func TestChecksumKnownValues(t *testing.T) {
	cases := []struct {
		in   string
		want uint16
	}{
		{"", 0},
		{"123456789", 0x31C3},
		{"A", 0x58E5},
		{"foo", 0xAF96},
	}
	for _, c := range cases {
		if got := Checksum([]byte(c.in)); got != c.want {
			t.Errorf("Checksum(%q) = %#04x, want %#04x", c.in, got, c.want)
		}
	}
}

func BenchmarkChecksum16(b *testing.B) {
	key := []byte("user:1000:profile")
	b.SetBytes(int64(len(key)))
	for b.Loop() {
		Checksum(key)
	}
}

func BenchmarkChecksum1K(b *testing.B) {
	buf := make([]byte, 1024)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf)
	}
}

// TestChecksumMatchesBitwise checks the sliced table against the bitwise
// definition for every length up to 40.
func TestChecksumMatchesBitwise(t *testing.T) {
	bitwise := func(b []byte) uint16 {
		var crc uint16
		for _, c := range b {
			crc ^= uint16(c) << 8
			for range 8 {
				if crc&0x8000 != 0 {
					crc = crc<<1 ^ 0x1021
				} else {
					crc <<= 1
				}
			}
		}
		return crc
	}
	buf := make([]byte, 40)
	for i := range buf {
		buf[i] = byte(i*131 + 7)
	}
	for n := 0; n <= len(buf); n++ {
		if got, want := Checksum(buf[:n]), bitwise(buf[:n]); got != want {
			t.Errorf("len %d: Checksum = %#04x, bitwise = %#04x", n, got, want)
		}
	}
}
