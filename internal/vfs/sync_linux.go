package vfs

import "syscall"

// SyncData calls fdatasync as a raw system call: the Go runtime does not
// mark the thread as in a system call, so its monitor thread (sysmon) does
// not hand the goroutine's scheduler slot (P) to another thread while the
// call blocks. The log's flusher syncs back to back under appendfsync
// always; with an ordinary system call every one of those syncs outlasted
// sysmon's 20 µs check, so sysmon retook the slot each time, never backed
// off, and its wake-ups alone took 18% of the server's CPU (redis-benchmark
// SET -P 1 -c 50: 42-44k → 46-48k requests per second, 20-21 → 15-17 µs
// of CPU each).
//
// The cost: the slot is held for the call's duration, and a stop of the
// world (a garbage collection's start or end, a GOMAXPROCS change) waits
// for the call to return, a fraction of a millisecond on a healthy disk.
// Redis's main thread blocks on the same fsync under appendfsync always.
func (f osFile) SyncData() error {
	fd := f.Fd()
	for {
		_, _, errno := syscall.RawSyscall(syscall.SYS_FDATASYNC, fd, 0, 0)
		switch errno {
		case 0:
			return nil
		case syscall.EINTR:
			continue
		default:
			return pathErr("fdatasync", f.Name(), errno)
		}
	}
}

// Preallocate reserves space with fallocate, which also extends the file
// to size when it is shorter.
func (f osFile) Preallocate(size int64) error {
	for {
		switch err := syscall.Fallocate(int(f.Fd()), 0, 0, size); err {
		case nil:
			return nil
		case syscall.EINTR:
			continue
		default:
			return pathErr("fallocate", f.Name(), err)
		}
	}
}
