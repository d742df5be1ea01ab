//go:build !linux

package vfs

import "errors"

// SyncData is Sync where fdatasync is not available as a raw system call.
func (f osFile) SyncData() error { return f.File.Sync() }

// Preallocate is not supported here: the file is unchanged.
func (f osFile) Preallocate(size int64) error {
	return pathErr("preallocate", f.Name(), errors.ErrUnsupported)
}
