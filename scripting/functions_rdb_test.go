package scripting

import (
	"encoding/binary"
	"slices"
	"testing"

	"github.com/structd/structd/internal/crc64"
)

// redisLZFDump is redis-server 7.0.15's FUNCTION DUMP (rdbcompression yes)
// of the library restoredCode.
const (
	restoredCode = "#!lua name=restored\nredis.register_function(\"rf\", function(keys, args) return \"restored\" end)"
	redisLZFDump = "\xf5\xc3@T@]\x13#!lua name=restored\n \x03\x1ais.register_function(\"rf\", \xe0\x00\x0e\x13keys, args) return \"\xc0C\x05\" end)\n\x00\x0d\xcb\xa4W\xe33\xc6\xbc"
)

func TestParseDump(t *testing.T) {
	codes, err := parseDump([]byte(redisLZFDump))
	if err != nil || !slices.Equal(codes, []string{restoredCode}) {
		t.Fatalf("Redis's LZF dump: %q %v", codes, err)
	}
	libs := []*Library{{Code: "#!lua name=a\nx"}, {Code: string(make([]byte, 20000))}}
	codes, err = parseDump(dumpLibraries(libs))
	if err != nil || len(codes) != 2 || codes[0] != libs[0].Code || codes[1] != libs[1].Code {
		t.Fatalf("round trip: %d codes, %v", len(codes), err)
	}
	if codes, err := parseDump(dumpLibraries(nil)); err != nil || len(codes) != 0 {
		t.Fatalf("empty dump: %q %v", codes, err)
	}
	// An LZF string declaring 4 GB from 2 bytes is refused, not allocated.
	lie := []byte("\xf5\xc3\x02\x80\xff\xff\xff\xff\x00a")
	lie = binary.LittleEndian.AppendUint16(lie, rdbVersion)
	lie = binary.LittleEndian.AppendUint64(lie, crc64.Checksum(lie))
	if _, err := parseDump(lie); err == nil || err.Error() != "ERR Failed loading library payload" {
		t.Fatalf("lying LZF length: %v", err)
	}
}

// FuzzParseDump feeds parseDump arbitrary payloads: it never panics, and
// what it accepts dumps back to a payload it reads the same.
func FuzzParseDump(f *testing.F) {
	f.Add([]byte(redisLZFDump))
	f.Add(dumpLibraries([]*Library{{Code: restoredCode}}))
	f.Add([]byte("\xf5\xc3\x01\x05\x00\x00\x0a\x00"))
	f.Fuzz(func(t *testing.T, p []byte) {
		codes, err := parseDump(p)
		if err != nil {
			return
		}
		libs := make([]*Library, len(codes))
		for i, c := range codes {
			libs[i] = &Library{Code: c}
		}
		again, err := parseDump(dumpLibraries(libs))
		if err != nil || !slices.Equal(again, codes) {
			t.Fatalf("re-dump of %q: %q %v", codes, again, err)
		}
	})
}

// TestLZFDecompressMalformed checks truncated and out-of-range inputs are
// refused, not read past.
func TestLZFDecompressMalformed(t *testing.T) {
	for _, in := range []string{"\x05ab", "\x20", "\x20\x05", "\xe0", "\xe0\x01", "\x00a\x20\x05", "\x00a\xe0\xff\x00"} {
		if out, ok := lzfDecompress([]byte(in), 300); ok {
			t.Errorf("%q decompressed to %q", in, out)
		}
	}
	if out, ok := lzfDecompress([]byte("\x00a\xe0\x00\x00"), 10); !ok || string(out) != "aaaaaaaaaa" {
		t.Errorf("overlapping back reference: %q %v", out, ok)
	}
}
