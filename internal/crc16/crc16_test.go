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
