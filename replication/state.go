package replication

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/structd/structd/internal/vfs"
)

// StateFile is the file, in the data directory, where a clean shutdown
// records the replication ID and offset the data on disk corresponds to.
// It is read and removed at startup: after a crash the data may be behind
// or ahead of what it says, so only a clean shutdown leaves one.
const StateFile = "replication.state"

// SaveState writes the replication ID and offset into dir's state file,
// durably.
func SaveState(dir, replid string, offset int64) error {
	path := filepath.Join(dir, StateFile)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(f, "%s %d\n", replid, offset)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil {
		err = vfs.Default.SyncDir(dir)
	}
	return err
}

// TakeState reads dir's state file and removes it; ok is false when there
// is none.
func TakeState(dir string) (replid string, offset int64, ok bool, err error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", 0, false, nil
	}
	if err != nil {
		return "", 0, false, err
	}
	if err := os.Remove(path); err != nil {
		return "", 0, false, err
	}
	if err := vfs.Default.SyncDir(dir); err != nil {
		return "", 0, false, err
	}
	f := strings.Fields(string(b))
	if len(f) != 2 || len(f[0]) != 40 {
		return "", 0, false, fmt.Errorf("replication: %s is damaged", path)
	}
	offset, err = strconv.ParseInt(f[1], 10, 64)
	if err != nil || offset < 0 {
		return "", 0, false, fmt.Errorf("replication: %s is damaged", path)
	}
	return f[0], offset, true, nil
}
