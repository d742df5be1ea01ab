package vfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
)

// Op names a file-system operation that MemFS can count and make fail.
type Op int

const (
	// OpWrite is File.Write.
	OpWrite Op = iota
	// OpSync is File.Sync.
	OpSync
	// OpSyncDir is FS.SyncDir.
	OpSyncDir
	numOps
)

// ErrInjected is the error an injected fault returns when the test gave none.
var ErrInjected = errors.New("vfs: injected fault")

// MemFS is an in-memory file system for tests. It remembers, for every file,
// the contents as of its last Sync and, for every directory, the names as of
// its last SyncDir; CrashClone builds the file system a power loss would
// leave from exactly that. Directories themselves are durable as soon as
// MkdirAll returns.
//
// Faults are deterministic: FailNext(op, n, err) makes the next n calls of op
// fail, whatever goroutine makes them. A failed Write writes nothing and a
// failed Sync makes nothing durable.
//
// All state is guarded by one mutex, so a MemFS is safe for concurrent use.
type MemFS struct {
	mu      sync.Mutex
	dirs    map[string]bool
	files   map[string]*inode // the current namespace
	durable map[string]*inode // the namespace a crash would leave
	faults  [numOps]fault
	calls   [numOps]int
	hooks   [numOps]func(name string)
}

type fault struct {
	n   int
	err error
}

// inode is a file's contents. synced is what survives a crash; every byte of
// data at or after dirtyFrom may differ from synced, no byte before it does.
type inode struct {
	data      []byte
	synced    []byte
	dirtyFrom int
}

func (n *inode) touch(off int) { n.dirtyFrom = min(n.dirtyFrom, off) }

func (n *inode) sync() {
	n.synced = append(n.synced[:min(n.dirtyFrom, len(n.synced))], n.data[n.dirtyFrom:]...)
	n.dirtyFrom = len(n.data)
}

// NewMem returns an empty in-memory file system with the root directory.
func NewMem() *MemFS {
	return &MemFS{
		dirs:    map[string]bool{"/": true, ".": true},
		files:   map[string]*inode{},
		durable: map[string]*inode{},
	}
}

// FailNext makes the next n calls of op fail with err (ErrInjected if nil).
// It replaces any fault still pending for op; n = 0 clears it.
func (fs *MemFS) FailNext(op Op, n int, err error) {
	if err == nil {
		err = ErrInjected
	}
	fs.mu.Lock()
	fs.faults[op] = fault{n: n, err: err}
	fs.mu.Unlock()
}

// SetHook makes fn run at the start of every call of op, before its fault
// check and without the file system's lock held, so fn may block: a test
// can hold an fsync in progress while other goroutines pile up behind it.
// A nil fn removes the hook.
func (fs *MemFS) SetHook(op Op, fn func(name string)) {
	fs.mu.Lock()
	fs.hooks[op] = fn
	fs.mu.Unlock()
}

func (fs *MemFS) runHook(op Op, name string) {
	fs.mu.Lock()
	fn := fs.hooks[op]
	fs.mu.Unlock()
	if fn != nil {
		fn(name)
	}
}

// Calls is how many times op was called so far, failed calls included.
func (fs *MemFS) Calls(op Op) int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.calls[op]
}

// begin counts a call of op and returns the injected fault for it, if any.
// fs.mu must be held.
func (fs *MemFS) begin(op Op) error {
	fs.calls[op]++
	if f := &fs.faults[op]; f.n > 0 {
		f.n--
		return f.err
	}
	return nil
}

// CrashClone returns the file system as a power loss at this instant would
// leave it: only names made durable by SyncDir, each with the contents of
// its last Sync. The receiver is unchanged and stays usable.
func (fs *MemFS) CrashClone() *MemFS {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	c := NewMem()
	for d := range fs.dirs {
		c.dirs[d] = true
	}
	clones := map[*inode]*inode{}
	for name, n := range fs.durable {
		cn, ok := clones[n]
		if !ok {
			cn = &inode{data: clone(n.synced), synced: clone(n.synced)}
			cn.dirtyFrom = len(cn.data)
			clones[n] = cn
		}
		c.files[name] = cn
		c.durable[name] = cn
	}
	return c
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func pathErr(op, name string, err error) error {
	return &os.PathError{Op: op, Path: name, Err: err}
}

func (fs *MemFS) Create(name string) (File, error) {
	name = filepath.Clean(name)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.dirs[filepath.Dir(name)] {
		return nil, pathErr("create", name, os.ErrNotExist)
	}
	if fs.dirs[name] {
		return nil, pathErr("create", name, errors.New("is a directory"))
	}
	n := &inode{}
	fs.files[name] = n
	return &memFile{fs: fs, n: n, name: name, writable: true}, nil
}

func (fs *MemFS) open(name string, writable bool) (File, error) {
	name = filepath.Clean(name)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, ok := fs.files[name]
	if !ok {
		return nil, pathErr("open", name, os.ErrNotExist)
	}
	return &memFile{fs: fs, n: n, name: name, writable: writable}, nil
}

func (fs *MemFS) Open(name string) (File, error) { return fs.open(name, false) }

func (fs *MemFS) OpenReadWrite(name string) (File, error) { return fs.open(name, true) }

func (fs *MemFS) Remove(name string) error {
	name = filepath.Clean(name)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if _, ok := fs.files[name]; !ok {
		return pathErr("remove", name, os.ErrNotExist)
	}
	delete(fs.files, name)
	return nil
}

func (fs *MemFS) Rename(oldname, newname string) error {
	oldname, newname = filepath.Clean(oldname), filepath.Clean(newname)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	n, ok := fs.files[oldname]
	if !ok {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	if !fs.dirs[filepath.Dir(newname)] {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: os.ErrNotExist}
	}
	delete(fs.files, oldname)
	fs.files[newname] = n
	return nil
}

func (fs *MemFS) List(dir string) ([]string, error) {
	dir = filepath.Clean(dir)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if !fs.dirs[dir] {
		return nil, pathErr("open", dir, os.ErrNotExist)
	}
	var names []string
	for name := range fs.files {
		if filepath.Dir(name) == dir {
			names = append(names, filepath.Base(name))
		}
	}
	for d := range fs.dirs {
		if d != dir && filepath.Dir(d) == dir {
			names = append(names, filepath.Base(d))
		}
	}
	sort.Strings(names)
	return names, nil
}

func (fs *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	dir = filepath.Clean(dir)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for d := dir; !fs.dirs[d]; d = filepath.Dir(d) {
		if _, ok := fs.files[d]; ok {
			return pathErr("mkdir", d, errors.New("not a directory"))
		}
		fs.dirs[d] = true
	}
	return nil
}

func (fs *MemFS) SyncDir(dir string) error {
	dir = filepath.Clean(dir)
	fs.runHook(OpSyncDir, dir)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := fs.begin(OpSyncDir); err != nil {
		return pathErr("sync", dir, err)
	}
	if !fs.dirs[dir] {
		return pathErr("sync", dir, os.ErrNotExist)
	}
	for name := range fs.durable {
		if filepath.Dir(name) == dir {
			delete(fs.durable, name)
		}
	}
	for name, n := range fs.files {
		if filepath.Dir(name) == dir {
			fs.durable[name] = n
		}
	}
	return nil
}

// memFile is an open handle on an inode; the handle keeps working after its
// name is removed or renamed, as on POSIX.
type memFile struct {
	fs       *MemFS
	n        *inode
	name     string
	off      int64
	writable bool
	closed   bool
}

var errClosed = errors.New("file already closed")

func (f *memFile) check(op string, write bool) error {
	if f.closed {
		return pathErr(op, f.name, errClosed)
	}
	if write && !f.writable {
		return pathErr(op, f.name, errors.New("bad file descriptor"))
	}
	return nil
}

func (f *memFile) Write(p []byte) (int, error) {
	f.fs.runHook(OpWrite, f.name)
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("write", true); err != nil {
		return 0, err
	}
	if err := f.fs.begin(OpWrite); err != nil {
		return 0, pathErr("write", f.name, err)
	}
	n, off := f.n, int(f.off)
	if grow := off + len(p) - len(n.data); grow > 0 {
		n.data = append(n.data, make([]byte, grow)...)
	}
	copy(n.data[off:], p)
	n.touch(off)
	f.off += int64(len(p))
	return len(p), nil
}

func (f *memFile) readAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, pathErr("read", f.name, errors.New("negative offset"))
	}
	if off >= int64(len(f.n.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.n.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *memFile) Read(p []byte) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	n, err := f.readAt(p, f.off)
	f.off += int64(n)
	if n > 0 && err == io.EOF {
		err = nil // io.Reader: report EOF on the next call
	}
	return n, err
}

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("read", false); err != nil {
		return 0, err
	}
	return f.readAt(p, off)
}

func (f *memFile) Sync() error {
	f.fs.runHook(OpSync, f.name)
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("sync", false); err != nil {
		return err
	}
	if err := f.fs.begin(OpSync); err != nil {
		return pathErr("sync", f.name, err)
	}
	f.n.sync()
	return nil
}

// SyncData is Sync: MemFS keeps no metadata apart from the data.
func (f *memFile) SyncData() error { return f.Sync() }

// Preallocate extends the file with zeros to size; a Sync makes them
// durable.
func (f *memFile) Preallocate(size int64) error {
	cur, err := f.Size()
	if err != nil || size <= cur {
		return err
	}
	return f.Truncate(size)
}

func (f *memFile) Truncate(size int64) error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("truncate", true); err != nil {
		return err
	}
	if size < 0 {
		return pathErr("truncate", f.name, fmt.Errorf("negative size %d", size))
	}
	n, s := f.n, int(size)
	old := len(n.data)
	if s <= old {
		n.data = n.data[:s]
	} else {
		n.data = append(n.data, make([]byte, s-old)...)
	}
	n.touch(min(s, old))
	return nil
}

func (f *memFile) Size() (int64, error) {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if err := f.check("stat", false); err != nil {
		return 0, err
	}
	return int64(len(f.n.data)), nil
}

func (f *memFile) Close() error {
	f.fs.mu.Lock()
	defer f.fs.mu.Unlock()
	if f.closed {
		return pathErr("close", f.name, errClosed)
	}
	f.closed = true
	return nil
}
