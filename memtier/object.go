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
	"github.com/structd/structd/internal/resp"
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
type Object struct {
	Type Type
	Enc  Encoding
	// access is the last access time in seconds of the keyspace clock, for
	// OBJECT IDLETIME and LRU eviction.
	access uint32
	// Str is the payload of a string. The object owns it: callers never
	// hand in a slice that aliases a request buffer.
	Str []byte
	// Value is the payload of the collection types.
	Value any
}

// NewString returns a string object holding a copy of b, encoded as Redis's
// tryObjectEncoding would: int for canonical 64-bit integers, embstr up to
// 44 bytes, raw beyond.
func NewString(b []byte) *Object {
	return NewStringOwned(append([]byte(nil), b...))
}

// NewStringOwned is NewString for a slice the caller hands over.
func NewStringOwned(b []byte) *Object {
	return &Object{Type: TypeString, Enc: stringEncoding(b), Str: b}
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
	return &Object{Type: TypeString, Enc: EncRaw, Str: b}
}

// encoder is implemented by collection payloads whose representation
// changes as they grow (listpack to hashtable, intset to hashtable, ...).
type encoder interface{ Encoding() string }

// EncodingName is the encoding OBJECT ENCODING reports: the payload's own
// for collections, o.Enc's for strings.
func (o *Object) EncodingName() string {
	if e, ok := o.Value.(encoder); ok {
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
	if o.Str != nil {
		c.Str = append([]byte(nil), o.Str...)
	}
	if cp, ok := o.Value.(Copier); ok {
		c.Value = cp.Copy()
	}
	return &c
}
