package lualib

import (
	"strings"
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// jsonToken is a token type; its name is what parse errors print.
type jsonToken int

const (
	tObjBegin jsonToken = iota
	tObjEnd
	tArrBegin
	tArrEnd
	tString
	tNumber
	tBoolean
	tNull
	tColon
	tComma
	tEnd
	tWhitespace
	tError
	tUnknown
)

var jsonTokenName = [...]string{"T_OBJ_BEGIN", "T_OBJ_END", "T_ARR_BEGIN", "T_ARR_END",
	"T_STRING", "T_NUMBER", "T_BOOLEAN", "T_NULL", "T_COLON", "T_COMMA", "T_END",
	"T_WHITESPACE", "T_ERROR", "T_UNKNOWN"}

// jsonCharToken is cjson's ch2token: the token a byte starts. A NUL byte is
// the end of the input, as in the C parser.
var jsonCharToken = func() [256]jsonToken {
	var t [256]jsonToken
	for i := range t {
		t[i] = tError
	}
	t[0] = tEnd
	t[' '], t['\t'], t['\n'], t['\r'] = tWhitespace, tWhitespace, tWhitespace, tWhitespace
	t['{'], t['}'], t['['], t[']'] = tObjBegin, tObjEnd, tArrBegin, tArrEnd
	t[':'], t[','] = tColon, tComma
	for _, c := range "fiInNt\"+-0123456789" {
		t[c] = tUnknown
	}
	return t
}()

// jsonUnescape is cjson's escape2char ('u' is handled apart).
var jsonUnescape = [256]byte{'"': '"', '\\': '\\', '/': '/', 'b': '\b', 't': '\t',
	'n': '\n', 'f': '\f', 'r': '\r', 'u': 'u'}

type jsonTok struct {
	typ   jsonToken
	index int // byte offset where the token starts (errors print index+1)
	str   string
	num   float64
	bool  bool
	err   string // for tError
}

// jsonDecoder holds one cjson.decode call.
type jsonDecoder struct {
	L     *lua.LState
	cfg   *cjsonConfig
	data  string
	ptr   int
	depth int
	tmp   []byte
}

func (c *cjsonLib) decode(L *lua.LState) int {
	if L.GetTop() != 1 {
		L.ArgError(1, "expected 1 argument")
	}
	d := &jsonDecoder{L: L, cfg: c.cfg, data: CheckString(L, 1)}
	if len(d.data) >= 2 && (d.data[0] == 0 || d.data[1] == 0) {
		raise(L, "JSON parser does not support UTF-16 or UTF-32")
	}
	tok := &jsonTok{}
	d.next(tok)
	v := d.value(tok, 1)
	d.next(tok)
	if tok.typ != tEnd {
		d.parseError("the end", tok)
	}
	L.Push(v)
	return 1
}

// at returns the byte at i, or 0 past the end (the C string's terminator).
func (d *jsonDecoder) at(i int) byte {
	if i < len(d.data) {
		return d.data[i]
	}
	return 0
}

func (d *jsonDecoder) parseError(expected string, tok *jsonTok) {
	found := jsonTokenName[tok.typ]
	if tok.typ == tError {
		found = tok.err
	}
	raise(d.L, "Expected %s but found %s at character %d", expected, found, tok.index+1)
}

func (d *jsonDecoder) tokenError(tok *jsonTok, msg string) {
	tok.typ = tError
	tok.index = d.ptr
	tok.err = msg
}

// next is json_next_token.
func (d *jsonDecoder) next(tok *jsonTok) {
	var ch byte
	for {
		ch = d.at(d.ptr)
		tok.typ = jsonCharToken[ch]
		if tok.typ != tWhitespace {
			break
		}
		d.ptr++
	}
	tok.index = d.ptr
	switch tok.typ {
	case tError:
		d.tokenError(tok, "invalid token")
		return
	case tEnd:
		return
	case tUnknown:
	default:
		d.ptr++
		return
	}
	rest := d.data[d.ptr:]
	switch {
	case ch == '"':
		d.stringToken(tok)
	case ch == '-' || isDigit(ch):
		if !d.cfg.decodeInvalidNumbers && d.invalidNumber() {
			d.tokenError(tok, "invalid number")
			return
		}
		d.numberToken(tok)
	case strings.HasPrefix(rest, "true"):
		tok.typ, tok.bool = tBoolean, true
		d.ptr += 4
	case strings.HasPrefix(rest, "false"):
		tok.typ, tok.bool = tBoolean, false
		d.ptr += 5
	case strings.HasPrefix(rest, "null"):
		tok.typ = tNull
		d.ptr += 4
	case d.cfg.decodeInvalidNumbers && d.invalidNumber():
		d.numberToken(tok)
	default:
		d.tokenError(tok, "invalid token")
	}
}

// invalidNumber is json_is_invalid_number: numbers JSON forbids but strtod
// reads (leading '+', hex, leading zeros, inf, nan).
func (d *jsonDecoder) invalidNumber() bool {
	p := d.ptr
	if d.at(p) == '+' {
		return true
	}
	if d.at(p) == '-' {
		p++
	}
	if c := d.at(p); c == '0' {
		c2 := d.at(p + 1)
		return c2|0x20 == 'x' || isDigit(c2)
	} else if c <= '9' {
		return false
	}
	rest := d.data[p:]
	return hasPrefixFold(rest, "inf") || hasPrefixFold(rest, "nan")
}

func (d *jsonDecoder) numberToken(tok *jsonTok) {
	tok.typ = tNumber
	f, n := lua.Strtod(d.data[d.ptr:])
	if n == 0 {
		d.tokenError(tok, "invalid number")
		return
	}
	tok.num = f
	d.ptr += n
}

// stringToken is json_next_string_token.
func (d *jsonDecoder) stringToken(tok *jsonTok) {
	d.ptr++ // opening quote
	d.tmp = d.tmp[:0]
	for {
		ch := d.at(d.ptr)
		if ch == '"' {
			break
		}
		if ch == 0 {
			d.tokenError(tok, "unexpected end of string")
			return
		}
		if ch == '\\' {
			ch = jsonUnescape[d.at(d.ptr+1)]
			if ch == 'u' {
				if d.unicodeEscape() {
					continue
				}
				d.tokenError(tok, "invalid unicode escape code")
				return
			}
			if ch == 0 {
				d.tokenError(tok, "invalid escape code")
				return
			}
			d.ptr++
		}
		d.tmp = append(d.tmp, ch)
		d.ptr++
	}
	d.ptr++ // closing quote
	tok.typ = tString
	tok.str = string(d.tmp)
}

func (d *jsonDecoder) hex4(p int) int {
	v := 0
	for i := 0; i < 4; i++ {
		c := d.at(p + i)
		var x int
		switch {
		case isDigit(c):
			x = int(c - '0')
		case c|0x20 >= 'a' && c|0x20 <= 'f':
			x = int(c|0x20-'a') + 10
		default:
			return -1
		}
		v = v<<4 | x
	}
	return v
}

// unicodeEscape is json_append_unicode_escape: \uXXXX, or a surrogate pair
// of two, appended as UTF-8 (a lone or misordered surrogate is an error).
func (d *jsonDecoder) unicodeEscape() bool {
	cp := d.hex4(d.ptr + 2)
	if cp < 0 {
		return false
	}
	escLen := 6
	if cp&0xF800 == 0xD800 {
		if cp&0x400 != 0 {
			return false
		}
		if d.at(d.ptr+6) != '\\' || d.at(d.ptr+7) != 'u' {
			return false
		}
		low := d.hex4(d.ptr + 8)
		if low < 0 || low&0xFC00 != 0xDC00 {
			return false
		}
		cp = ((cp&0x3FF)<<10 | low&0x3FF) + 0x10000
		escLen = 12
	}
	d.tmp = utf8.AppendRune(d.tmp, rune(cp))
	d.ptr += escLen
	return true
}

// descend is json_decode_descend: slots is what the C needs on its stack
// at this level (Lua's C stack holds at most maxCStack).
func (d *jsonDecoder) descend(top, slots int) {
	d.depth++
	if d.depth <= d.cfg.decodeMaxDepth && top+slots <= maxCStack {
		return
	}
	raise(d.L, "Found too many nested data structures (%d) at character %d", d.depth, d.ptr)
}

// value is json_process_value; top is the C stack height before the value.
func (d *jsonDecoder) value(tok *jsonTok, top int) lua.LValue {
	switch tok.typ {
	case tString:
		return lua.LString(tok.str)
	case tNumber:
		return lua.LNumber(tok.num)
	case tBoolean:
		return lua.LBool(tok.bool)
	case tObjBegin:
		return d.object(top)
	case tArrBegin:
		return d.array(top)
	case tNull:
		return d.cfg.null
	}
	d.parseError("value", tok)
	return lua.LNil
}

// open starts an object or array: it descends, makes the table and reads
// the first token, reporting whether that token closes an empty one.
func (d *jsonDecoder) open(top, slots int, end jsonToken) (*lua.LTable, *jsonTok, bool) {
	d.descend(top, slots)
	t := d.L.NewTable()
	tok := &jsonTok{}
	d.next(tok)
	if tok.typ == end {
		d.depth--
		return t, tok, true
	}
	return t, tok, false
}

// closeOrComma reads the token after a member: the closing one (true), or
// a comma and the token after it.
func (d *jsonDecoder) closeOrComma(tok *jsonTok, end jsonToken, expected string) bool {
	d.next(tok)
	if tok.typ == end {
		d.depth--
		return true
	}
	if tok.typ != tComma {
		d.parseError(expected, tok)
	}
	d.next(tok)
	return false
}

func (d *jsonDecoder) object(top int) lua.LValue {
	t, tok, empty := d.open(top, 3, tObjEnd)
	if empty {
		return t
	}
	for {
		if tok.typ != tString {
			d.parseError("object key string", tok)
		}
		key := tok.str
		d.next(tok)
		if tok.typ != tColon {
			d.parseError("colon", tok)
		}
		d.next(tok)
		t.RawSetString(key, d.value(tok, top+2))
		if d.closeOrComma(tok, tObjEnd, "comma or object end") {
			return t
		}
	}
}

func (d *jsonDecoder) array(top int) lua.LValue {
	t, tok, empty := d.open(top, 2, tArrEnd)
	if empty {
		return t
	}
	for i := 1; ; i++ {
		t.RawSetInt(i, d.value(tok, top+1))
		if d.closeOrComma(tok, tArrEnd, "comma or array end") {
			return t
		}
	}
}
