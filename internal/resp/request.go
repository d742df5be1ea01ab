package resp

import (
	"bytes"
	"errors"
)

// MaxInlineSize bounds an inline request or a multibulk/bulk header line, as
// Redis's PROTO_INLINE_MAX_SIZE does.
const MaxInlineSize = 64 * 1024

// Redis's limits for clients that have not authenticated yet.
const (
	unauthMaxArgs    = 10
	unauthMaxBulkLen = 16384
)

// ProtocolError is a malformed request. Its message is Redis's text; the
// connection must reply with it and then close.
type ProtocolError struct{ Msg string }

func (e *ProtocolError) Error() string { return "ERR Protocol error: " + e.Msg }

func protoErr(msg string) error { return &ProtocolError{Msg: msg} }

// errIncomplete means more bytes are needed before the next command parses.
var errIncomplete = errors.New("resp: incomplete request")

// RequestReader parses client requests, multibulk or inline, out of a buffer
// the connection fills. Parsing is incremental: a command that arrives over
// many reads is never rescanned from its start, so huge pipelines and huge
// argument counts cost linear time.
//
// Arguments returned by Next alias the buffer and stay valid until the next
// call to Space; a command handler that keeps one must copy it.
type RequestReader struct {
	// MaxBulkLen is proto-max-bulk-len: the largest accepted argument.
	MaxBulkLen int64
	// Authenticated lifts the small limits Redis applies before AUTH.
	Authenticated bool

	buf  []byte
	r, w int // unread bytes are buf[r:w]

	// State of the partly parsed multibulk command starting at buf[r].
	inMultibulk bool
	argsWanted  int
	next        int   // offset from r of the first unparsed byte
	offs        []int // start,end offsets from r of each parsed argument
	args        [][]byte
}

// Space returns a free region of the buffer for the next read, compacting
// and growing it as needed. It invalidates previously returned arguments.
func (rr *RequestReader) Space() []byte {
	if rr.r > 0 {
		n := copy(rr.buf, rr.buf[rr.r:rr.w])
		rr.r, rr.w = 0, n
	}
	if rr.buf == nil {
		rr.buf = make([]byte, 16*1024)
	}
	if len(rr.buf)-rr.w < 4096 {
		nb := make([]byte, 2*len(rr.buf))
		copy(nb, rr.buf[:rr.w])
		rr.buf = nb
	}
	return rr.buf[rr.w:]
}

// Commit records that n bytes were read into the region Space returned.
func (rr *RequestReader) Commit(n int) { rr.w += n }

// Buffered is the number of received bytes not yet consumed by a complete
// command: the client's query buffer length.
func (rr *RequestReader) Buffered() int { return rr.w - rr.r }

// Capacity is the memory held by the query buffer.
func (rr *RequestReader) Capacity() int { return cap(rr.buf) }

// Next returns the next complete command. It returns (nil, nil) when the
// buffer holds no complete command, and a *ProtocolError for malformed input.
// Empty commands (a blank inline line, "*0") are skipped.
func (rr *RequestReader) Next() ([][]byte, error) {
	for rr.r < rr.w {
		var args [][]byte
		var err error
		if rr.inMultibulk || rr.buf[rr.r] == '*' {
			args, err = rr.parseMultibulk()
		} else {
			args, err = rr.parseInline()
		}
		if err == errIncomplete {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if len(args) > 0 {
			return args, nil
		}
	}
	return nil, nil
}

func (rr *RequestReader) parseInline() ([][]byte, error) {
	data := rr.buf[rr.r:rr.w]
	nl := indexCString(data, '\n')
	if nl < 0 {
		if len(data) > MaxInlineSize {
			return nil, protoErr("too big inline request")
		}
		return nil, errIncomplete
	}
	line := data[:nl]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	args, ok := SplitArgs(line, rr.args[:0])
	if !ok {
		return nil, protoErr("unbalanced quotes in request")
	}
	rr.args = args
	rr.r += nl + 1
	return args, nil
}

// readLine returns the header line starting at from (without "\r\n") and
// the offset just past it, or errIncomplete.
func (rr *RequestReader) readLine(from int, tooBig string) ([]byte, int, error) {
	data := rr.buf[from:rr.w]
	cr := indexCString(data, '\r')
	if cr < 0 || cr+1 >= len(data) {
		if len(data) > MaxInlineSize {
			return nil, 0, protoErr(tooBig)
		}
		return nil, 0, errIncomplete
	}
	if cr > MaxInlineSize {
		return nil, 0, protoErr(tooBig)
	}
	return data[:cr], from + cr + 2, nil
}

func (rr *RequestReader) parseMultibulk() ([][]byte, error) {
	if !rr.inMultibulk {
		line, end, err := rr.readLine(rr.r, "too big mbulk count string")
		if err != nil {
			return nil, err
		}
		n, ok := ParseInt(line[1:])
		if !ok || n > 1<<31-1 {
			return nil, protoErr("invalid multibulk length")
		}
		if n > unauthMaxArgs && !rr.Authenticated {
			return nil, protoErr("unauthenticated multibulk length")
		}
		if n <= 0 {
			rr.r = end
			return nil, nil
		}
		rr.inMultibulk = true
		rr.argsWanted = int(n)
		rr.next = end - rr.r
		rr.offs = rr.offs[:0]
	}
	for len(rr.offs)/2 < rr.argsWanted {
		pos := rr.r + rr.next
		if pos >= rr.w {
			return nil, errIncomplete
		}
		line, start, err := rr.readLine(pos, "too big bulk count string")
		if err != nil {
			return nil, err
		}
		if rr.buf[pos] != '$' {
			// Redis checks for '$' once the whole line is in, and sends
			// the offending byte as it is.
			return nil, &ProtocolError{Msg: "expected '$', got '" + string(rr.buf[pos:pos+1]) + "'"}
		}
		n, ok := ParseInt(line[1:])
		if !ok || n < 0 || n > rr.MaxBulkLen {
			return nil, protoErr("invalid bulk length")
		}
		if n > unauthMaxBulkLen && !rr.Authenticated {
			return nil, protoErr("unauthenticated bulk length")
		}
		end := start + int(n)
		if end+2 > rr.w {
			rr.reserve(end + 2 - rr.r)
			return nil, errIncomplete
		}
		rr.offs = append(rr.offs, start-rr.r, end-rr.r)
		rr.next = end + 2 - rr.r
	}
	args := rr.args[:0]
	for i := 0; i < len(rr.offs); i += 2 {
		args = append(args, rr.buf[rr.r+rr.offs[i]:rr.r+rr.offs[i+1]:rr.r+rr.offs[i+1]])
	}
	rr.args = args
	rr.r += rr.next
	rr.inMultibulk = false
	return args, nil
}

// reserve makes room for a command of n bytes starting at r, so a large
// bulk is read into place with few copies. The buffer only doubles, and only
// once the unread bytes fill half of it: a declared length alone never makes
// the server allocate it, so a hostile client costs what it sends.
func (rr *RequestReader) reserve(n int) {
	if n <= len(rr.buf) || 2*(rr.w-rr.r) < len(rr.buf) {
		return
	}
	n = min(n, 2*len(rr.buf))
	nb := make([]byte, n+4096)
	copy(nb, rr.buf[rr.r:rr.w])
	rr.w -= rr.r
	rr.r = 0
	rr.buf = nb
}

// indexCString is bytes.IndexByte as Redis's strchr sees the query buffer:
// a NUL byte ends the search, so a header or inline line with a NUL before
// its terminator stays incomplete until the size limit rejects it.
func indexCString(b []byte, c byte) int {
	i := bytes.IndexByte(b, c)
	if i < 0 {
		return -1
	}
	if bytes.IndexByte(b[:i], 0) >= 0 {
		return -1
	}
	return i
}

// ParseInt parses a decimal int64 with Redis's string2ll rules: optional
// minus sign, no plus sign, no spaces, no leading zeros.
func ParseInt(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	if len(b) == 1 && b[0] == '0' {
		return 0, true
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	if b[0] < '1' || b[0] > '9' {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		d := uint64(c - '0')
		if v > (1<<64-1-d)/10 {
			return 0, false
		}
		v = v*10 + d
	}
	if neg {
		if v > 1<<63 {
			return 0, false
		}
		return -int64(v), true
	}
	if v > 1<<63-1 {
		return 0, false
	}
	return int64(v), true
}

// SplitArgs splits an inline request the way Redis's sdssplitargs does:
// whitespace-separated words, "double quotes" with \n \r \t \b \a \\ \"
// and \xHH escapes, 'single quotes' with only \' escaped. A closing quote
// must be followed by a space or the end. ok is false on unbalanced quotes.
func SplitArgs(line []byte, dst [][]byte) (args [][]byte, ok bool) {
	// Redis splits a C string: a NUL ends the line.
	if z := bytes.IndexByte(line, 0); z >= 0 {
		line = line[:z]
	}
	args = dst
	i := 0
	for {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		if i >= len(line) {
			return args, true
		}
		var cur []byte
		inDouble, inSingle, done := false, false, false
		for !done {
			if inDouble {
				if i >= len(line) {
					return nil, false
				}
				c := line[i]
				switch {
				case c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]):
					cur = append(cur, hexVal(line[i+2])<<4|hexVal(line[i+3]))
					i += 3
				case c == '\\' && i+1 < len(line):
					i++
					switch line[i] {
					case 'n':
						cur = append(cur, '\n')
					case 'r':
						cur = append(cur, '\r')
					case 't':
						cur = append(cur, '\t')
					case 'b':
						cur = append(cur, '\b')
					case 'a':
						cur = append(cur, '\a')
					default:
						cur = append(cur, line[i])
					}
				case c == '"':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, c)
				}
			} else if inSingle {
				if i >= len(line) {
					return nil, false
				}
				c := line[i]
				switch {
				case c == '\\' && i+1 < len(line) && line[i+1] == '\'':
					i++
					cur = append(cur, '\'')
				case c == '\'':
					if i+1 < len(line) && !isSpace(line[i+1]) {
						return nil, false
					}
					done = true
				default:
					cur = append(cur, c)
				}
			} else {
				if i >= len(line) {
					break
				}
				switch c := line[i]; c {
				case ' ', '\n', '\r', '\t', 0:
					done = true
				case '"':
					inDouble = true
				case '\'':
					inSingle = true
				default:
					cur = append(cur, c)
				}
			}
			if i < len(line) {
				i++
			}
		}
		if cur == nil {
			cur = []byte{}
		}
		args = append(args, cur)
	}
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func hexVal(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
