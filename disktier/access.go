package disktier

import "github.com/cockroachdb/pebble/v2/vfs"

// KeyLess reports whether key a of a slot sorts before key b of the same
// slot and database in Pebble: the order a checkpoint writes keys in, for
// callers that sort their own records (SortKeys sorts a [][]byte).
func KeyLess(a, b []byte) bool { return keyLess(a, b) }

// FS is the file system the store runs on: a checkpoint's directory must
// be on it (IngestCheckpoint links the files into the store).
func (s *Store) FS() vfs.FS { return s.fs }
