package disktier

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// formatVersion is the first byte of every metadata record. A reader
// refuses versions it does not know instead of guessing.
const formatVersion = 1

// Layout says where a collection's elements live.
type Layout uint8

// The layouts.
const (
	// LayoutInline keeps the whole payload in the metadata record.
	LayoutInline Layout = iota
	// LayoutElems keeps one sub-key per element (hash field, set member,
	// zset member) or per chunk of list elements.
	LayoutElems
)

// InlineMax is the largest encoded payload (bytes) of a big encoding
// (quicklist, hashtable, skiplist) kept inline in the metadata record;
// bigger ones store their elements under sub-keys. Strings and the compact
// encodings (listpack, intset) are always inline: the compact ones are
// bounded by the *-max-listpack-* limits, and a listpack hash's field order
// is visible (HGETALL) and must survive, which sub-keys in byte order would
// not keep. Chosen by BenchmarkLayout (FORMAT.md): below
// it, one value reads and rewrites faster than the sub-keys do; above it,
// rewriting the whole value for a one-field change costs more than the
// per-sub-key overhead saves.
const InlineMax = 4096

// inlineMax is InlineMax, variable so the layout benchmark can force either
// layout.
var inlineMax = InlineMax

// Meta is a key's metadata record: what DBSIZE, SCAN, TYPE and the memory
// budget of the warm-up need, without the value.
type Meta struct {
	Type     memtier.Type
	Enc      memtier.Encoding // the encoding the value is rebuilt with
	Layout   Layout
	ExpireAt int64 // absolute Unix ms; 0 when the key has no TTL
	Count    int64 // elements of a collection; bytes of a string
	Size     int64 // bytes the value takes in memory (payload MemSize), for warm-up budgets
	// Stamp, for a list under sub-keys, names the state of the list its
	// chunks hold (list_chunks.go); zero when unknown.
	Stamp types.ChunkStamp
}

// errCorrupt wraps every decoding failure: a record that does not parse is
// never turned into a value.
var errCorrupt = errors.New("disktier: corrupt record")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errCorrupt}, args...)...)
}

// memSizer is implemented by the collection payloads.
type memSizer interface{ MemSize() int }

// encodingOf maps the encoding name a payload reports to its Encoding.
func encodingOf(o *memtier.Object) memtier.Encoding {
	if o.Type == memtier.TypeString {
		return o.Enc
	}
	switch o.EncodingName() {
	case "listpack":
		return memtier.EncListpack
	case "quicklist":
		return memtier.EncQuicklist
	case "hashtable":
		return memtier.EncHashtable
	case "intset":
		return memtier.EncIntset
	case "skiplist":
		return memtier.EncSkiplist
	}
	return o.Enc
}

// metaOf builds the metadata of o (without layout, which depends on the
// encoded size).
func metaOf(o *memtier.Object, expireAt int64) (Meta, error) {
	m := Meta{Type: o.Type, Enc: encodingOf(o), ExpireAt: expireAt}
	switch v := o.Payload().(type) {
	case nil:
		if o.Type != memtier.TypeString {
			return m, fmt.Errorf("disktier: %s value without payload", o.Type)
		}
		m.Count, m.Size = int64(len(o.Bytes())), int64(len(o.Bytes()))
		return m, nil
	case *types.List:
		m.Count = int64(v.Len())
	case *types.Hash:
		m.Count = int64(v.Len())
	case *types.Set:
		m.Count = int64(v.Len())
	case *types.ZSet:
		m.Count = int64(v.Len())
	default:
		return m, fmt.Errorf("disktier: cannot encode %s payload %T", o.Type, o.Payload())
	}
	m.Size = int64(o.Payload().(memSizer).MemSize())
	return m, nil
}

// appendMeta appends the encoded metadata header, and a list's stamp when
// its chunks are under sub-keys.
func appendMeta(dst []byte, m Meta) []byte {
	dst = append(dst, formatVersion, byte(m.Type), byte(m.Enc), byte(m.Layout))
	dst = binary.AppendUvarint(dst, uint64(m.ExpireAt))
	dst = binary.AppendUvarint(dst, uint64(m.Count))
	dst = binary.AppendUvarint(dst, uint64(m.Size))
	if m.Type == memtier.TypeList && m.Layout == LayoutElems {
		dst = appendListStamp(dst, m.Stamp)
	}
	return dst
}

// decodeMeta parses a metadata record, returning the inline payload after
// the header (aliasing v); a list under sub-keys has its stamp there
// instead, which goes into the Meta.
func decodeMeta(v []byte) (Meta, []byte, error) {
	var m Meta
	if len(v) < 4 {
		return m, nil, corrupt("metadata of %d bytes", len(v))
	}
	if v[0] != formatVersion {
		return m, nil, fmt.Errorf("disktier: unknown record format version %d", v[0])
	}
	m.Type, m.Enc, m.Layout = memtier.Type(v[1]), memtier.Encoding(v[2]), Layout(v[3])
	if m.Type > memtier.TypeStream || m.Enc > memtier.EncStream || m.Layout > LayoutElems {
		return m, nil, corrupt("metadata type %d encoding %d layout %d", v[1], v[2], v[3])
	}
	p := 4
	var fields [3]uint64
	for i := range fields {
		x, w := binary.Uvarint(v[p:])
		if w <= 0 {
			return m, nil, corrupt("metadata header")
		}
		fields[i], p = x, p+w
	}
	m.ExpireAt, m.Count, m.Size = int64(fields[0]), int64(fields[1]), int64(fields[2])
	if m.Type == memtier.TypeList && m.Layout == LayoutElems {
		var err error
		m.Stamp, err = decodeListStamp(v[p:])
		return m, nil, err
	}
	return m, v[p:], nil
}

// appendBytes appends b length-prefixed.
func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

// appendElem appends e length-prefixed in its string form.
func appendElem(dst []byte, e types.Elem) []byte {
	if e.IsInt {
		var buf [24]byte
		return appendBytes(dst, e.AppendTo(buf[:0]))
	}
	return appendBytes(dst, e.S)
}

// appendScore appends a score as 8 bytes (IEEE 754 bits, big-endian).
func appendScore(dst []byte, f float64) []byte {
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(f))
}

// reader walks length-prefixed fields of a record.
type reader struct {
	b   []byte
	err error
}

func (r *reader) bytes() []byte {
	if r.err != nil {
		return nil
	}
	n, w := binary.Uvarint(r.b)
	if w <= 0 || uint64(len(r.b)-w) < n {
		r.err = corrupt("truncated element")
		return nil
	}
	b := r.b[w : w+int(n)]
	r.b = r.b[w+int(n):]
	return b
}

func (r *reader) score() float64 {
	if r.err != nil {
		return 0
	}
	if len(r.b) < 8 {
		r.err = corrupt("truncated score")
		return 0
	}
	f := math.Float64frombits(binary.BigEndian.Uint64(r.b))
	r.b = r.b[8:]
	if math.IsNaN(f) {
		r.err = corrupt("NaN score")
	}
	return f
}

// each calls fn for each element of o in the order its payload stores it
// (list elements head to tail, hash field then value, set members, zset
// member then score) until fn returns false. The slices alias o.
func each(o *memtier.Object, fn func(a, b types.Elem, score float64) bool) {
	switch v := o.Payload().(type) {
	case *types.List:
		v.Each(false, func(_ int, e types.Elem) bool { return fn(e, types.Elem{}, 0) })
	case *types.Hash:
		v.Each(func(f, val types.Elem) bool { return fn(f, val, 0) })
	case *types.Set:
		v.Each(func(m types.Elem) bool { return fn(m, types.Elem{}, 0) })
	case *types.ZSet:
		v.Each(func(m types.Elem, s float64) bool { return fn(m, types.Elem{}, s) })
	}
}

// appendInline appends o's whole payload in the inline form: a string's
// bytes; list elements, set members, hash field·value pairs, zset
// member·score pairs, each string length-prefixed and each score 8 bytes.
// It stops and reports false once the payload passes limit bytes (the
// caller then keeps the elements under sub-keys), so deciding the layout of
// a big collection costs no more than limit bytes of encoding.
func appendInline(dst []byte, o *memtier.Object, limit int) ([]byte, bool) {
	if o.Type == memtier.TypeString {
		return append(dst, o.Bytes()...), true
	}
	start, fits := len(dst), true
	each(o, func(a, b types.Elem, score float64) bool {
		dst = appendElem(dst, a)
		switch o.Type {
		case memtier.TypeHash:
			dst = appendElem(dst, b)
		case memtier.TypeZSet:
			dst = appendScore(dst, score)
		}
		fits = len(dst)-start <= limit
		return fits
	})
	return dst, fits
}

// builder rebuilds a payload element by element with the encoding its
// metadata names: the limits passed to each write keep a compact encoding
// compact (huge limits) or force the big one from the first element (zero
// limits), so OBJECT ENCODING reads the same as before the value was
// stored.
type builder struct {
	m       Meta
	obj     *memtier.Object
	lim     types.Limits
	intset  int
	lastErr error
	vals    [][]byte // a list chunk's elements (addListChunk)
}

// compact reports whether enc is a compact encoding, kept inline.
func compact(enc memtier.Encoding) bool {
	return enc == memtier.EncListpack || enc == memtier.EncIntset
}

// unlimited keeps a compact encoding whatever the element sizes.
var unlimited = types.Limits{Entries: math.MaxInt, Value: math.MaxInt}

func newBuilder(m Meta) (*builder, error) {
	b := &builder{m: m, obj: &memtier.Object{Type: m.Type, Enc: m.Enc}}
	if compact(m.Enc) {
		b.lim, b.intset = unlimited, math.MaxInt
	}
	switch {
	case m.Type == memtier.TypeList && m.Enc == memtier.EncQuicklist:
		b.obj.SetPayload(types.NewList())
	case m.Type == memtier.TypeHash && (m.Enc == memtier.EncListpack || m.Enc == memtier.EncHashtable):
		b.obj.SetPayload(types.NewHash())
	case m.Type == memtier.TypeSet && (m.Enc == memtier.EncIntset || m.Enc == memtier.EncHashtable):
		b.obj.SetPayload(types.NewSet())
	case m.Type == memtier.TypeZSet && (m.Enc == memtier.EncListpack || m.Enc == memtier.EncSkiplist):
		b.obj.SetPayload(types.NewZSet())
	default:
		return nil, corrupt("%s value with encoding %s", m.Type, m.Enc)
	}
	return b, nil
}

// add adds one element (b is the hash value, score the zset score).
func (b *builder) add(a, val []byte, score float64) {
	switch v := b.obj.Payload().(type) {
	case *types.List:
		v.Push(a, false, types.DefaultListFill)
	case *types.Hash:
		// A stored hash's fields are distinct: a listpack appends in O(1)
		// instead of searching (O(n²) for the whole hash).
		if b.m.Enc != memtier.EncListpack || !v.AppendListpackPair(a, val) {
			v.Set(a, val, b.lim)
		}
	case *types.Set:
		if b.m.Enc == memtier.EncIntset {
			if _, ok := resp.ParseInt(a); !ok {
				b.lastErr = corrupt("non-integer member in an intset")
				return
			}
		}
		v.Add(a, b.intset)
	case *types.ZSet:
		if b.m.Enc == memtier.EncListpack {
			// Stored in (score, member) order: append, checking the order.
			if !v.AppendListpackMember(a, score) {
				b.lastErr = corrupt("sorted set members out of order")
			}
			return
		}
		v.Add(a, score, 0, b.lim)
	}
}

// addInline adds every element of an inline payload.
func (b *builder) addInline(p []byte) error {
	r := reader{b: p}
	for len(r.b) > 0 && r.err == nil {
		a := r.bytes()
		var val []byte
		var score float64
		switch b.m.Type {
		case memtier.TypeHash:
			val = r.bytes()
		case memtier.TypeZSet:
			score = r.score()
		}
		if r.err == nil {
			b.add(a, val, score)
		}
	}
	if r.err != nil {
		return r.err
	}
	return b.lastErr
}

// addElem adds the elements of one sub-key: elem is the sub-key's element
// part, v its value.
func (b *builder) addElem(elem, v []byte) error {
	switch b.m.Type {
	case memtier.TypeList:
		return b.addListChunk(elem, v)
	case memtier.TypeHash:
		b.add(elem, v, 0)
	case memtier.TypeSet:
		b.add(elem, nil, 0)
	case memtier.TypeZSet:
		r := reader{b: v}
		s := r.score()
		if r.err != nil || len(r.b) != 0 {
			return corrupt("zset score of %d bytes", len(v))
		}
		b.add(elem, nil, s)
	}
	return b.lastErr
}

// finish checks the element count against the metadata and returns the
// object.
func (b *builder) finish() (*memtier.Object, error) {
	if n := int64(b.obj.Payload().(interface{ Len() int }).Len()); n != b.m.Count {
		return nil, corrupt("%s has %d elements, metadata says %d", b.m.Type, n, b.m.Count)
	}
	if l, ok := b.obj.Payload().(*types.List); ok && b.m.Layout == LayoutElems {
		l.Loaded(b.m.Stamp)
	}
	return b.obj, nil
}

// decodeString rebuilds a string from its inline payload, copying p.
func decodeString(m Meta, p []byte) (*memtier.Object, error) {
	if int64(len(p)) != m.Count {
		return nil, corrupt("string of %d bytes, metadata says %d", len(p), m.Count)
	}
	if m.Enc != memtier.EncRaw && m.Enc != memtier.EncInt && m.Enc != memtier.EncEmbstr {
		return nil, corrupt("string with encoding %s", m.Enc)
	}
	return memtier.NewStringEncoded(m.Enc, append([]byte{}, p...)), nil
}

// element is one sub-key's element part and value, for writing.
type element struct{ elem, val []byte }

// elements returns the sub-key records of o, a hash, set or sorted set,
// sorted by element, as an SST needs them: hash field → value, set member →
// empty, zset member → 8-byte score. The slices are copies, so o may change
// afterwards. (A list's chunks are its nodes: list_chunks.go.)
func elements(o *memtier.Object) []element {
	var out []element
	var buf [24]byte
	each(o, func(a, b types.Elem, score float64) bool {
		e := element{elem: append([]byte(nil), a.AppendTo(buf[:0])...)}
		switch o.Type {
		case memtier.TypeHash:
			e.val = b.AppendTo(nil)
		case memtier.TypeSet:
			e.val = []byte{}
		case memtier.TypeZSet:
			e.val = appendScore(nil, score)
		}
		out = append(out, e)
		return true
	})
	sort.Slice(out, func(i, j int) bool { return string(out[i].elem) < string(out[j].elem) })
	return out
}

// elementOf returns the sub-key record of one hash field, set or zset
// member of o, or ok false when o no longer holds it (it was removed).
func elementOf(o *memtier.Object, elem []byte) (val []byte, ok bool) {
	switch v := o.Payload().(type) {
	case *types.Hash:
		e, ok := v.Get(elem)
		if !ok {
			return nil, false
		}
		return e.AppendTo(nil), true
	case *types.Set:
		return []byte{}, v.Contains(elem)
	case *types.ZSet:
		s, ok := v.Score(elem)
		if !ok {
			return nil, false
		}
		return appendScore(nil, s), true
	}
	return nil, false
}
