package crc64

import "testing"

// bitwise is the textbook one-bit-at-a-time reference the tables must match.
func bitwise(b []byte) uint64 {
	var crc uint64
	for _, c := range b {
		crc ^= uint64(c)
		for range 8 {
			if crc&1 != 0 {
				crc = crc>>1 ^ Poly
			} else {
				crc >>= 1
			}
		}
	}
	return crc
}

func TestChecksumKnownValues(t *testing.T) {
	cases := []struct {
		in   string
		want uint64
	}{
		{"", 0},
		{"123456789", 0xe9c6d914c4b8d9ca}, // Redis's crc64 self-test value
	}
	for _, c := range cases {
		if got := Checksum([]byte(c.in)); got != c.want {
			t.Errorf("Checksum(%q) = %#016x, want %#016x", c.in, got, c.want)
		}
	}
}

func TestChecksumMatchesBitwiseAtEveryLength(t *testing.T) {
	buf := make([]byte, 300)
	for i := range buf {
		buf[i] = byte(i*131 + 7)
	}
	for n := range len(buf) + 1 {
		if got, want := Checksum(buf[:n]), bitwise(buf[:n]); got != want {
			t.Fatalf("len %d: Checksum = %#x, bitwise = %#x", n, got, want)
		}
	}
}

func TestUpdateIsIncremental(t *testing.T) {
	data := []byte("The quick brown fox jumps over the lazy dog, twice over.")
	want := Checksum(data)
	for split := range len(data) + 1 {
		if got := Update(Update(0, data[:split]), data[split:]); got != want {
			t.Fatalf("split at %d: %#x, want %#x", split, got, want)
		}
	}
}

func BenchmarkChecksum64(b *testing.B) {
	buf := make([]byte, 64)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf)
	}
}

func BenchmarkChecksum64K(b *testing.B) {
	buf := make([]byte, 64*1024)
	for i := range buf {
		buf[i] = byte(i)
	}
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		Checksum(buf)
	}
}
