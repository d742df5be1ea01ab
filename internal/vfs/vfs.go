// Package vfs is the file-system seam under the redo log (aof) and the
// checkpoint writer (snapshot), modelled on Pebble's vfs: production code
// uses Default, which is the operating system's file system, and crash tests
// use MemFS, which can forget everything that was not synced (CrashClone) and
// fail writes or syncs on demand, deterministically.
//
// The durability contract both implementations follow is the POSIX one that
// careful storage code assumes:
//   - bytes written to a file survive a crash only after File.Sync returns;
//   - a created, renamed or removed name survives a crash only after SyncDir
//     of its parent directory returns.
package vfs

import (
	"io"
	"os"
	"path/filepath"
	"sort"
)

// File is an open file. Read and Write use the handle's own offset, which
// starts at 0; ReadAt reads anywhere without moving it.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.Closer
	// Sync makes the file's contents durable.
	Sync() error
	// SyncData makes the file's contents durable like Sync, flushing only
	// the metadata needed to read them back (fdatasync: not the
	// modification time). It is for a caller that syncs back to back, the
	// log's flusher under appendfsync always: on Linux it keeps the calling
	// goroutine's thread and scheduler slot for the whole call (see
	// sync_linux.go), so everything else the process runs meanwhile runs on
	// the other slots.
	SyncData() error
	// Preallocate reserves space so that the file is at least size bytes,
	// the new bytes reading as zeros; a Sync makes it durable. Writing into
	// reserved space changes neither the file's size nor its blocks, so
	// SyncData then commits neither (on ext4 it still marks the written
	// blocks as initialized). A file system that
	// cannot reserve space returns an error and the file is unchanged.
	Preallocate(size int64) error
	// Truncate changes the file's size; a Sync makes it durable.
	Truncate(size int64) error
	// Size is the file's current size in bytes.
	Size() (int64, error)
}

// FS is a file system.
type FS interface {
	// Create creates name, truncating it if it exists, open for writing
	// and reading.
	Create(name string) (File, error)
	// Open opens an existing file for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing; writes
	// start at offset 0.
	OpenReadWrite(name string) (File, error)
	// Remove deletes a file.
	Remove(name string) error
	// Rename renames a file, replacing newname if it exists.
	Rename(oldname, newname string) error
	// List returns the names (not paths) of the entries of dir, sorted.
	List(dir string) ([]string, error)
	// MkdirAll creates dir and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// SyncDir makes the names created, renamed or removed in dir durable.
	SyncDir(dir string) error
}

// Default is the operating system's file system.
var Default FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (f osFile) Size() (int64, error) {
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

func (osFS) Create(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

func (osFS) MkdirAll(dir string, perm os.FileMode) error { return os.MkdirAll(dir, perm) }

func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.Clean(dir))
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}
