package disktier

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// ForgetLogPosition rewrites the checkpoint record so that it names no AOF
// position, as a checkpoint taken with appendonly off does. A replica
// calls it on the store its master shipped: the position is the master's
// and means nothing in the replica's own log, so on open every segment of
// that log is older than the store, until the replica's first checkpoint
// records a position of its own. A store with no record is left as is.
func (s *Store) ForgetLogPosition() error {
	r, ok, err := s.Record()
	if err != nil || !ok {
		return err
	}
	r.AOFSegment, r.AOFOffset = 0, 0
	if err := s.db.Set(checkpointKey, r.encode(), pebble.Sync); err != nil {
		return fmt.Errorf("disktier: checkpoint record: %w", err)
	}
	return nil
}
