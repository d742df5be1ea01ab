// Package memtier is the in-memory tier of the keyspace: databases split into
// hash slots, each slot holding its keys, their values and expiry times.
//
// Locking: the Keyspace owns one mutex per slot index, shared by every
// database (so a key and its copy in another database are under one lock),
// and a keyspace-wide RWMutex. A command holds the RWMutex shared and the
// mutexes of the slots of its keys, taken in ascending order; a command that
// spans the whole keyspace (FLUSHALL, SWAPDB, KEYS, SCAN, EXEC, scripts)
// holds the RWMutex exclusively. Methods of DB assume the caller holds the
// lock that covers the key, and say so.
package memtier

import (
	"fmt"
	"unsafe"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier/types"
)

// Type is a value's Redis type, as TYPE reports it.
type Type uint8

// The Redis types.
const (
	TypeString Type = iota
	TypeList
	TypeSet
	TypeZSet
	TypeHash
	TypeStream
)

var typeNames = [...]string{"string", "list", "set", "zset", "hash", "stream"}

func (t Type) String() string { return typeNames[t] }

// ParseType maps a TYPE name ("string", "hash", ...) to its Type.
func ParseType(name string) (Type, bool) {
	for i, n := range typeNames {
		if n == name {
			return Type(i), true
		}
	}
	return 0, false
}

// Encoding is the representation OBJECT ENCODING reports.
type Encoding uint8

// The encodings, named as Redis names them.
const (
	EncRaw Encoding = iota
	EncInt
	EncEmbstr
	EncListpack
	EncQuicklist
	EncHashtable
	EncIntset
	EncSkiplist
	EncStream
)

var encodingNames = [...]string{"raw", "int", "embstr", "listpack", "quicklist", "hashtable", "intset", "skiplist", "stream"}

func (e Encoding) String() string { return encodingNames[e] }

// embstrMax is the longest string Redis stores with the embstr encoding.
const embstrMax = 44

// Object is a value stored under a key.
//
// Its payload is one pointer: the first byte of a string's bytes (with
// their length and capacity), or the collection value (*types.List,
// *types.Hash, *types.Set, *types.ZSet) that Type names. Keeping a slice and
// an interface side by side would make every object 48 bytes; this layout
// is 24, which is most of the per-key memory the object costs (Redis's
// robj is 16). Read and change the payload only through Bytes, SetBytes,
// Payload and SetPayload, which keep the pointer and Type in step.
type Object struct {
	Type Type
	Enc  Encoding
	// nHi and cHi extend n and c to 40 bits: strings up to 1 TiB.
	nHi, cHi uint8
	// access is the last access time in seconds of the keyspace clock, for
	// OBJECT IDLETIME and LRU eviction.
	access uint32
	p      unsafe.Pointer
	n, c   uint32 // a string's length and capacity, low 32 bits
}

// MaxStringLen is the longest string an Object holds (1 TiB), far beyond
// any proto-max-bulk-len a machine can serve.
const MaxStringLen = 1<<40 - 1

// Bytes is a string's payload. The object owns it: callers never hand in a
// slice that aliases a request buffer, and may change the bytes in place
// while they hold the key's lock.
func (o *Object) Bytes() []byte {
	if o.p == nil {
		return nil
	}
	n := uint64(o.nHi)<<32 | uint64(o.n)
	c := uint64(o.cHi)<<32 | uint64(o.c)
	return unsafe.Slice((*byte)(o.p), c)[:n]
}

// SetBytes makes b, which the object now owns, the string's payload.
func (o *Object) SetBytes(b []byte) {
	if uint64(cap(b)) > MaxStringLen {
		panic("memtier: string longer than MaxStringLen")
	}
	n, c := uint64(len(b)), uint64(cap(b))
	o.p = unsafe.Pointer(unsafe.SliceData(b))
	o.n, o.nHi = uint32(n), uint8(n>>32)
	o.c, o.cHi = uint32(c), uint8(c>>32)
}

// Payload is a collection's value: *types.List, *types.Hash, *types.Set or
// *types.ZSet as Type says; nil for strings.
func (o *Object) Payload() any {
	switch o.Type {
	case TypeList:
		return (*types.List)(o.p)
	case TypeSet:
		return (*types.Set)(o.p)
	case TypeZSet:
		return (*types.ZSet)(o.p)
	case TypeHash:
		return (*types.Hash)(o.p)
	}
	return nil
}

// SetPayload makes v the object's collection value and sets Type to match.
func (o *Object) SetPayload(v any) {
	switch v := v.(type) {
	case *types.List:
		o.Type, o.Enc, o.p = TypeList, EncQuicklist, unsafe.Pointer(v)
	case *types.Set:
		o.Type, o.p = TypeSet, unsafe.Pointer(v)
	case *types.ZSet:
		o.Type, o.p = TypeZSet, unsafe.Pointer(v)
	case *types.Hash:
		o.Type, o.p = TypeHash, unsafe.Pointer(v)
	default:
		panic(fmt.Sprintf("memtier: %T is not a collection value", v))
	}
	o.n, o.nHi, o.c, o.cHi = 0, 0, 0, 0
}

// NewCollection returns an object holding the collection value v.
func NewCollection(v any) *Object {
	o := &Object{}
	o.SetPayload(v)
	return o
}

// NewString returns a string object holding a copy of b, encoded as Redis's
// tryObjectEncoding would: int for canonical 64-bit integers, embstr up to
// 44 bytes, raw beyond.
func NewString(b []byte) *Object {
	return NewStringOwned(append([]byte(nil), b...))
}

// NewStringOwned is NewString for a slice the caller hands over.
func NewStringOwned(b []byte) *Object {
	return NewStringEncoded(stringEncoding(b), b)
}

// NewStringEncoded returns a string object that owns b with the encoding
// enc, for callers that know it (INCR stores int, APPEND raw, ...).
func NewStringEncoded(enc Encoding, b []byte) *Object {
	o := &Object{Type: TypeString, Enc: enc}
	o.SetBytes(b)
	return o
}

// stringEncoding is the encoding Redis's tryObjectEncoding gives a newly
// stored string.
func stringEncoding(b []byte) Encoding {
	switch _, isInt := resp.ParseInt(b); {
	case len(b) <= 20 && isInt:
		return EncInt
	case len(b) <= embstrMax:
		return EncEmbstr
	default:
		return EncRaw
	}
}

// NewRawString returns a string object that owns b with the raw encoding, as
// Redis leaves values changed in place (APPEND, SETRANGE, SETBIT).
func NewRawString(b []byte) *Object {
	return NewStringEncoded(EncRaw, b)
}

// encoder is implemented by collection payloads whose representation
// changes as they grow (listpack to hashtable, intset to hashtable, ...).
type encoder interface{ Encoding() string }

// EncodingName is the encoding OBJECT ENCODING reports: the payload's own
// for collections, o.Enc's for strings.
func (o *Object) EncodingName() string {
	if e, ok := o.Payload().(encoder); ok {
		return e.Encoding()
	}
	return o.Enc.String()
}

// Copier is implemented by collection payloads so COPY can duplicate them.
type Copier interface{ Copy() any }

// Clone returns a deep copy of o, for COPY.
func (o *Object) Clone() *Object {
	c := *o
	c.access = 0
	if o.Type == TypeString {
		c.SetBytes(append([]byte(nil), o.Bytes()...))
	} else if cp, ok := o.Payload().(Copier); ok {
		c.SetPayload(cp.Copy())
	}
	return &c
}
