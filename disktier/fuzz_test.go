package disktier

import (
	"testing"

	"github.com/structd/structd/memtier"
)

// FuzzDecodeRecord feeds arbitrary bytes to the record decoders as a
// metadata record and as a sub-key value: they return a value or an error,
// never panic, and a value they return re-encodes to a record that decodes
// to the same value.
//
//	go test ./disktier -run '^$' -fuzz FuzzDecodeRecord -fuzztime 30s
func FuzzDecodeRecord(f *testing.F) {
	for _, o := range roundTripCases() {
		m, _ := metaOf(o, 7)
		payload := inline(o)
		if len(payload) > 2000 {
			continue
		}
		f.Add(append(appendMeta(nil, m), payload...), []byte("elem"))
	}
	f.Add([]byte{1, byte(memtier.TypeZSet), byte(memtier.EncSkiplist), 1, 0, 1, 0}, []byte{0x7f, 0xf8, 0, 0, 0, 0, 0, 1})
	f.Fuzz(func(t *testing.T, rec, sub []byte) {
		m, payload, err := decodeMeta(rec)
		if err != nil {
			return
		}
		if m.Layout == LayoutElems && m.Type != memtier.TypeString {
			if b, err := newBuilder(m); err == nil {
				if b.addElem([]byte("e"), sub) == nil {
					b.finish()
				}
			}
			return
		}
		o, err := decodeInline(m, payload)
		if err != nil {
			return
		}
		m2, err := metaOf(o, m.ExpireAt)
		if err != nil {
			t.Fatalf("decoded value does not encode: %v", err)
		}
		o2, err := decodeInline(m2, inline(o))
		if err != nil {
			t.Fatalf("re-encoded value does not decode: %v", err)
		}
		if dump(o) != dump(o2) {
			t.Fatalf("round trip differs:\n%s\n%s", dump(o), dump(o2))
		}
	})
}
