package types

// Constructors for decoders of stored values (disktier): they append to a
// compact encoding in O(1) per element where the write path (Set, Add)
// searches the listpack first, which makes rebuilding a listpack of n
// entries O(n²). The caller vouches for what the write path would check,
// and each function says what that is.

// AppendListpackPair appends field, value to a listpack hash, keeping the
// listpack encoding whatever the sizes. The caller guarantees field is not
// in the hash yet (a stored hash's fields are distinct). It reports false,
// changing nothing, once the hash is a hashtable.
func (h *Hash) AppendListpackPair(field, value []byte) bool {
	if h.ht != nil {
		return false
	}
	h.lp = lpAppend(h.lp, strVal(field))
	h.lp = lpAppend(h.lp, strVal(value))
	return true
}

// AppendListpackMember appends member with score to a listpack sorted set,
// keeping the listpack encoding whatever the sizes. The caller guarantees
// that member is not in the set and that (score, member) sorts after every
// pair already in it, as a stored sorted set read in order does. It
// reports false, changing nothing, once the set is a skiplist or when the
// order would break.
func (z *ZSet) AppendListpackMember(member []byte, score float64) bool {
	if z.sl != nil {
		return false
	}
	if len(z.lp) > 0 {
		last := lpPrev(z.lp, len(z.lp))
		prev := lpPrev(z.lp, last)
		m, _ := lpGet(z.lp, prev)
		s, _ := lpScore(z.lp, last)
		if s > score || (s == score && m.Compare(member) >= 0) {
			return false
		}
	}
	z.lp = lpAppend(z.lp, strVal(member))
	z.lp = lpAppend(z.lp, scoreVal(score))
	return true
}
