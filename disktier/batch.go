package disktier

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/structd/structd/memtier"
)

// Batch collects writes that commit together through Pebble's WAL: for
// changes made outside a checkpoint (tools, tests, a FLUSHALL applied
// directly). Reads inside the batch see its earlier writes, so the key counts
// stay right when one batch touches a key twice. A Batch is used by one
// goroutine and committed or closed once.
type Batch struct {
	s *Store
	b *pebble.Batch
	w *writer
}

// batchSink writes into a Pebble batch, in any order.
type batchSink struct{ b *pebble.Batch }

func (s batchSink) set(k, v []byte) error            { return s.b.Set(k, v, nil) }
func (s batchSink) del(k []byte) error               { return s.b.Delete(k, nil) }
func (s batchSink) delRange(start, end []byte) error { return s.b.DeleteRange(start, end, nil) }

// NewBatch starts a batch.
func (s *Store) NewBatch() *Batch {
	b := s.db.NewIndexedBatch()
	sk := batchSink{b}
	return &Batch{s: s, b: b, w: newWriter(b, sk, sk)}
}

// Put stores key's whole value and expiry (absolute Unix ms, 0 for none),
// replacing what the store had.
func (b *Batch) Put(db int, key []byte, o *memtier.Object, expireAt int64) error {
	return b.w.put(db, key, o, expireAt)
}

// PutFields stores key's metadata and only the named elements of a hash, set
// or sorted set (written if o holds them, deleted if not), falling back to
// Put when the stored copy is not kept under sub-keys.
func (b *Batch) PutFields(db int, key []byte, o *memtier.Object, expireAt int64, fields [][]byte) error {
	return b.w.putFields(db, key, o, expireAt, fields)
}

// Delete removes key and its sub-keys.
func (b *Batch) Delete(db int, key []byte) error { return b.w.delete(db, key) }

// DeleteDB removes every key of database db (FLUSHDB) with range
// deletions: its data and its key counts.
func (b *Batch) DeleteDB(db int) error { return b.w.deleteSlots(db, 0, memtier.NumSlots) }

// Commit writes the count records and commits the batch with an fsync of
// the WAL, then releases it.
func (b *Batch) Commit() error {
	defer b.Close()
	if err := b.w.finishCounts(); err != nil {
		return err
	}
	n, known, err := readElems(b.b)
	if err != nil {
		return err
	}
	if err := b.w.finishElems(known, n); err != nil {
		return err
	}
	if err := b.b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("disktier: commit: %w", err)
	}
	b.s.changes.Add(1)
	return nil
}

// Close releases an uncommitted batch, dropping its writes. Closing twice is
// harmless.
func (b *Batch) Close() {
	if b.b != nil {
		b.b.Close()
		b.b = nil
	}
}

// Size is the number of bytes of records the batch holds so far: what its
// commit writes to the WAL.
func (b *Batch) Size() int { return b.b.Len() }
