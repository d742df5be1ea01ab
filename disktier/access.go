package disktier

import "github.com/cockroachdb/pebble/v2/vfs"

// FS is the file system the store runs on: a checkpoint's directory must
// be on it (IngestCheckpoint links the files into the store).
func (s *Store) FS() vfs.FS { return s.fs }
