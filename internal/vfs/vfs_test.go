package vfs

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// implementations runs a test against both file systems with a fresh,
// existing directory.
func implementations(t *testing.T, test func(t *testing.T, fs FS, dir string)) {
	t.Run("os", func(t *testing.T) { test(t, Default, t.TempDir()) })
	t.Run("mem", func(t *testing.T) {
		fs := NewMem()
		if err := fs.MkdirAll("/db/aof", 0o755); err != nil {
			t.Fatal(err)
		}
		test(t, fs, "/db/aof")
	})
}

func readAll(t *testing.T, fs FS, name string) string {
	t.Helper()
	f, err := fs.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, fs FS, name, data string) File {
	t.Helper()
	f, err := fs.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte(data)); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFileOperations(t *testing.T) {
	implementations(t, func(t *testing.T, fs FS, dir string) {
		a := filepath.Join(dir, "a")
		f := writeFile(t, fs, a, "hello ")
		if _, err := f.Write([]byte("world")); err != nil {
			t.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if size, err := f.Size(); err != nil || size != 11 {
			t.Fatalf("Size = %d, %v; want 11", size, err)
		}
		buf := make([]byte, 5)
		if n, err := f.ReadAt(buf, 6); n != 5 || string(buf) != "world" {
			t.Fatalf("ReadAt = %d %q %v", n, buf, err)
		}
		if n, err := f.ReadAt(buf, 8); n != 3 || err != io.EOF {
			t.Fatalf("ReadAt past end = %d, %v; want 3, EOF", n, err)
		}
		if err := f.Truncate(5); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, fs, a); got != "hello" {
			t.Fatalf("after Truncate: %q", got)
		}

		rw, err := fs.OpenReadWrite(a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := rw.Write([]byte("J")); err != nil {
			t.Fatal(err)
		}
		rw.Close()
		if got := readAll(t, fs, a); got != "Jello" {
			t.Fatalf("after OpenReadWrite+Write: %q", got)
		}

		ro, err := fs.Open(a)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ro.Write([]byte("x")); err == nil {
			t.Fatal("Write on a file opened read-only succeeded")
		}
		ro.Close()

		b := filepath.Join(dir, "b")
		if err := fs.Rename(a, b); err != nil {
			t.Fatal(err)
		}
		if err := fs.MkdirAll(filepath.Join(dir, "sub", "deeper"), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, fs, filepath.Join(dir, "0first"), "").Close()
		names, err := fs.List(dir)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{"0first", "b", "sub"}; !reflect.DeepEqual(names, want) {
			t.Fatalf("List = %q, want %q", names, want)
		}
		if err := fs.SyncDir(dir); err != nil {
			t.Fatal(err)
		}
		if err := fs.Remove(b); err != nil {
			t.Fatal(err)
		}
		if _, err := fs.Open(b); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Open of a removed file: %v, want ErrNotExist", err)
		}
		if err := fs.Remove(b); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("second Remove: %v, want ErrNotExist", err)
		}
		if _, err := fs.Create(filepath.Join(dir, "missing", "x")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("Create in a missing directory: %v, want ErrNotExist", err)
		}
	})
}

// TestPreallocateAndSyncData: reserved space reads as zeros and writes go
// over it without growing the file; SyncData syncs like Sync. A file
// system that cannot reserve (tmpfs before Linux 3.5, some network file
// systems) may say so, and then the file must be unchanged.
func TestPreallocateAndSyncData(t *testing.T) {
	implementations(t, func(t *testing.T, fs FS, dir string) {
		name := filepath.Join(dir, "seg")
		f := writeFile(t, fs, name, "head")
		defer f.Close()
		if err := f.Preallocate(4096); err != nil {
			if size, _ := f.Size(); size != 4 {
				t.Fatalf("Preallocate failed (%v) but changed the size to %d", err, size)
			}
			t.Skipf("this file system cannot reserve space: %v", err)
		}
		if _, err := f.Write([]byte("-tail")); err != nil {
			t.Fatal(err)
		}
		if err := f.SyncData(); err != nil {
			t.Fatal(err)
		}
		if size, err := f.Size(); err != nil || size != 4096 {
			t.Fatalf("Size = %d, %v; want the 4096 reserved", size, err)
		}
		want := append([]byte("head-tail"), make([]byte, 4096-9)...)
		if got := readAll(t, fs, name); got != string(want) {
			t.Fatalf("content after writing into reserved space: %q...", got[:16])
		}
		if err := f.Preallocate(100); err != nil {
			t.Fatal(err)
		}
		if size, _ := f.Size(); size != 4096 {
			t.Fatalf("Preallocate of less than the size shrank the file to %d", size)
		}
	})
}

func TestCrashCloneKeepsOnlySyncedState(t *testing.T) {
	fs := NewMem()
	fs.MkdirAll("/d", 0o755)

	synced := writeFile(t, fs, "/d/synced", "durable")
	synced.Sync()
	synced.Write([]byte(" lost"))

	late := writeFile(t, fs, "/d/late", "data")
	late.Sync()

	trunc := writeFile(t, fs, "/d/trunc", "0123456789")
	trunc.Sync()

	removed := writeFile(t, fs, "/d/removed", "gone?")
	removed.Sync()

	fs.SyncDir("/d") // every name so far is durable

	neverNamed := writeFile(t, fs, "/d/never-named", "x")
	neverNamed.Sync()                  // contents synced, but its name never is
	fs.Remove("/d/removed")            // removal not synced: the file comes back
	fs.Rename("/d/late", "/d/renamed") // rename not synced: the old name stays
	trunc.Truncate(3)                  // truncation not synced: lost
	trunc.Write([]byte("XY"))

	c := fs.CrashClone()
	names, _ := c.List("/d")
	if want := []string{"late", "removed", "synced", "trunc"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("after crash List = %q, want %q", names, want)
	}
	for name, want := range map[string]string{
		"/d/synced": "durable", "/d/late": "data", "/d/removed": "gone?", "/d/trunc": "0123456789",
	} {
		if got := readAll(t, c, name); got != want {
			t.Errorf("after crash %s = %q, want %q", name, got, want)
		}
	}
	// The original goes on as if nothing happened.
	if got := readAll(t, fs, "/d/synced"); got != "durable lost" {
		t.Errorf("original changed by CrashClone: %q", got)
	}
	// Once synced, the truncation and the later write (at the handle's
	// offset, 10, leaving a hole of zeros as POSIX does) survive.
	trunc.Sync()
	if got, want := readAll(t, fs.CrashClone(), "/d/trunc"), "012\x00\x00\x00\x00\x00\x00\x00XY"; got != want {
		t.Errorf("after truncate+write+sync, crash gives %q, want %q", got, want)
	}
}

func TestFaultInjection(t *testing.T) {
	fs := NewMem()
	fs.MkdirAll("/d", 0o755)
	f := writeFile(t, fs, "/d/f", "ok")
	boom := errors.New("disk on fire")

	fs.FailNext(OpWrite, 2, boom)
	for i := range 2 {
		if n, err := f.Write([]byte("bad")); n != 0 || !errors.Is(err, boom) {
			t.Fatalf("write %d: %d, %v; want 0 and the injected error", i, n, err)
		}
	}
	if _, err := f.Write([]byte("!")); err != nil {
		t.Fatalf("third write after two injected faults: %v", err)
	}

	fs.FailNext(OpSync, 1, nil)
	if err := f.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("Sync = %v, want ErrInjected", err)
	}
	fs.SyncDir("/d")
	if got := readAll(t, fs.CrashClone(), "/d/f"); got != "" {
		t.Fatalf("a failed Sync made %q durable", got)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, fs.CrashClone(), "/d/f"); got != "ok!" {
		t.Fatalf("after a good Sync, crash gives %q, want ok!", got)
	}

	fs.FailNext(OpSyncDir, 1, nil)
	writeFile(t, fs, "/d/g", "").Sync()
	if err := fs.SyncDir("/d"); !errors.Is(err, ErrInjected) {
		t.Fatalf("SyncDir = %v, want ErrInjected", err)
	}
	if names, _ := fs.CrashClone().List("/d"); !reflect.DeepEqual(names, []string{"f"}) {
		t.Fatalf("a failed SyncDir made names durable: %q", names)
	}
	if got, want := fs.Calls(OpWrite), 5; got != want {
		t.Errorf("Calls(OpWrite) = %d, want %d", got, want)
	}
	if got, want := fs.Calls(OpSync), 3; got != want {
		t.Errorf("Calls(OpSync) = %d, want %d", got, want)
	}
}

func TestHookRunsBeforeTheOperationAndMayBlock(t *testing.T) {
	fs := NewMem()
	fs.MkdirAll("/d", 0o755)
	f := writeFile(t, fs, "/d/f", "x")
	entered, release := make(chan string), make(chan struct{})
	fs.SetHook(OpSync, func(name string) {
		entered <- name
		<-release
	})
	done := make(chan error)
	go func() { done <- f.Sync() }()
	if name := <-entered; name != "/d/f" {
		t.Fatalf("hook saw %q", name)
	}
	// The sync is held in the hook: the file system stays usable and
	// nothing is durable yet.
	fs.SyncDir("/d")
	if got := readAll(t, fs.CrashClone(), "/d/f"); got != "" {
		t.Fatalf("durable before the held Sync ran: %q", got)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	fs.SetHook(OpSync, nil)
	if got := readAll(t, fs.CrashClone(), "/d/f"); got != "x" {
		t.Fatalf("after the Sync: %q", got)
	}
}
