package scripting

import (
	"encoding/binary"
	"errors"
	"strconv"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/internal/crc64"
)

// FUNCTION DUMP and RESTORE payloads, in Redis 7.0's format so that a dump
// of either server restores into the other: for each library the opcode
// RDB_OPCODE_FUNCTION2 (245) and its code as an RDB string, then the RDB
// version (2 bytes, little-endian) and the CRC-64/Jones of everything
// before (8 bytes, little-endian). StructD writes the code uncompressed
// (as Redis with rdbcompression no) and reads every RDB string encoding,
// LZF included.

const (
	rdbVersion         = 10  // Redis 7.0's RDB_VERSION
	opFunction2        = 245 // RDB_OPCODE_FUNCTION2
	opFunctionPreGA    = 246 // RDB_OPCODE_FUNCTION_PRE_GA (7.0 release candidates)
	payloadFooterBytes = 10  // RDB version and CRC64
)

// dumpLibraries encodes libs as a FUNCTION DUMP payload.
func dumpLibraries(libs []*Library) []byte {
	var b []byte
	for _, l := range libs {
		b = append(b, opFunction2)
		b = appendRDBString(b, l.Code)
	}
	b = binary.LittleEndian.AppendUint16(b, rdbVersion)
	return binary.LittleEndian.AppendUint64(b, crc64.Checksum(b))
}

// appendRDBString appends s as a plain RDB string: its length, then it.
func appendRDBString(b []byte, s string) []byte {
	n := uint64(len(s))
	switch {
	case n < 1<<6:
		b = append(b, byte(n))
	case n < 1<<14:
		b = append(b, byte(n>>8)|0x40, byte(n))
	case n <= 1<<32-1:
		b = append(b, 0x80)
		b = binary.BigEndian.AppendUint32(b, uint32(n))
	default:
		b = append(b, 0x81)
		b = binary.BigEndian.AppendUint64(b, n)
	}
	return append(b, s...)
}

var errBadPayload = errors.New("ERR DUMP payload version or checksum are wrong")

// parseDump returns the library codes of a FUNCTION DUMP payload, with
// Redis's errors.
func parseDump(p []byte) ([]string, error) {
	if len(p) < payloadFooterBytes {
		return nil, errBadPayload
	}
	body := p[:len(p)-8]
	if binary.LittleEndian.Uint16(p[len(p)-10:]) > rdbVersion ||
		binary.LittleEndian.Uint64(p[len(p)-8:]) != crc64.Checksum(body) {
		return nil, errBadPayload
	}
	r := rdbReader{b: p[:len(p)-payloadFooterBytes]}
	var codes []string
	for len(r.b) > 0 {
		switch op := r.b[0]; op {
		case opFunction2:
		case opFunctionPreGA:
			return nil, errors.New("ERR Pre-GA function format not supported")
		default:
			return nil, errors.New("ERR given type is not a function")
		}
		r.b = r.b[1:]
		code, ok := r.string()
		if !ok {
			return nil, errors.New("ERR Failed loading library payload")
		}
		codes = append(codes, code)
	}
	return codes, nil
}

// rdbReader reads RDB-encoded values from b.
type rdbReader struct{ b []byte }

// length reads an RDB length; encoded is true for the special encodings
// (11xxxxxx), whose kind is returned as the length.
func (r *rdbReader) length() (n uint64, encoded, ok bool) {
	if len(r.b) == 0 {
		return 0, false, false
	}
	c := r.b[0]
	switch c >> 6 {
	case 0:
		r.b = r.b[1:]
		return uint64(c & 0x3f), false, true
	case 1:
		if len(r.b) < 2 {
			return 0, false, false
		}
		n = uint64(c&0x3f)<<8 | uint64(r.b[1])
		r.b = r.b[2:]
		return n, false, true
	case 3:
		r.b = r.b[1:]
		return uint64(c & 0x3f), true, true
	}
	switch {
	case c == 0x80 && len(r.b) >= 5:
		n = uint64(binary.BigEndian.Uint32(r.b[1:]))
		r.b = r.b[5:]
		return n, false, true
	case c == 0x81 && len(r.b) >= 9:
		n = binary.BigEndian.Uint64(r.b[1:])
		r.b = r.b[9:]
		return n, false, true
	}
	return 0, false, false
}

// string reads an RDB string in any of its encodings: plain, an integer
// (8, 16 or 32 bits) or LZF-compressed.
func (r *rdbReader) string() (string, bool) {
	n, encoded, ok := r.length()
	if !ok {
		return "", false
	}
	if !encoded {
		if uint64(len(r.b)) < n {
			return "", false
		}
		s := string(r.b[:n])
		r.b = r.b[n:]
		return s, true
	}
	switch n {
	case 0, 1, 2: // RDB_ENC_INT8, INT16, INT32: little-endian signed
		size := 1 << n
		if len(r.b) < size {
			return "", false
		}
		var v int64
		switch size {
		case 1:
			v = int64(int8(r.b[0]))
		case 2:
			v = int64(int16(binary.LittleEndian.Uint16(r.b)))
		default:
			v = int64(int32(binary.LittleEndian.Uint32(r.b)))
		}
		r.b = r.b[size:]
		return strconv.FormatInt(v, 10), true
	case 3: // RDB_ENC_LZF
		clen, enc1, ok1 := r.length()
		ulen, enc2, ok2 := r.length()
		// A back reference of 3 bytes yields at most 264: a longer
		// declared length is a lie (and must not size an allocation).
		if !ok1 || !ok2 || enc1 || enc2 || uint64(len(r.b)) < clen || ulen > 88*clen+32 || ulen > maxLibraryCode {
			return "", false
		}
		out, ok := lzfDecompress(r.b[:clen], int(ulen))
		r.b = r.b[clen:]
		return string(out), ok
	}
	return "", false
}

// maxLibraryCode bounds the decompressed size of a library's code in a
// payload.
const maxLibraryCode = 512 << 20

// lzfDecompress expands LZF data (liblzf's format, as Redis writes it)
// into exactly n bytes; false if the data is malformed or of another size.
func lzfDecompress(in []byte, n int) ([]byte, bool) {
	out := make([]byte, 0, min(n, 1<<20))
	for i := 0; i < len(in); {
		ctrl := int(in[i])
		i++
		if ctrl < 32 { // a run of ctrl+1 literal bytes
			ctrl++
			if i+ctrl > len(in) || len(out)+ctrl > n {
				return nil, false
			}
			out = append(out, in[i:i+ctrl]...)
			i += ctrl
			continue
		}
		// A back reference: length (ctrl>>5)+2, extended by a byte when 7,
		// at an offset of 13 bits plus one.
		length := ctrl >> 5
		if length == 7 {
			if i >= len(in) {
				return nil, false
			}
			length += int(in[i])
			i++
		}
		if i >= len(in) {
			return nil, false
		}
		ref := len(out) - (ctrl&0x1f)<<8 - int(in[i]) - 1
		i++
		length += 2
		if ref < 0 || len(out)+length > n {
			return nil, false
		}
		for k := 0; k < length; k++ { // byte by byte: the ranges may overlap
			out = append(out, out[ref+k])
		}
	}
	return out, len(out) == n
}

// FunctionDump implements commands.FunctionEngine: FUNCTION DUMP.
func (e *Engine) FunctionDump(c *commands.Ctx) {
	c.W.Bulk(dumpLibraries(e.cat.libraries()))
}

// FunctionRestore implements commands.FunctionEngine: FUNCTION RESTORE, as
// Redis's functionRestoreCommand: every library of the payload is built
// first (a failure restores nothing), then they replace the whole set
// (FLUSH) or join it (APPEND refuses a library that exists, REPLACE
// replaces it; a function name another library has refuses all).
func (e *Engine) FunctionRestore(c *commands.Ctx, payload []byte, policy commands.RestorePolicy) {
	codes, err := parseDump(payload)
	if err != nil {
		c.W.Error(err.Error())
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	restored := newCatalog()
	for _, code := range codes {
		name, body, err := parseLibraryMeta(code)
		if err == nil && restored.libs[name] != nil {
			err = errors.New("ERR Library '" + name + "' already exists")
		}
		var lib *Library
		if err == nil {
			lib, err = e.buildLibrary(name, code, body, !obeysLog(c))
		}
		if err == nil {
			if f := restored.collision(lib, nil); f != "" {
				err = errors.New("ERR Function " + f + " already exists")
			}
		}
		if err != nil {
			c.W.Error(err.Error())
			return
		}
		restored.link(lib)
	}
	cat := &e.cat
	cat.mu.Lock()
	if msg := cat.join(&restored, policy); msg != "" {
		cat.mu.Unlock()
		c.W.Error(msg)
		return
	}
	cat.changed()
	cat.mu.Unlock()
	c.CatalogChanged(c.Args...)
	c.W.OK()
}

// join adds the libraries of src by policy, as Redis's libraryJoin; it
// changes nothing and returns the error on a collision. Caller holds mu.
func (cat *catalog) join(src *catalog, policy commands.RestorePolicy) string {
	if policy == commands.RestoreFlush {
		clear(cat.libs)
		clear(cat.funcs)
		for _, l := range src.libs {
			cat.link(l)
		}
		return ""
	}
	var replaced []*Library
	undo := func() {
		for _, l := range replaced {
			cat.link(l)
		}
	}
	for _, l := range sortedLibraries(src.libs) {
		old := cat.libs[l.Name]
		if old == nil {
			continue
		}
		if policy != commands.RestoreReplace {
			undo()
			return "ERR Library " + l.Name + " already exists"
		}
		cat.unlink(old)
		replaced = append(replaced, old)
	}
	for _, l := range sortedLibraries(src.libs) {
		if f := cat.collision(l, nil); f != "" {
			undo()
			return "ERR Function " + f + " already exists"
		}
	}
	for _, l := range src.libs {
		cat.link(l)
	}
	return ""
}
