package glob

import (
	"strings"
	"testing"
)

// The expectations were read from redis-server 7.0.15 with KEYS (one key,
// one pattern), except where noted.
func TestMatchLikeRedis(t *testing.T) {
	cases := []struct {
		pattern, str string
		want         bool
	}{
		// stringmatchlen itself does not match "*" against the empty
		// string; KEYS and SCAN short-cut the pattern "*" before calling it.
		{"*", "", false},
		{"*", "abc", true},
		{"?", "a", true},
		{"?", "", false},
		{"??", "a", false},
		{"a*", "a", true},
		{"a*b", "ab", true},
		{"a*b", "axxb", true},
		{"a*b", "axxbc", false},
		{"*b", "abcb", true},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"[abc]", "b", true},
		{"[abc]", "d", false},
		{"[^abc]", "d", true},
		{"[^abc]", "a", false},
		{"[a-c]", "b", true},
		{"[c-a]", "b", true},
		{"[a-c]", "d", false},
		{"[^a-c]x", "dx", true},
		{"\\*", "*", true},
		{"\\*", "a", false},
		{"a\\?", "a?", true},
		{"a\\?", "ab", false},
		{"[\\]]", "]", true},
		{"[\\-]", "-", true},
		{"[a-]", "^", true},
		{"[a-]", "b", false},
		{"[a-]x", "]x", false},
		{"[a-]x]", "`x", false},
		{"[abc", "b", true},
		{"[abc", "c", true},
		{"[abc", "bc", false},
		{"[", "a", false},
		{"[^", "a", true},
		{"[]", "a", false},
		{"[]]", "]", false},
		{"[]a]", "a", false},
		{"\\", "\\", true},
		{"a\\", "a\\", true},
		{"a\\", "a", false},
		{"**a", "a", true},
		{"a**", "abc", true},
		{"*a*b*c*", "xaybzc", true},
		{"*a*b*c*", "xaybz", false},
		{"h[ae]llo", "hello", true},
		{"h[ae]llo", "hallo", true},
		{"h[ae]llo", "hillo", false},
		{"H*", "hello", false},
		{"user:{*}", "user:{1}", true},
		{"[a-z]*", "Abc", false},
		{"a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"*?", "a", true},
		{"*?", "", false},
		{"?*", "", false},
		{"[\\a]", "a", true},
		{"[^]", "a", true},
		{"[^]]", "a", false},
		{"[--0]", "/", true},
		{"a[b-", "ab", true},
		{"a[b-", "a-", true},
		{"a[b-", "a[", false},
		{"\\\\", "\\", true},
		{"[*]", "*", true},
		{"[*]", "a", false},
		{"[?]", "?", true},
		{"x*", "x", true},
		{"*x*", "x", true},
		{"a[]b", "ab", false},
		{"a[]b", "a]b", false},
	}
	for _, c := range cases {
		if got := Match(c.pattern, c.str); got != c.want {
			t.Errorf("Match(%q, %q) = %v, want %v", c.pattern, c.str, got, c.want)
		}
		if got := Match([]byte(c.pattern), []byte(c.str)); got != c.want {
			t.Errorf("Match([]byte %q, %q) = %v, want %v", c.pattern, c.str, got, c.want)
		}
	}
}

func TestMatchFold(t *testing.T) {
	cases := []struct {
		pattern, str string
		want         bool
	}{
		{"MAXMEMORY*", "maxmemory-policy", true},
		{"[A-C]x", "bX", true},
		{"[a-c]x", "BX", true},
		{"[^A-C]x", "bx", false},
		{"h?LLo", "HeLlO", true},
		{"\\A", "a", true},
		{"[\\A]", "a", false}, // escaped set members compare exactly
	}
	for _, c := range cases {
		if got := MatchFold(c.pattern, c.str); got != c.want {
			t.Errorf("MatchFold(%q, %q) = %v, want %v", c.pattern, c.str, got, c.want)
		}
	}
}

func TestMatchBinary(t *testing.T) {
	if !Match("a\x00*", "a\x00\r\nb") {
		t.Error("NUL in pattern and subject must match as a byte")
	}
	if Match("a\x00", "a") {
		t.Error("NUL must not end the pattern")
	}
	if !Match("[\x00-\x02]", "\x01") {
		t.Error("ranges over control bytes")
	}
}

// A pattern that makes a naive matcher exponential must finish fast: the
// skip-longer-matches rule keeps it polynomial.
func TestMatchPathological(t *testing.T) {
	p := strings.Repeat("a*", 30) + "b"
	s := strings.Repeat("a", 5000)
	if Match(p, s) {
		t.Error("no b in subject, must not match")
	}
}

// Deeply nested stars give up rather than exhaust the stack.
func TestMatchNestingLimit(t *testing.T) {
	p := strings.Repeat("a*", maxNesting+10)
	s := strings.Repeat("a", maxNesting+20)
	if Match(p, s) {
		t.Error("past the nesting limit Match reports no match")
	}
	p = strings.Repeat("a*", 100)
	s = strings.Repeat("a", 200)
	if !Match(p, s) {
		t.Error("within the nesting limit the pattern matches")
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("[a-]x]", "`x")
	f.Add("*a*b[^c-]\\", "aab\\")
	f.Add("[", "")
	f.Fuzz(func(t *testing.T, p, s string) {
		Match(p, s)
		MatchFold(p, s)
	})
}

func BenchmarkMatch(b *testing.B) {
	p, s := "user:*:session[0-9]", "user:12345:session7"
	for b.Loop() {
		Match(p, s)
	}
}
