// Package disktier is the disk tier of the keyspace: one Pebble database
// holding every key of every database, with its type, value and expiry, as
// of the last committed checkpoint (invariant 1 of DESIGN.md). FORMAT.md
// documents the key encoding, the value codec and the measurements behind
// the choices.
//
// Reads (Load, Meta, Exists, Count, SlotCount, Keys) are safe from any
// goroutine and never return data that failed a block checksum or does not
// decode: they return an error. Values come back as memtier objects that
// own their memory, with the encoding (OBJECT ENCODING) they were stored
// with.
//
// Writes have one owner at a time. A checkpoint (NewCheckpoint) writes the
// changed keys of each slot as sorted SST files plus a system file with the
// per-slot key counts and the checkpoint Record, and IngestCheckpoint makes
// them visible in one Pebble ingestion, all or nothing (invariant 6). A
// Batch writes through Pebble's WAL for changes outside a checkpoint. Both
// read the current state to keep the key counts exact, so they must not run
// at the same time.
//
// Expiry is stored, not enforced: Pebble has no TTL, and expired keys stay
// until memtier deletes them and a checkpoint writes the deletion, as
// Redis keeps them until they are reclaimed.
package disktier
