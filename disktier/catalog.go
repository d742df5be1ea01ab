package disktier

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// The script catalog record (0x00 's'): the server's function libraries and
// script aliases (package scripting encodes them; FORMAT.md has the
// layout), written whole by a checkpoint whose point in time saw them
// changed, in its system file, so they commit with the data (invariant 6).
// A checkpoint that does not write it leaves the one before.

// catalogKey is the system key of the script catalog record.
var catalogKey = []byte{spaceSystem, sysCatalog}

// SetCatalog makes the checkpoint write data, which must not be empty, as
// the script catalog record. Call it before Finish.
func (c *Checkpoint) SetCatalog(data []byte) error {
	if len(data) == 0 {
		return errors.New("disktier: empty script catalog record")
	}
	c.catalog = data
	return nil
}

// writeCatalog writes the catalog record given to SetCatalog, if any, into
// the system file.
func (c *Checkpoint) writeCatalog(sys *SSTWriter) error {
	if c.catalog == nil {
		return nil
	}
	return sys.Set(catalogKey, c.catalog)
}

// Catalog returns a copy of the script catalog record of the last
// committed checkpoint that wrote one; ok is false if none did.
func (s *Store) Catalog() (data []byte, ok bool, err error) {
	v, closer, err := s.db.Get(catalogKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("disktier: script catalog record: %w", err)
	}
	defer closer.Close()
	return append([]byte(nil), v...), true, nil
}
