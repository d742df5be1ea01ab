package aof

import (
	"testing"

	"github.com/structd/structd/internal/crc64"
)

// The block checksums over a 1 MiB payload (BlockSize), the figures
// format.go and FORMAT.md quote: go test -run - -bench Checksum ./aof
var checksumPayload = make([]byte, 1<<20)

func BenchmarkChecksumCRC64Jones(b *testing.B) {
	b.SetBytes(int64(len(checksumPayload)))
	for b.Loop() {
		crc64.Checksum(checksumPayload)
	}
}

func BenchmarkChecksumCRC32C(b *testing.B) {
	b.SetBytes(int64(len(checksumPayload)))
	for b.Loop() {
		payloadSum(markerCRC32C, checksumPayload)
	}
}
