package resp

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Kind is the RESP type of a reply, named by its first byte on the wire.
type Kind byte

// The RESP2 and RESP3 reply types.
const (
	KindSimple    Kind = '+'
	KindError     Kind = '-'
	KindInt       Kind = ':'
	KindBulk      Kind = '$'
	KindArray     Kind = '*'
	KindNull      Kind = '_' // RESP3 null; RESP2 nulls are KindBulk or KindArray with Null set
	KindMap       Kind = '%'
	KindSet       Kind = '~'
	KindPush      Kind = '>'
	KindDouble    Kind = ','
	KindBool      Kind = '#'
	KindVerbatim  Kind = '='
	KindBigNumber Kind = '('
	KindBlobError Kind = '!'
	// kindAttribute introduces attributes; ReadReply attaches them to the
	// reply that follows, so no Value has this kind.
	kindAttribute Kind = '|'
)

// Limits on what ReadReply accepts from a peer. Memory grows with the bytes
// actually received, never with a declared length, so a peer that declares a
// huge bulk or array and sends nothing costs nothing.
const (
	// MaxReplyLen bounds one bulk string, verbatim string or blob error,
	// and one simple line (simple string, error, number).
	MaxReplyLen = 1 << 32
	// MaxReplyDepth bounds the nesting of aggregates (arrays in arrays ...).
	MaxReplyDepth = 512
	// replyChunk is the allocation step for bulks larger than it.
	replyChunk = 64 * 1024
)

// Value is one reply with its RESP type preserved, so two replies can be
// compared exactly: a RESP2 null bulk, a RESP2 null array and a RESP3 null
// are three different values, and a double keeps its textual form.
type Value struct {
	Kind Kind
	// Null marks the RESP2 nulls $-1 (KindBulk) and *-1 (KindArray).
	Null bool
	// Str is the payload of simple strings, errors, bulks, blob errors,
	// verbatim strings (without the format prefix), and the text of doubles
	// and big numbers as sent.
	Str []byte
	// Int is an integer reply's value.
	Int int64
	// Bool is a boolean reply's value.
	Bool bool
	// Format is a verbatim string's three-letter format ("txt", "mkd").
	Format string
	// Elems are the elements of arrays, sets and pushes, and of maps as
	// alternating keys and values.
	Elems []Value
	// Attrs are the key/value pairs of a RESP3 attribute that preceded the
	// reply, alternating keys and values.
	Attrs []Value
}

// ErrReplyTooLarge reports a reply beyond MaxReplyLen or MaxReplyDepth.
var ErrReplyTooLarge = errors.New("resp: reply exceeds limits")

// ReadReply reads one reply. A protocol violation is an error wrapping the
// offending line; an error reply is a Value of KindError, not an error.
func ReadReply(br *bufio.Reader) (Value, error) {
	return readValue(br, 0)
}

func readValue(br *bufio.Reader, depth int) (Value, error) {
	if depth > MaxReplyDepth {
		return Value{}, ErrReplyTooLarge
	}
	line, err := readReplyLine(br)
	if err != nil {
		return Value{}, err
	}
	if len(line) == 0 {
		return Value{}, fmt.Errorf("resp: empty reply line")
	}
	kind, rest := Kind(line[0]), line[1:]
	bad := func() (Value, error) {
		return Value{}, fmt.Errorf("resp: malformed reply line %q", truncateLine(line))
	}
	switch kind {
	case KindSimple, KindError:
		return Value{Kind: kind, Str: rest}, nil
	case KindInt:
		n, ok := ParseInt(rest)
		if !ok {
			return bad()
		}
		return Value{Kind: kind, Int: n}, nil
	case KindDouble:
		if _, err := strconv.ParseFloat(string(rest), 64); err != nil && !isSpecialDouble(rest) {
			return bad()
		}
		return Value{Kind: kind, Str: rest}, nil
	case KindBigNumber:
		if !isBigNumber(rest) {
			return bad()
		}
		return Value{Kind: kind, Str: rest}, nil
	case KindNull:
		if len(rest) != 0 {
			return bad()
		}
		return Value{Kind: kind}, nil
	case KindBool:
		if len(rest) != 1 || (rest[0] != 't' && rest[0] != 'f') {
			return bad()
		}
		return Value{Kind: kind, Bool: rest[0] == 't'}, nil
	case KindBulk, KindVerbatim, KindBlobError:
		n, ok := ParseInt(rest)
		if !ok || n < -1 || (n == -1 && kind != KindBulk) {
			return bad()
		}
		if n == -1 {
			return Value{Kind: kind, Null: true}, nil
		}
		if n > MaxReplyLen {
			return Value{}, ErrReplyTooLarge
		}
		payload, err := readBulk(br, n)
		if err != nil {
			return Value{}, err
		}
		v := Value{Kind: kind, Str: payload}
		if kind == KindVerbatim {
			if len(payload) < 4 || payload[3] != ':' {
				return bad()
			}
			v.Format, v.Str = string(payload[:3]), payload[4:]
		}
		return v, nil
	case KindArray, KindSet, KindPush, KindMap, kindAttribute:
		n, ok := ParseInt(rest)
		if !ok || n < -1 || (n == -1 && kind != KindArray) {
			return bad()
		}
		if n == -1 {
			return Value{Kind: kind, Null: true}, nil
		}
		if kind == KindMap || kind == kindAttribute {
			if n > MaxReplyLen/2 {
				return bad()
			}
			n *= 2
		}
		elems, err := readElems(br, n, depth)
		if err != nil {
			return Value{}, err
		}
		if kind == kindAttribute {
			// An attribute annotates the reply that follows it.
			v, err := readValue(br, depth+1)
			v.Attrs = elems
			return v, err
		}
		return Value{Kind: kind, Elems: elems}, nil
	}
	return bad()
}

// readReplyLine reads a line up to "\r\n" and returns it without them. The
// slice is a copy: it stays valid after further reads.
func readReplyLine(br *bufio.Reader) ([]byte, error) {
	var acc []byte
	for {
		frag, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if int64(len(acc)+len(frag)) > MaxReplyLen {
				return nil, ErrReplyTooLarge
			}
			acc = append(acc, frag...)
			continue
		}
		if err != nil {
			if err == io.EOF && (len(acc) > 0 || len(frag) > 0) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
		acc = append(acc, frag...)
		if len(acc) < 2 || acc[len(acc)-2] != '\r' {
			return nil, fmt.Errorf("resp: reply line not terminated by CRLF: %q", truncateLine(acc))
		}
		return acc[:len(acc)-2], nil
	}
}

// readBulk reads n payload bytes and the CRLF after them. Above replyChunk
// the buffer grows as data arrives, so memory follows what the peer sent.
func readBulk(br *bufio.Reader, n int64) ([]byte, error) {
	var payload []byte
	if n <= replyChunk {
		payload = make([]byte, n)
		if _, err := io.ReadFull(br, payload); err != nil {
			return nil, unexpected(err)
		}
	} else {
		var buf bytes.Buffer
		if _, err := io.CopyN(&buf, br, n); err != nil {
			return nil, unexpected(err)
		}
		payload = buf.Bytes()
	}
	var crlf [2]byte
	if _, err := io.ReadFull(br, crlf[:]); err != nil {
		return nil, unexpected(err)
	}
	if crlf != [2]byte{'\r', '\n'} {
		return nil, fmt.Errorf("resp: bulk of %d bytes not followed by CRLF", n)
	}
	return payload, nil
}

// readElems reads n nested values. The slice grows as elements arrive.
func readElems(br *bufio.Reader, n int64, depth int) ([]Value, error) {
	elems := make([]Value, 0, min(n, 1024))
	for i := int64(0); i < n; i++ {
		v, err := readValue(br, depth+1)
		if err != nil {
			return nil, unexpected(err)
		}
		elems = append(elems, v)
	}
	return elems, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func isSpecialDouble(b []byte) bool {
	switch string(b) {
	case "inf", "-inf", "nan":
		return true
	}
	return false
}

func isBigNumber(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func truncateLine(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// Equal reports whether v and o are the same reply: same type, same null
// form, same payload, same elements in the same order.
func (v Value) Equal(o Value) bool {
	if v.Kind != o.Kind || v.Null != o.Null || v.Int != o.Int || v.Bool != o.Bool ||
		v.Format != o.Format || !bytes.Equal(v.Str, o.Str) ||
		len(v.Elems) != len(o.Elems) || len(v.Attrs) != len(o.Attrs) {
		return false
	}
	for i := range v.Elems {
		if !v.Elems[i].Equal(o.Elems[i]) {
			return false
		}
	}
	for i := range v.Attrs {
		if !v.Attrs[i].Equal(o.Attrs[i]) {
			return false
		}
	}
	return true
}

// AppendRESP appends v encoded on the wire as a server sends it, so that
// ReadReply of the result gives back v.
func (v Value) AppendRESP(dst []byte) []byte {
	if len(v.Attrs) > 0 {
		dst = appendHeader(dst, byte(kindAttribute), int64(len(v.Attrs)/2))
		for _, a := range v.Attrs {
			dst = a.AppendRESP(dst)
		}
	}
	if v.Null {
		return appendHeader(dst, byte(v.Kind), -1)
	}
	switch v.Kind {
	case KindInt:
		return appendHeader(dst, ':', v.Int)
	case KindNull:
		return append(dst, "_\r\n"...)
	case KindBool:
		if v.Bool {
			return append(dst, "#t\r\n"...)
		}
		return append(dst, "#f\r\n"...)
	case KindBulk, KindBlobError:
		dst = appendHeader(dst, byte(v.Kind), int64(len(v.Str)))
		dst = append(dst, v.Str...)
		return append(dst, '\r', '\n')
	case KindVerbatim:
		dst = appendHeader(dst, '=', int64(len(v.Str)+4))
		dst = append(dst, v.Format...)
		dst = append(dst, ':')
		dst = append(dst, v.Str...)
		return append(dst, '\r', '\n')
	case KindArray, KindSet, KindPush, KindMap:
		n := int64(len(v.Elems))
		if v.Kind == KindMap {
			n /= 2
		}
		dst = appendHeader(dst, byte(v.Kind), n)
		for _, e := range v.Elems {
			dst = e.AppendRESP(dst)
		}
		return dst
	default: // simple, error, double, big number: a line
		dst = append(dst, byte(v.Kind))
		dst = append(dst, v.Str...)
		return append(dst, '\r', '\n')
	}
}

func appendHeader(dst []byte, prefix byte, n int64) []byte {
	dst = append(dst, prefix)
	dst = strconv.AppendInt(dst, n, 10)
	return append(dst, '\r', '\n')
}

// String renders v for people, like redis-cli with the RESP type always
// named, one element per line with indices, so two renderings can be read
// side by side in a test failure.
func (v Value) String() string { return v.StringMax(-1) }

// StringMax is String with every payload longer than max bytes cut to max
// and followed by its full length, for messages about large replies. A
// negative max shows everything.
func (v Value) StringMax(max int) string {
	var sb strings.Builder
	v.format(&sb, "", max)
	return sb.String()
}

// quote renders a payload for String, cut to max bytes when max >= 0.
func quote(b []byte, max int) string {
	if max >= 0 && len(b) > max {
		return strconv.Quote(string(b[:max])) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return strconv.Quote(string(b))
}

var kindNames = map[Kind]string{
	KindSimple: "simple", KindError: "error", KindInt: "integer", KindBulk: "bulk",
	KindArray: "array", KindNull: "null", KindMap: "map", KindSet: "set",
	KindPush: "push", KindDouble: "double", KindBool: "bool", KindVerbatim: "verbatim",
	KindBigNumber: "big number", KindBlobError: "blob error",
}

// String is the RESP type's name as Value.String shows it.
func (k Kind) String() string {
	if name, ok := kindNames[k]; ok {
		return name
	}
	return fmt.Sprintf("kind(%q)", byte(k))
}

func (v Value) format(sb *strings.Builder, indent string, max int) {
	if len(v.Attrs) > 0 {
		sb.WriteString("(attributes) ")
		Value{Kind: KindMap, Elems: v.Attrs}.format(sb, indent, max)
		sb.WriteString("\n" + indent)
	}
	switch {
	case v.Null:
		fmt.Fprintf(sb, "(nil %s)", v.Kind)
	case v.Kind == KindInt:
		fmt.Fprintf(sb, "(integer) %d", v.Int)
	case v.Kind == KindNull:
		sb.WriteString("(null)")
	case v.Kind == KindBool:
		fmt.Fprintf(sb, "(bool) %t", v.Bool)
	case v.Kind == KindBulk:
		sb.WriteString(quote(v.Str, max))
	case v.Kind == KindVerbatim:
		fmt.Fprintf(sb, "(verbatim %s) %s", v.Format, quote(v.Str, max))
	case len(v.Elems) == 0 && (v.Kind == KindArray || v.Kind == KindSet || v.Kind == KindPush || v.Kind == KindMap):
		fmt.Fprintf(sb, "(empty %s)", v.Kind)
	case v.Kind == KindArray || v.Kind == KindSet || v.Kind == KindPush:
		fmt.Fprintf(sb, "(%s of %d)", v.Kind, len(v.Elems))
		for i, e := range v.Elems {
			fmt.Fprintf(sb, "\n%s%d) ", indent, i+1)
			e.format(sb, indent+"   ", max)
		}
	case v.Kind == KindMap:
		fmt.Fprintf(sb, "(map of %d)", len(v.Elems)/2)
		for i := 0; i+1 < len(v.Elems); i += 2 {
			fmt.Fprintf(sb, "\n%s%d# ", indent, i/2+1)
			v.Elems[i].format(sb, indent+"   ", max)
			sb.WriteString(" => ")
			v.Elems[i+1].format(sb, indent+"   ", max)
		}
	default:
		fmt.Fprintf(sb, "(%s) %s", v.Kind, quote(v.Str, max))
	}
}
