package lua

import (
	"math"
	"reflect"
	"unsafe"
)

// iface is an internal representation of the go-interface.
type iface struct {
	itab unsafe.Pointer
	word unsafe.Pointer
}

const preloadLimit LNumber = 128

var _fv float64
var _uv uintptr

var preloads [int(preloadLimit)]LValue

func init() {
	for i := 0; i < int(preloadLimit); i++ {
		preloads[i] = LNumber(i)
	}
}

// allocator is a fast bulk memory allocator for the LValue.
type allocator struct {
	size    int
	fptrs   []float64
	fheader *reflect.SliceHeader

	// StructD: sptrs are the string headers LString2I boxes, sbytes the
	// bytes LBytes2I copies strings into, in blocks as fptrs: an LString
	// made into an LValue costs no allocation of its own.
	sptrs  []string
	sbytes []byte

	scratchValue  LValue
	scratchValueP *iface
}

func newAllocator(size int) *allocator {
	al := &allocator{
		size:    size,
		fptrs:   nil, // StructD: the first number allocates the first block
		fheader: nil,
	}
	al.fheader = (*reflect.SliceHeader)(unsafe.Pointer(&al.fptrs))
	al.scratchValue = LNumber(0)
	al.scratchValueP = (*iface)(unsafe.Pointer(&al.scratchValue))

	return al
}

// LNumber2I takes a number value and returns an interface LValue representing the same number.
// Converting an LNumber to a LValue naively, by doing:
// `var val LValue = myLNumber`
// will result in an individual heap alloc of 8 bytes for the float value. LNumber2I amortizes the cost and memory
// overhead of these allocs by allocating blocks of floats instead.
// The downside of this is that all of the floats on a given block have to become eligible for gc before the block
// as a whole can be gc-ed.
func (al *allocator) LNumber2I(v LNumber) LValue {
	// first check for shared preloaded numbers
	// (Not -0, which equals 0 but prints "-0".)
	if v >= 0 && v < preloadLimit && float64(v) == float64(int64(v)) && !math.Signbit(float64(v)) {
		return preloads[int(v)]
	}

	// check if we need a new alloc page
	if cap(al.fptrs) == len(al.fptrs) {
		al.fptrs = make([]float64, 0, al.size)
		al.fheader = (*reflect.SliceHeader)(unsafe.Pointer(&al.fptrs))
	}

	// alloc a new float, and store our value into it
	al.fptrs = append(al.fptrs, float64(v))
	fptr := &al.fptrs[len(al.fptrs)-1]

	// hack our scratch LValue to point to our allocated value
	// this scratch lvalue is copied when this function returns meaning the scratch value can be reused
	// on the next call
	al.scratchValueP.word = unsafe.Pointer(fptr)

	return al.scratchValue
}

// StructD: string blocks. A block stays alive while any string in it is
// referenced, as the number blocks above; the blocks are small, and
// strings longer than stringBlockMax get their own allocation.
const (
	stringHeaderBlock = 64
	stringByteBlock   = 2048
	stringBlockMax    = 256
)

// boxedEmptyString is "" as an LValue, also the template of LString2I.
var boxedEmptyString LValue = emptyLString

// LString2I is LNumber2I for strings: the string header goes in a block,
// the bytes stay where they are.
func (al *allocator) LString2I(s string) LValue {
	if len(s) == 0 {
		return boxedEmptyString
	}
	if cap(al.sptrs) == len(al.sptrs) {
		al.sptrs = make([]string, 0, stringHeaderBlock)
	}
	al.sptrs = append(al.sptrs, s)
	v := boxedEmptyString
	(*iface)(unsafe.Pointer(&v)).word = unsafe.Pointer(&al.sptrs[len(al.sptrs)-1])
	return v
}

// LBytes2I returns a copy of b as an LString LValue: a short string's
// bytes are copied into a block, and the header into another.
func (al *allocator) LBytes2I(b []byte) LValue {
	if len(b) == 0 {
		return boxedEmptyString
	}
	if len(b) > stringBlockMax {
		return al.LString2I(string(b))
	}
	if cap(al.sbytes)-len(al.sbytes) < len(b) {
		al.sbytes = make([]byte, 0, stringByteBlock)
	}
	start := len(al.sbytes)
	al.sbytes = append(al.sbytes, b...)
	// The block is only ever appended to: the bytes stay as copied.
	return al.LString2I(unsafe.String(&al.sbytes[start], len(b)))
}

// StructD: the allocator's boxing for callers outside the VM.

// NumberValue returns n as an LValue without an allocation of its own
// (see LNumber2I).
func (ls *LState) NumberValue(n LNumber) LValue { return ls.alloc.LNumber2I(n) }

// StringValue returns s as an LValue without an allocation of its own:
// its header goes in a block shared with other strings.
func (ls *LState) StringValue(s string) LValue { return ls.alloc.LString2I(s) }

// BytesValue returns a copy of b as an LString LValue; short strings are
// copied into blocks shared with other strings.
func (ls *LState) BytesValue(b []byte) LValue { return ls.alloc.LBytes2I(b) }

// PushNumber pushes n onto the stack, boxed by NumberValue.
func (ls *LState) PushNumber(n LNumber) { ls.reg.Push(ls.alloc.LNumber2I(n)) }
