// Package types holds the payloads of the collection types (list, hash,
// set, sorted set) with the compact encodings Redis 7.0 uses while they are
// small (listpack, intset) and the full structures they convert to past the
// configured thresholds (quicklist, hashtable, skiplist).
//
// None of these types locks: the caller holds the slot lock of the key that
// owns the value (see memtier). Byte slices handed in are copied; byte
// slices handed out (Elem.S, callbacks) alias the collection and are valid
// only until its next modification.
//
// The big structures keep pointers out of their per-element arrays (indexes
// into slices and offsets into one byte arena instead), so a collection of a
// million members is a handful of heap objects for the garbage collector.
//
// Each type reports the encoding name OBJECT ENCODING prints (Encoding),
// an approximate size in bytes (MemSize, for MEMORY USAGE and INFO
// memory) and deep-copies itself (Copy, for COPY, matching
// memtier.Copier). Conversion thresholds are parameters of each write
// (Limits, maxIntset, fill) so CONFIG SET takes effect on the next write.
//
// Redis 7.0.15, checked with OBJECT ENCODING: lists are always
// "quicklist"; hashes "listpack" then "hashtable" (hash-max-listpack-entries
// 512, -value 64); sets "intset" then "hashtable" (set-max-intset-entries
// 512; 7.0 has no listpack sets); sorted sets "listpack" then "skiplist"
// (zset-max-listpack-entries 128, -value 64). None converts back.
package types
