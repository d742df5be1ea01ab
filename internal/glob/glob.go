// Package glob matches Redis glob-style patterns, as KEYS, SCAN's MATCH,
// PSUBSCRIBE and CONFIG GET use them. Match follows Redis's stringmatchlen
// byte for byte, including its quirks:
//
//   - '*' matches any run of bytes, '?' any one byte;
//   - "[abc]" a byte of the set, "[^abc]" one not in it, "[a-z]" a range
//     (its ends may be given in either order), '\' escapes inside and outside
//     a set;
//   - an unclosed '[' takes the rest of the pattern as its set;
//   - a range may swallow the closing ']' ("[a-]" is the range a..']' and the
//     set goes on past it).
//
// One difference keeps the server safe: Redis 7.0 recurses once per '*'
// without a limit; Match gives up (no match) past maxNesting nested stars,
// as later Redis releases do.
package glob

// maxNesting bounds the recursion of a pattern with many '*'s.
const maxNesting = 1000

// Text is what patterns and subjects may be: keys are strings in maps and
// []byte in requests, and matching either needs no copy.
type Text interface{ ~string | ~[]byte }

// Match reports whether str matches pattern, case-sensitively.
func Match[P, S Text](pattern P, str S) bool {
	skip := false
	return match(pattern, str, false, &skip, 0)
}

// MatchFold is Match ignoring ASCII case, as CONFIG GET matches names.
func MatchFold[P, S Text](pattern P, str S) bool {
	skip := false
	return match(pattern, str, true, &skip, 0)
}

// match is stringmatchlen_impl. skipLonger is set once a '*' found no match
// for the rest of the pattern anywhere in the rest of the string: no earlier
// '*' can then succeed by matching more, which keeps the search polynomial.
func match[P, S Text](p P, s S, nocase bool, skipLonger *bool, nesting int) bool {
	if nesting > maxNesting {
		return false
	}
	for len(p) > 0 && len(s) > 0 {
		switch p[0] {
		case '*':
			for len(p) > 1 && p[1] == '*' {
				p = p[1:]
			}
			if len(p) == 1 {
				return true
			}
			for len(s) > 0 {
				if match(p[1:], s, nocase, skipLonger, nesting+1) {
					return true
				}
				if *skipLonger {
					return false
				}
				s = s[1:]
			}
			*skipLonger = true
			return false
		case '?':
			p = p[1:]
		case '[':
			var ok bool
			if p, ok = matchSet(p[1:], s[0], nocase); !ok {
				return false
			}
		case '\\':
			if len(p) >= 2 {
				p = p[1:]
			}
			fallthrough
		default:
			if !equal(p[0], s[0], nocase) {
				return false
			}
			p = p[1:]
		}
		s = s[1:]
		if len(s) == 0 {
			for len(p) > 0 && p[0] == '*' {
				p = p[1:]
			}
			break
		}
	}
	return len(p) == 0 && len(s) == 0
}

// matchSet matches c against the set that starts at p (just after '[') and
// returns the pattern after the set: after its ']', or empty when the set is
// unclosed (stringmatchlen then takes the rest of the pattern as the set).
func matchSet[P Text](p P, c byte, nocase bool) (P, bool) {
	not := len(p) > 0 && p[0] == '^'
	if not {
		p = p[1:]
	}
	matched := false
	for {
		switch {
		case len(p) >= 2 && p[0] == '\\':
			p = p[1:]
			if p[0] == c {
				matched = true
			}
		case len(p) == 0:
			return p, matched != not
		case p[0] == ']':
			return p[1:], matched != not
		case len(p) >= 3 && p[1] == '-':
			start, end, x := p[0], p[2], c
			if start > end {
				start, end = end, start
			}
			if nocase {
				start, end, x = lower(start), lower(end), lower(x)
			}
			p = p[2:]
			if x >= start && x <= end {
				matched = true
			}
		default:
			if equal(p[0], c, nocase) {
				matched = true
			}
		}
		p = p[1:]
	}
}

func equal(a, b byte, nocase bool) bool {
	if nocase {
		return lower(a) == lower(b)
	}
	return a == b
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}
