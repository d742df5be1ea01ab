package commands

import (
	"github.com/structd/structd/memtier"
)

// lcsMatch is one run of LCS IDX: byte ranges [a0,a1] of the first string
// and [b0,b1] of the second that match, both inclusive.
type lcsMatch struct{ a0, a1, b0, b1 int }

func cmdLCS(c *Ctx) {
	a, b, ok := lcsStrings(c)
	if !ok {
		return
	}
	var getLen, getIdx, withMatchLen bool
	var minMatchLen int64
	for j := 3; j < len(c.Args); j++ {
		switch {
		case c.ArgIs(j, "idx"):
			getIdx = true
		case c.ArgIs(j, "len"):
			getLen = true
		case c.ArgIs(j, "withmatchlen"):
			withMatchLen = true
		case c.ArgIs(j, "minmatchlen") && j+1 < len(c.Args):
			j++
			if minMatchLen, ok = c.Int(j); !ok {
				return
			}
			minMatchLen = max(minMatchLen, 0)
		default:
			c.W.Error(ErrSyntax)
			return
		}
	}
	if getIdx && getLen {
		c.W.Error("ERR If you want both the length and indexes, please just use IDX.")
		return
	}
	// Redis builds the full (len(a)+1)×(len(b)+1) table of uint32 and
	// refuses one larger than proto-max-bulk-len.
	if cells := uint64(len(a)+1) * uint64(len(b)+1); cells*4 > uint64(maxStringLen(c)) {
		c.W.Error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len")
		return
	}
	table := lcsTable(a, b)
	if getLen {
		c.W.Int(int64(table[len(table)-1]))
		return
	}
	result, matches := lcsBacktrack(a, b, table, minMatchLen)
	if !getIdx {
		c.W.Bulk(result)
		return
	}
	c.W.Map(2)
	c.W.BulkString("matches")
	c.W.Array(len(matches))
	for _, m := range matches {
		n := 2
		if withMatchLen {
			n = 3
		}
		c.W.Array(n)
		c.W.Array(2)
		c.W.Int(int64(m.a0))
		c.W.Int(int64(m.a1))
		c.W.Array(2)
		c.W.Int(int64(m.b0))
		c.W.Int(int64(m.b1))
		if withMatchLen {
			c.W.Int(int64(m.a1 - m.a0 + 1))
		}
	}
	c.W.BulkString("len")
	c.W.Int(int64(len(result)))
}

// lcsStrings returns the two strings LCS compares; missing keys read as
// empty strings, other types are refused with LCS's own error.
func lcsStrings(c *Ctx) (a, b []byte, ok bool) {
	oa, ob := c.DB.Get(c.Args[1]), c.DB.Get(c.Args[2])
	if (oa != nil && oa.Type != memtier.TypeString) || (ob != nil && ob.Type != memtier.TypeString) {
		c.W.Error("ERR The specified keys must contain string values")
		return nil, nil, false
	}
	if oa != nil {
		a = oa.Bytes()
	}
	if ob != nil {
		b = ob.Bytes()
	}
	return a, b, true
}

// lcsTable fills the dynamic-programming table: cell i*(len(b)+1)+j holds
// the length of the LCS of a[:i] and b[:j].
func lcsTable(a, b []byte) []uint32 {
	w := len(b) + 1
	t := make([]uint32, (len(a)+1)*w)
	for i := 1; i <= len(a); i++ {
		row, prev := t[i*w:(i+1)*w], t[(i-1)*w:i*w]
		for j := 1; j <= len(b); j++ {
			switch {
			case a[i-1] == b[j-1]:
				row[j] = prev[j-1] + 1
			case prev[j] > row[j-1]:
				row[j] = prev[j]
			default:
				row[j] = row[j-1]
			}
		}
	}
	return t
}

// lcsBacktrack walks the table back from the end as Redis does, returning
// the common subsequence and its matching runs from last to first, keeping
// runs of at least minLen bytes. Ties go towards shorter b, as in Redis, so
// the reply is the same subsequence Redis picks.
func lcsBacktrack(a, b []byte, t []uint32, minLen int64) ([]byte, []lcsMatch) {
	w := len(b) + 1
	n := t[len(t)-1]
	result := make([]byte, n)
	var matches []lcsMatch
	idx := int(n)
	inRun := false
	var cur lcsMatch
	emit := func() {
		if minLen == 0 || int64(cur.a1-cur.a0+1) >= minLen {
			matches = append(matches, cur)
		}
		inRun = false
	}
	i, j := len(a), len(b)
	for i > 0 && j > 0 {
		if a[i-1] == b[j-1] {
			result[idx-1] = a[i-1]
			if !inRun {
				cur = lcsMatch{a0: i - 1, a1: i - 1, b0: j - 1, b1: j - 1}
				inRun = true
			} else {
				// Matches right after a match are contiguous in both.
				cur.a0--
				cur.b0--
			}
			idx--
			i--
			j--
			if cur.a0 == 0 || cur.b0 == 0 {
				emit()
			}
			continue
		}
		if t[(i-1)*w+j] > t[i*w+j-1] {
			i--
		} else {
			j--
		}
		if inRun {
			emit()
		}
	}
	return result, matches
}
