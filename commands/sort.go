package commands

import (
	"bytes"
	"cmp"
	"math"
	"slices"

	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// SORT and SORT_RO (sort.c): sort the members of a list, set or sorted set
// numerically or (ALPHA) by bytes, by themselves or by the values of other
// keys (BY pattern, with "*" replaced by the member and "->field" reading a
// hash field), returning them or other keys' values (GET), or storing the
// result as a list (STORE).
//
// BY and GET patterns read keys that are not among the command's declared
// keys, so a SORT that has them runs with the whole keyspace locked
// (Command.Wide), which keeps it atomic under per-slot locking.

const errSortScores = "ERR One or more scores can't be converted into double"

func init() {
	cats := []string{"write", "set", "sortedset", "list", "slow", "dangerous"}
	register(
		&Command{Name: "sort", Arity: -2, Flags: Write | DenyOOM, FirstKey: 1, LastKey: 1, KeyStep: 1,
			Keys: sortKeys, Wide: sortReadsPatterns, Categories: cats, Handler: cmdSort},
		&Command{Name: "sort_ro", Arity: -2, Flags: ReadOnly | MovableKeys, FirstKey: 1, LastKey: 1, KeyStep: 1,
			Wide: sortReadsPatterns, Categories: []string{"read", "set", "sortedset", "list", "slow", "dangerous"},
			Handler: cmdSortRO},
	)
}

// sortKeys finds SORT's keys: the sorted key and the last STORE
// destination. It walks the options exactly as sortGeneric parses them, so
// the destination it declares (and Exec locks) is the one the handler
// writes; Redis's sortGetKeys differs only on malformed or odd commands
// such as "STORE limit STORE d", where it would miss the real destination.
func sortKeys(args [][]byte) []int {
	keys := []int{1}
	store := 0
scan:
	for i := 2; i < len(args); i++ {
		left := len(args) - i - 1
		switch {
		case bytes.EqualFold(args[i], []byte("limit")) && left >= 2:
			i += 2
		case (bytes.EqualFold(args[i], []byte("get")) || bytes.EqualFold(args[i], []byte("by"))) && left >= 1:
			i++
		case bytes.EqualFold(args[i], []byte("store")) && left >= 1:
			store = i + 1
			i++
		case bytes.EqualFold(args[i], []byte("asc")), bytes.EqualFold(args[i], []byte("desc")),
			bytes.EqualFold(args[i], []byte("alpha")):
		default:
			break scan // the handler stops here with a syntax error
		}
	}
	if store > 0 {
		keys = append(keys, store)
	}
	return keys
}

// sortReadsPatterns reports whether a SORT may read keys through a BY or
// GET pattern: only a pattern with "*" names other keys ("#" and patterns
// without "*", such as BY nosort, read nothing). It looks at the argument
// after every BY or GET word, which includes every pattern the handler
// uses: being wrong the other way would only cost concurrency.
func sortReadsPatterns(args [][]byte) bool {
	for i := 2; i+1 < len(args); i++ {
		if (bytes.EqualFold(args[i], []byte("by")) || bytes.EqualFold(args[i], []byte("get"))) &&
			bytes.IndexByte(args[i+1], '*') >= 0 {
			return true
		}
	}
	return false
}

func cmdSort(c *Ctx)   { sortGeneric(c, false) }
func cmdSortRO(c *Ctx) { sortGeneric(c, true) }

// sortItem is one element being sorted: the member, its numeric score and,
// for ALPHA BY, the value it sorts by (nil when the BY key is missing).
type sortItem struct {
	member []byte
	score  float64
	by     []byte
	hasBy  bool
}

// sortGeneric is Redis's sortCommandGeneric.
func sortGeneric(c *Ctx, readonly bool) {
	var (
		desc, alpha, dontSort bool
		limitStart            int64
		limitCount            int64 = -1
		sortBy, storeKey      []byte
		gets                  [][]byte
	)
	for j := 2; j < len(c.Args); j++ {
		left := len(c.Args) - j - 1
		switch {
		case c.ArgIs(j, "asc"):
			desc = false
		case c.ArgIs(j, "desc"):
			desc = true
		case c.ArgIs(j, "alpha"):
			alpha = true
		case c.ArgIs(j, "limit") && left >= 2:
			var ok bool
			if limitStart, ok = c.Int(j + 1); !ok {
				return
			}
			if limitCount, ok = c.Int(j + 2); !ok {
				return
			}
			j += 2
		case !readonly && c.ArgIs(j, "store") && left >= 1:
			storeKey = c.Args[j+1]
			j++
		case c.ArgIs(j, "by") && left >= 1:
			sortBy = c.Args[j+1]
			// A pattern without "*" (such as "nosort") means no sorting.
			dontSort = bytes.IndexByte(sortBy, '*') < 0
			j++
		case c.ArgIs(j, "get") && left >= 1:
			gets = append(gets, c.Args[j+1])
			j++
		default:
			c.W.Error(ErrSyntax)
			return
		}
	}
	o := c.DB.Get(c.Args[1])
	if o != nil && o.Type != memtier.TypeList && o.Type != memtier.TypeSet && o.Type != memtier.TypeZSet {
		c.W.Error(ErrWrongType)
		return
	}
	if dontSort && o != nil && o.Type == memtier.TypeSet && storeKey != nil {
		// A set has no order of its own: a stored result must not depend
		// on it, so Redis sorts it by member bytes.
		dontSort, alpha, sortBy = false, true, nil
	}
	if o != nil && o.Type == memtier.TypeZSet {
		forceSkiplist(o.Payload().(*types.ZSet))
	}
	length := int64(0)
	if o != nil {
		length = int64(collectionLen(o))
	}
	start := max(limitStart, 0)
	end := length - 1
	if limitCount >= 0 {
		end = start + limitCount - 1
	}
	if start >= length {
		start, end = length-1, length-2
	}
	end = min(end, length-1)

	items, direct := sortLoad(o, dontSort, desc, start, end)
	if direct {
		// The elements were read in order and already limited.
		end -= start
		start = 0
	}
	convErr := false
	if !dontSort {
		for i := range items {
			it := &items[i]
			byVal := it.member
			if sortBy != nil {
				v, found := lookupByPattern(c, sortBy, it.member)
				if !found {
					continue
				}
				byVal = v
			}
			if alpha {
				if sortBy != nil {
					it.by, it.hasBy = byVal, true
				}
				continue
			}
			s, ok := parseSortScore(byVal)
			if !ok {
				convErr = true
			}
			it.score = s
		}
		slices.SortStableFunc(items, func(a, b sortItem) int {
			r := sortCompare(&a, &b, alpha, sortBy != nil, storeKey != nil)
			if desc {
				return -r
			}
			return r
		})
	}
	outLen := end - start + 1
	if len(gets) > 0 {
		outLen *= int64(len(gets))
	}
	if convErr {
		c.W.Error(errSortScores)
		return
	}
	if storeKey == nil {
		c.W.Array(int(outLen))
		for j := start; j <= end; j++ {
			it := items[j]
			if len(gets) == 0 {
				c.W.Bulk(it.member)
			}
			for _, g := range gets {
				if v, found := lookupByPattern(c, g, it.member); found {
					c.W.Bulk(v)
				} else {
					c.W.Null()
				}
			}
		}
		return
	}
	list := types.NewList()
	fill := listFill(c)
	for j := start; j <= end; j++ {
		it := items[j]
		if len(gets) == 0 {
			list.Push(it.member, false, fill)
		}
		for _, g := range gets {
			v, _ := lookupByPattern(c, g, it.member)
			list.Push(v, false, fill)
		}
	}
	if outLen > 0 {
		c.DB.Set(storeKey, memtier.NewCollection(list))
		c.KeyChanged(EventList, "sortstore", storeKey)
		if o.Type == memtier.TypeSet {
			propagateStoredList(c, storeKey, list)
		}
	} else if c.DB.Delete(storeKey) {
		c.KeyChanged(EventGeneric, "del", storeKey)
	}
	c.W.Int(outLen)
}

// propagateStoredList logs the list SORT ... STORE stored from a set as
// DEL and RPUSH of its elements (invariant 3): elements whose BY values
// tie keep the set's iteration order, which a replay need not share.
func propagateStoredList(c *Ctx, key []byte, list *types.List) {
	elems := make([][]byte, 0, list.Len())
	list.Each(false, func(_ int, e types.Elem) bool {
		elems = append(elems, e.AppendTo(nil))
		return true
	})
	c.Propagate(cmdName("del"), key)
	propagateBatched(c, "rpush", key, elems)
}

// forceSkiplist converts a listpack sorted set to a skiplist, as Redis's
// SORT does to every sorted set it reads (OBJECT ENCODING shows it). The
// types package converts on an insertion past the limits, so one member is
// taken out and put back with a zero entry limit.
func forceSkiplist(z *types.ZSet) {
	if z.Encoding() == "skiplist" || z.Len() == 0 {
		return
	}
	var member []byte
	var score float64
	z.RangeByRank(0, 0, false, func(m types.Elem, s float64) bool {
		member, score = m.AppendTo(nil), s
		return false
	})
	z.Remove(member)
	z.Add(member, score, 0, types.Limits{})
}

func collectionLen(o *memtier.Object) int {
	switch v := o.Payload().(type) {
	case *types.List:
		return v.Len()
	case *types.Set:
		return v.Len()
	case *types.ZSet:
		return v.Len()
	}
	return 0
}

// sortLoad reads the elements to sort. For a list or sorted set that is
// not sorted (BY without "*"), it reads only ranks start..end in the
// requested direction and reports direct true.
func sortLoad(o *memtier.Object, dontSort, desc bool, start, end int64) ([]sortItem, bool) {
	if o == nil {
		return nil, false
	}
	var items []sortItem
	add := func(e types.Elem) { items = append(items, sortItem{member: e.AppendTo(nil)}) }
	switch v := o.Payload().(type) {
	case *types.List:
		if dontSort {
			if end >= start {
				n := int64(v.Len())
				from, to := start, end
				if desc {
					from, to = n-1-end, n-1-start
				}
				v.Range(int(from), int(to), func(e types.Elem) bool { add(e); return true })
				if desc {
					slices.Reverse(items)
				}
			}
			return items, true
		}
		v.Each(false, func(_ int, e types.Elem) bool { add(e); return true })
	case *types.Set:
		v.Each(func(e types.Elem) bool { add(e); return true })
	case *types.ZSet:
		if dontSort {
			if end >= start {
				v.RangeByRank(int(start), int(end), desc, func(e types.Elem, _ float64) bool { add(e); return true })
			}
			return items, true
		}
		v.Each(func(e types.Elem, _ float64) bool { add(e); return true })
	}
	return items, false
}

// sortCompare is Redis's sortCompare before DESC: numeric order with ties
// broken by member bytes; ALPHA compares members, or with BY their values,
// a missing value ordering first. Without STORE, Redis compares ALPHA
// strings with strcoll, which (in the C locale) stops at a NUL byte.
func sortCompare(a, b *sortItem, alpha, byPattern, store bool) int {
	if !alpha {
		if a.score != b.score {
			return cmp.Compare(a.score, b.score)
		}
		return bytes.Compare(a.member, b.member)
	}
	x, y := a.member, b.member
	if byPattern {
		switch {
		case !a.hasBy && !b.hasBy:
			return 0
		case !a.hasBy:
			return -1
		case !b.hasBy:
			return 1
		}
		x, y = a.by, b.by
	}
	if !store {
		x, y = beforeNUL(x), beforeNUL(y)
	}
	return bytes.Compare(x, y)
}

// beforeNUL is b up to its first NUL byte, as C string functions see it.
func beforeNUL(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// parseSortScore reads a sort weight as Redis does with strtod: leading
// space skipped, the end of the string (or a NUL byte) must follow, no
// overflow, underflow or NaN; an empty string is 0.
func parseSortScore(b []byte) (float64, bool) {
	b = beforeNUL(b)
	if len(b) == 0 {
		return 0, true
	}
	f, rangeErr, ok := parseCDouble(bytes.TrimLeft(b, " \t\n\v\f\r"))
	if !ok || rangeErr || math.IsNaN(f) {
		return 0, false
	}
	return f, true
}

// lookupByPattern is Redis's lookupKeyByPattern: "#" is the member itself;
// otherwise the first "*" of pattern is replaced by the member to name a
// string key, or, when "->field" follows the "*", a hash and its field.
// found is false for a pattern without "*", a missing key or field, or a
// key of another type.
func lookupByPattern(c *Ctx, pattern, member []byte) ([]byte, bool) {
	if len(pattern) == 1 && pattern[0] == '#' {
		return member, true
	}
	star := bytes.IndexByte(pattern, '*')
	if star < 0 {
		return nil, false
	}
	keyEnd := len(pattern)
	var field []byte
	if f := bytes.Index(pattern[star+1:], []byte("->")); f >= 0 && star+1+f+2 < len(pattern) {
		keyEnd = star + 1 + f
		field = pattern[keyEnd+2:]
	}
	key := make([]byte, 0, keyEnd-1+len(member))
	key = append(key, pattern[:star]...)
	key = append(key, member...)
	key = append(key, pattern[star+1:keyEnd]...)
	o := c.DB.Get(key)
	if o == nil {
		return nil, false
	}
	if field == nil {
		if o.Type != memtier.TypeString {
			return nil, false
		}
		return o.Bytes(), true
	}
	if o.Type != memtier.TypeHash {
		return nil, false
	}
	v, found := o.Payload().(*types.Hash).Get(field)
	if !found {
		return nil, false
	}
	return v.AppendTo(nil), true
}
