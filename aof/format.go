package aof

import (
	"bytes"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/structd/structd/internal/crc64"
	"github.com/structd/structd/internal/resp"
)

// A block is a header line followed by a payload of whole RESP commands:
//
//	#K <len> <crc> <hcrc>\r\n
//
// len is the payload length in bytes (8 lowercase hex digits), crc the
// CRC-32C of the payload (16 hex digits, the high 8 zero) and hcrc the low
// 32 bits of the CRC-64/Jones of the header bytes before it (8 hex digits),
// so a damaged length is told apart from a short file. Blocks written
// before CRC-32C have the marker #C and the payload's CRC-64/Jones; replay
// reads both. Redis's AOF loader and redis-check-aof skip lines that start
// with '#', so a segment stays a valid Redis AOF. See FORMAT.md.
const (
	headerLen     = len("#K 00000000 0000000000000000 00000000\r\n")
	headerSumFrom = len("#K 00000000 0000000000000000")
	maxPayload    = 1<<32 - 1
)

// The payload checksums a block's marker names. CRC-32C runs in hardware
// (hash/crc32 uses the CPU's CRC32 instruction): the CRC-64/Jones of the
// first format cost the flusher 3% of the server's CPU under SET -P 16
// (about 2 GB/s in software, against 27-28 GB/s: BenchmarkChecksum*).
const (
	markerCRC64  = 'C'
	markerCRC32C = 'K'
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// payloadSum is the checksum of payload the block marker names.
func payloadSum(marker byte, payload []byte) uint64 {
	if marker == markerCRC64 {
		return crc64.Checksum(payload)
	}
	return uint64(crc32.Checksum(payload, castagnoli))
}

// putHeader fills hdr (headerLen bytes) for payload.
func putHeader(hdr, payload []byte) {
	b := append(hdr[:0], '#', markerCRC32C, ' ')
	b = appendHex(b, uint64(len(payload)), 8)
	b = append(b, ' ')
	b = appendHex(b, payloadSum(markerCRC32C, payload), 16)
	b = append(b, ' ')
	b = appendHex(b, crc64.Checksum(b[:headerSumFrom])&0xffffffff, 8)
	_ = append(b, '\r', '\n')
}

const hexDigits = "0123456789abcdef"

func appendHex(b []byte, v uint64, digits int) []byte {
	for i := digits - 1; i >= 0; i-- {
		b = append(b, hexDigits[v>>(4*uint(i))&0xf])
	}
	return b
}

func parseHex(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		switch {
		case '0' <= c && c <= '9':
			v = v<<4 | uint64(c-'0')
		case 'a' <= c && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// parseHeader checks a block header and returns its marker (the payload
// checksum's kind, for payloadSum), the payload's length and checksum.
func parseHeader(hdr []byte) (marker byte, length int64, sum uint64, ok bool) {
	if len(hdr) != headerLen || hdr[0] != '#' || hdr[1] != markerCRC32C && hdr[1] != markerCRC64 || hdr[2] != ' ' ||
		hdr[11] != ' ' || hdr[28] != ' ' || hdr[37] != '\r' || hdr[38] != '\n' {
		return 0, 0, 0, false
	}
	n, ok1 := parseHex(hdr[3:11])
	sum, ok2 := parseHex(hdr[12:28])
	hsum, ok3 := parseHex(hdr[29:37])
	if !ok1 || !ok2 || !ok3 || hsum != crc64.Checksum(hdr[:headerSumFrom])&0xffffffff {
		return 0, 0, 0, false
	}
	return hdr[1], int64(n), sum, true
}

// encodedLen is the size of args as a RESP multibulk command.
func encodedLen(args [][]byte) int64 {
	n := int64(1 + digits(len(args)) + 2)
	for _, a := range args {
		n += int64(1+digits(len(a))+2) + int64(len(a)) + 2
	}
	return n
}

func digits(n int) int {
	d := 1
	for n >= 10 {
		n /= 10
		d++
	}
	return d
}

// appendCommand appends args to b as a RESP multibulk command.
func appendCommand(b []byte, args [][]byte) []byte {
	w := resp.Writer{Buf: b}
	w.Array(len(args))
	for _, a := range args {
		w.Bulk(a)
	}
	return w.Buf
}

// appendSelect appends SELECT db.
func appendSelect(b []byte, db int) []byte {
	w := resp.Writer{Buf: b}
	w.Array(2)
	w.BulkString("SELECT")
	w.BulkInt(int64(db))
	return w.Buf
}

// parseCommand decodes the multibulk command at the start of p into args
// (reusing its storage) and returns the bytes it used. The arguments alias p.
func parseCommand(p []byte, args [][]byte) ([][]byte, int, error) {
	line, i, err := headerLine(p, 0, '*')
	if err != nil {
		return nil, 0, err
	}
	argc, ok := resp.ParseInt(line)
	if !ok || argc < 1 || argc > int64(len(p)) {
		return nil, 0, fmt.Errorf("bad argument count %q", line)
	}
	args = args[:0]
	for range argc {
		line, j, err := headerLine(p, i, '$')
		if err != nil {
			return nil, 0, err
		}
		n, ok := resp.ParseInt(line)
		if !ok || n < 0 || n > int64(len(p)-j-2) {
			return nil, 0, fmt.Errorf("bad bulk length %q at +%d", line, i)
		}
		end := j + int(n)
		if p[end] != '\r' || p[end+1] != '\n' {
			return nil, 0, fmt.Errorf("bulk not followed by CRLF at +%d", end)
		}
		args = append(args, p[j:end:end])
		i = end + 2
	}
	return args, i, nil
}

// headerLine returns the digits of the "<prefix><digits>\r\n" line at p[i:]
// and the offset after it.
func headerLine(p []byte, i int, prefix byte) ([]byte, int, error) {
	if i >= len(p) || p[i] != prefix {
		return nil, 0, fmt.Errorf("expected '%c' at +%d", prefix, i)
	}
	nl := bytes.IndexByte(p[i:], '\n')
	if nl < 2 || p[i+nl-1] != '\r' {
		return nil, 0, fmt.Errorf("unterminated line at +%d", i)
	}
	return p[i+1 : i+nl-1], i + nl + 1, nil
}

// isSelect reports whether args is the SELECT record the writer emits, and
// its database.
func isSelect(args [][]byte) (int, bool) {
	if len(args) != 2 || !strings.EqualFold(string(args[0]), "SELECT") {
		return 0, false
	}
	db, ok := resp.ParseInt(args[1])
	if !ok || db < 0 || db > 1<<31-1 {
		return 0, false
	}
	return int(db), true
}

// SegmentName is the file name of segment n: "<name>.000042". Numbers start
// at 1 and grow by one; more than six digits are written in full.
func SegmentName(name string, n uint64) string {
	return fmt.Sprintf("%s.%06d", name, n)
}

// parseSegmentName returns the number of a segment file name, or false for
// any other file (including the ".broken" files Repair leaves).
func parseSegmentName(name, file string) (uint64, bool) {
	rest, ok := strings.CutPrefix(file, name+".")
	if !ok || len(rest) < 6 {
		return 0, false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || n == 0 {
		return 0, false
	}
	return n, true
}

func (o *Options) segmentPath(n uint64) string { return o.path(SegmentName(o.Name, n)) }

func (o *Options) path(file string) string { return filepath.Join(o.Dir, file) }

// listSegments returns the numbers of the segment files in the directory,
// ascending.
func (o *Options) listSegments() ([]uint64, error) {
	names, err := o.FS.List(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("aof: list %s: %w", o.Dir, err)
	}
	var segs []uint64
	for _, file := range names {
		if n, ok := parseSegmentName(o.Name, file); ok {
			segs = append(segs, n)
		}
	}
	slices.Sort(segs)
	return segs, nil
}
