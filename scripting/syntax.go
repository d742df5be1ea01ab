package scripting

import (
	"errors"
	"fmt"
	"strings"

	"github.com/yuin/gopher-lua/parse"
)

// luaSyntaxError words a gopher-lua parse error as Lua 5.1's parser would
// ("user_script:1: unexpected symbol near '+'"). gopher-lua's parser only
// says "syntax error" at a token, so the expectation Lua 5.1 names is
// inferred from what precedes the token: a name after 'local', an 'end'
// for a block left open at the end of the chunk; otherwise the symbol is
// unexpected.
func luaSyntaxError(err error, src, name string) string {
	var pe *parse.Error
	if !errors.As(err, &pe) {
		return name + ": " + strings.TrimSpace(err.Error())
	}
	atEOF := pe.Pos.Line == parse.EOF
	line := pe.Pos.Line
	if atEOF {
		line = strings.Count(src, "\n") + 1
	}
	near := "'" + pe.Token + "'"
	if atEOF {
		near = "'<eof>'"
	}
	switch {
	case strings.Contains(pe.Message, "unterminated string"):
		return fmt.Sprintf("%s:%d: unfinished string near %s", name, line, near)
	case pe.Message != "syntax error":
		return fmt.Sprintf("%s:%d: %s near %s", name, line, pe.Message, near)
	case atEOF && openBlocks(src) > 0:
		return fmt.Sprintf("%s:%d: 'end' expected near %s", name, line, near)
	case !atEOF && precededBy(src, pe.Pos.Line, pe.Pos.Column, "local"):
		return fmt.Sprintf("%s:%d: '<name>' expected near %s", name, line, near)
	}
	return fmt.Sprintf("%s:%d: unexpected symbol near %s", name, line, near)
}

// precededBy reports whether the last word before column col (1-based) of
// line ln of src is word.
func precededBy(src string, ln, col int, word string) bool {
	lines := strings.Split(src, "\n")
	if ln < 1 || ln > len(lines) {
		return false
	}
	l := lines[ln-1]
	if col-1 > len(l) || col < 1 {
		return false
	}
	before := strings.TrimRight(l[:col-1], " \t\r")
	return strings.HasSuffix(before, word) &&
		(len(before) == len(word) || !isWordByte(before[len(before)-len(word)-1]))
}

// openBlocks counts the blocks src opens and does not close, by keyword
// (function, do, then, repeat against end, until; while and for open with
// their do, elseif shares its if's end).
func openBlocks(src string) int {
	n := 0
	for _, w := range strings.FieldsFunc(src, func(r rune) bool { return r > 127 || !isWordByte(byte(r)) }) {
		switch w {
		case "function", "do", "then", "repeat":
			n++
		case "end", "until":
			n--
		case "elseif":
			n-- // its then opens again
		}
	}
	return n
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
