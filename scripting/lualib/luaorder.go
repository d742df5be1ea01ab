package lualib

import (
	"math"

	lua "github.com/yuin/gopher-lua"
)

// NextOrder returns t's keys in the order Lua 5.1's next() would list
// them, so that cjson.encode and cmsgpack.pack write objects and maps in the
// order Redis writes them (the scripting engine may use it for next and
// pairs too). gopher-lua keeps keys in insertion order and
// forgets how the table was built, so the order is that of a Lua 5.1 table
// into which the same keys were inserted one by one, in gopher-lua's order:
// exact for tables filled key by key (t.a = 1, cjson.decode, cmsgpack.unpack)
// and for constructors whose keys do not collide; a constructor such as
// {a=1, b=2} presizes the table, so colliding keys may come out in another
// order. Keys hashed by address in Lua (tables, functions, userdata) have no
// reproducible order there; here they take their insertion index.
func NextOrder(t *lua.LTable) []lua.LValue {
	var s luaTableSim
	for k, _ := t.Next(lua.LNil); k != lua.LNil; k, _ = t.Next(k) {
		s.set(k)
	}
	keys := make([]lua.LValue, 0, s.count)
	for i, used := range s.array {
		if used {
			keys = append(keys, lua.LNumber(i+1))
		}
	}
	for _, n := range s.nodes {
		if n.key != nil {
			keys = append(keys, n.key)
		}
	}
	return keys
}

// luaNode is a node of the hash part (ltable.c's Node without the value).
type luaNode struct {
	key  lua.LValue // nil: free
	next int        // next node of the chain, -1 for none
}

// luaTableSim places keys as Lua 5.1's ltable.c does (luaH_set, newkey,
// rehash, computesizes, resize).
type luaTableSim struct {
	array    []bool    // array part: array[i] holds key i+1
	nodes    []luaNode // hash part; empty is Lua's dummynode
	lastFree int
	count    int
	ptrs     map[lua.LValue]uint32 // stand-in addresses of address-hashed keys
}

const luaMaxBits = 30 // MAXBITS: array sizes up to 2^30

// luaArrayIndex is arrayindex: the key as an int when it is a number with
// an integer value, else -1.
func luaArrayIndex(k lua.LValue) int {
	n, ok := k.(lua.LNumber)
	if !ok {
		return -1
	}
	i := int32(CastInt64(float64(n))) // lua_number2int on x86-64
	if float64(i) != float64(n) {
		return -1
	}
	return int(i)
}

// luaCeilLog2 is ceillog2: the smallest b with 2^b >= x (x >= 1).
func luaCeilLog2(x int) int {
	b := 0
	for 1<<b < x {
		b++
	}
	return b
}

// luaStringHash is the string hash of Redis's Lua 5.1 (lstring.c), seeded
// with the length. Stock Lua 5.1 hashes only every (len/32+1)th byte; Redis
// hashes them all (measured: key orders of 32- to 1001-byte keys in
// redis-server 7.0.15 match only this).
func luaStringHash(s string) uint32 {
	h := uint32(len(s))
	for i := len(s) - 1; i >= 0; i-- {
		h ^= (h << 5) + (h >> 2) + uint32(s[i])
	}
	return h
}

func (s *luaTableSim) mainPosition(k lua.LValue) int {
	size := uint32(len(s.nodes))
	mod := func(h uint32) int { return int(h % ((size - 1) | 1)) } // hashmod
	switch x := k.(type) {
	case lua.LNumber:
		if x == 0 {
			return 0
		}
		bits := math.Float64bits(float64(x))
		return mod(uint32(bits) + uint32(bits>>32))
	case lua.LString:
		return int(luaStringHash(string(x)) & (size - 1))
	case lua.LBool:
		if x {
			return int(1 & (size - 1))
		}
		return 0
	}
	if s.ptrs == nil {
		s.ptrs = map[lua.LValue]uint32{}
	}
	p, ok := s.ptrs[k]
	if !ok {
		p = uint32(len(s.ptrs)+1) * 64
		s.ptrs[k] = p
	}
	return mod(p)
}

// set is luaH_set for a key not yet in the table.
func (s *luaTableSim) set(k lua.LValue) {
	if i := luaArrayIndex(k); i >= 1 && i <= len(s.array) {
		if !s.array[i-1] {
			s.array[i-1] = true
			s.count++
		}
		return
	}
	s.newKey(k)
}

// newKey is ltable.c's newkey: the key goes to its main position; if that
// is taken, the node there moves to a free node unless it is in its own
// main position, in which case the new key takes the free node.
func (s *luaTableSim) newKey(k lua.LValue) {
	if len(s.nodes) == 0 {
		s.rehash(k)
		s.set(k)
		return
	}
	mp := s.mainPosition(k)
	if s.nodes[mp].key != nil {
		n := s.freePos()
		if n < 0 {
			s.rehash(k)
			s.set(k)
			return
		}
		other := s.mainPosition(s.nodes[mp].key)
		if other != mp {
			for s.nodes[other].next != mp {
				other = s.nodes[other].next
			}
			s.nodes[other].next = n
			s.nodes[n] = s.nodes[mp]
			s.nodes[mp] = luaNode{next: -1}
		} else {
			s.nodes[n].next = s.nodes[mp].next
			s.nodes[mp].next = n
			mp = n
		}
	}
	s.nodes[mp].key = k
	s.count++
}

// freePos is getfreepos: free nodes are taken from the end down.
func (s *luaTableSim) freePos() int {
	for s.lastFree > 0 {
		s.lastFree--
		if s.nodes[s.lastFree].key == nil {
			return s.lastFree
		}
	}
	return -1
}

// countInt is countint: counts k in nums when it could be an array index.
func countInt(k lua.LValue, nums *[luaMaxBits + 1]int) int {
	if i := luaArrayIndex(k); i > 0 && i <= 1<<luaMaxBits {
		nums[luaCeilLog2(i)]++
		return 1
	}
	return 0
}

// rehash is ltable.c's rehash: sizes the array part so that more than half
// of it is used, and the hash part for the rest, counting the new key ek.
func (s *luaTableSim) rehash(ek lua.LValue) {
	var nums [luaMaxBits + 1]int
	nasize := 0
	// numusearray: keys in (2^(lg-1), 2^lg] counted in nums[lg].
	for i := range s.array {
		if s.array[i] {
			nums[luaCeilLog2(i+1)]++
			nasize++
		}
	}
	total := nasize
	for i := len(s.nodes) - 1; i >= 0; i-- {
		if s.nodes[i].key != nil {
			nasize += countInt(s.nodes[i].key, &nums)
			total++
		}
	}
	nasize += countInt(ek, &nums)
	total++
	// computesizes
	a, na, n := 0, 0, 0
	for i, twoToI := 0, 1; twoToI/2 < nasize; i, twoToI = i+1, twoToI*2 {
		if nums[i] > 0 {
			a += nums[i]
			if a > twoToI/2 {
				n, na = twoToI, a
			}
		}
		if a == nasize {
			break
		}
	}
	s.resize(n, total-na)
}

// resize is ltable.c's resize: new parts, then the keys of a shrinking
// array slice and of the old hash part (from its last node down) set again.
func (s *luaTableSim) resize(nasize, nhsize int) {
	oldArray := s.array
	oldNodes := s.nodes
	s.count = 0
	s.array = make([]bool, nasize)
	copy(s.array, oldArray)
	for _, used := range s.array {
		if used {
			s.count++
		}
	}
	s.nodes = nil
	if nhsize > 0 {
		s.nodes = make([]luaNode, 1<<luaCeilLog2(nhsize))
		for i := range s.nodes {
			s.nodes[i].next = -1
		}
	}
	s.lastFree = len(s.nodes)
	for i := nasize; i < len(oldArray); i++ {
		if oldArray[i] {
			s.set(lua.LNumber(i + 1))
		}
	}
	for i := len(oldNodes) - 1; i >= 0; i-- {
		if oldNodes[i].key != nil {
			s.set(oldNodes[i].key)
		}
	}
}
