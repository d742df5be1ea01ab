package disktier

import (
	"encoding/binary"

	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// A list under sub-keys keeps one chunk per quicklist node, keyed by the
// node's sequence number (memtier/types/list_chunks.go), and its metadata
// record carries the list's stamp: which state of the list the chunks
// hold. A write of a list whose stamp is the one on disk writes the
// metadata, the nodes changed since and deletions of the nodes gone since
// (putListChanges); any other write of a list is whole (writer.put).

// appendListStamp appends a list's stamp to its metadata record.
func appendListStamp(dst []byte, s types.ChunkStamp) []byte {
	dst = binary.AppendUvarint(dst, s.Token)
	return binary.AppendUvarint(dst, s.Gen)
}

// decodeListStamp parses the stamp after a list's metadata header: empty
// (written before stamps existed: unknown, the zero stamp) or exactly two
// uvarints.
func decodeListStamp(p []byte) (types.ChunkStamp, error) {
	var s types.ChunkStamp
	if len(p) == 0 {
		return s, nil
	}
	tok, w := binary.Uvarint(p)
	if w <= 0 {
		return s, corrupt("list stamp")
	}
	gen, w2 := binary.Uvarint(p[w:])
	if w2 <= 0 || w+w2 != len(p) {
		return s, corrupt("list stamp of %d bytes", len(p))
	}
	return types.ChunkStamp{Token: tok, Gen: gen}, nil
}

// listIncremental reports whether the store's copy of a list (old, had) is
// exactly the state the list l last wrote, so that l's changes since
// then are all a write needs.
func listIncremental(old Meta, had bool, l *types.List) bool {
	return had && old.Type == memtier.TypeList && old.Enc == memtier.EncQuicklist &&
		old.Layout == LayoutElems && l.Incremental() && old.Stamp == l.Stamp()
}

// putListChanges writes the metadata of the list l under key and the
// records that turn the stored chunks into l's: the changed chunks, and
// deletions of the gone ones. listIncremental holds.
func (w *writer) putListChanges(db, slot int, key []byte, m Meta, l *types.List) error {
	m.Layout, m.Stamp = LayoutElems, l.NextStamp()
	w.elems++ // counted again: the bound only needs to stay above the truth
	base := appendKeyBase(w.kbuf[:0], db, slot, key)
	n := len(base)
	w.kbuf = append(base, kindMeta)
	w.vbuf = appendMeta(w.vbuf[:0], m)
	if err := w.data.set(w.kbuf, w.vbuf); err != nil {
		return err
	}
	if err := w.putChunks(n, l, true); err != nil {
		return err
	}
	l.Written(m.Stamp)
	return nil
}

// putChunks writes the chunks of l under the key whose base is w.kbuf[:n],
// in key order: every chunk, or only the changed ones merged with
// deletions of the gone ones (a number both gone and live again is
// written).
func (w *writer) putChunks(n int, l *types.List, changedOnly bool) error {
	var gone []uint64
	if changedOnly {
		gone = l.GoneChunks()
	}
	k := append(w.kbuf[:n], kindElem)
	del := func(seq uint64) error {
		k = binary.BigEndian.AppendUint64(k[:n+1], seq)
		return w.data.del(k)
	}
	err := l.EachChunk(changedOnly, func(seq uint64, c types.ListChunk) error {
		for ; len(gone) > 0 && gone[0] <= seq; gone = gone[1:] {
			if gone[0] < seq {
				if err := del(gone[0]); err != nil {
					return err
				}
			}
		}
		v := w.vbuf[:0]
		c.Each(func(e types.Elem) bool { v = appendElem(v, e); return true })
		w.vbuf = v
		k = binary.BigEndian.AppendUint64(k[:n+1], seq)
		return w.data.set(k, v)
	})
	for ; err == nil && len(gone) > 0; gone = gone[1:] {
		err = del(gone[0])
	}
	w.kbuf = k
	return err
}

// addListChunk adds the elements of one list chunk sub-key: elem is the
// chunk's sequence number, v its elements. The chunk becomes one node of
// the list, with its number.
func (b *builder) addListChunk(elem, v []byte) error {
	if len(elem) != 8 {
		return corrupt("list chunk number of %d bytes", len(elem))
	}
	seq := binary.BigEndian.Uint64(elem)
	b.vals = b.vals[:0]
	r := reader{b: v}
	for len(r.b) > 0 && r.err == nil {
		if x := r.bytes(); r.err == nil {
			b.vals = append(b.vals, x)
		}
	}
	if r.err != nil {
		return r.err
	}
	if !b.obj.Payload().(*types.List).AppendChunk(seq, b.vals) {
		return corrupt("list chunk %#x empty or out of order", seq)
	}
	return nil
}
