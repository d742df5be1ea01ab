package disktier

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// crashPointFS takes a crash image of a crashable MemFS after every
// operation that changes what survives a crash (a sync, a link, a rename,
// a removal) while armed: each image is the file system as a power loss at
// that moment would leave it.
type crashPointFS struct {
	vfs.FS
	mem *vfs.MemFS
	// mu guards the fields below: Pebble's background goroutines (the
	// obsolete-file cleaner) call in concurrently.
	mu     sync.Mutex
	armed  bool
	rng    *rand.Rand
	images []*vfs.MemFS
}

func (c *crashPointFS) point() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.armed {
		return
	}
	// Only what was synced survives, and also a torn variant in which
	// half of the unsynced data and directory entries happen to survive.
	c.images = append(c.images, c.mem.CrashClone(vfs.CrashCloneCfg{}))
	c.images = append(c.images, c.mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: c.rng}))
}

func (c *crashPointFS) arm(on bool) {
	c.mu.Lock()
	c.armed = on
	c.mu.Unlock()
}

type crashPointFile struct {
	vfs.File
	fs *crashPointFS
}

func (f crashPointFile) Sync() error { err := f.File.Sync(); f.fs.point(); return err }
func (f crashPointFile) SyncData() error {
	err := f.File.SyncData()
	f.fs.point()
	return err
}
func (f crashPointFile) SyncTo(n int64) (bool, error) {
	full, err := f.File.SyncTo(n)
	f.fs.point()
	return full, err
}

func (c *crashPointFS) wrap(f vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return f, err
	}
	return crashPointFile{f, c}, nil
}

func (c *crashPointFS) Create(name string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	return c.wrap(c.FS.Create(name, cat))
}
func (c *crashPointFS) OpenReadWrite(name string, cat vfs.DiskWriteCategory, opts ...vfs.OpenOption) (vfs.File, error) {
	return c.wrap(c.FS.OpenReadWrite(name, cat, opts...))
}
func (c *crashPointFS) OpenDir(name string) (vfs.File, error) { return c.wrap(c.FS.OpenDir(name)) }
func (c *crashPointFS) ReuseForWrite(o, n string, cat vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := c.wrap(c.FS.ReuseForWrite(o, n, cat))
	c.point()
	return f, err
}
func (c *crashPointFS) Link(o, n string) error   { err := c.FS.Link(o, n); c.point(); return err }
func (c *crashPointFS) Rename(o, n string) error { err := c.FS.Rename(o, n); c.point(); return err }
func (c *crashPointFS) Remove(n string) error    { err := c.FS.Remove(n); c.point(); return err }
func (c *crashPointFS) RemoveAll(n string) error { err := c.FS.RemoveAll(n); c.point(); return err }

// A crash at any moment of IngestCheckpoint leaves the previous checkpoint
// or the new one, data and record together, never a mix (invariant 6).
func TestCrashDuringIngestLeavesOneCheckpoint(t *testing.T) {
	mem := vfs.NewCrashableMem()
	fs := &crashPointFS{FS: mem, mem: mem, rng: rand.New(rand.NewPCG(1, 1))}
	s, err := Open("db", Options{FS: fs})
	if err != nil {
		t.Fatal(err)
	}
	var first, second []change
	for i := 0; i < 200; i++ {
		first = append(first, change{i % 2, fmt.Sprintf("k%d", i), memtier.NewString(fmt.Appendf(nil, "one-%d", i))})
		if i%3 == 0 {
			second = append(second, change{i % 2, fmt.Sprintf("k%d", i), nil})
		} else {
			second = append(second, change{i % 2, fmt.Sprintf("k%d", i), memtier.NewString(fmt.Appendf(nil, "two-%d", i))})
		}
	}
	first = append(first, change{0, "h", hashOf(types.DefaultHashLimits, pairsOf(3000)...)})
	second = append(second, change{0, "h", hashOf(types.DefaultHashLimits, pairsOf(2000)...)}, change{1, "new", listOf("x")})
	ingest := func(seq uint64, cs []change) {
		t.Helper()
		files := writeCheckpointFS(t, s, seq, cs, fmt.Sprintf("ckpt%d", seq))
		fs.arm(true)
		err := s.IngestCheckpoint(files)
		fs.arm(false)
		if err != nil {
			t.Fatal(err)
		}
	}
	ingest(1, first)
	c1 := state(t, s)
	// The images start with one taken before the second ingest.
	fs.mu.Lock()
	fs.images = fs.images[:0]
	fs.mu.Unlock()
	fs.arm(true)
	fs.point()
	fs.arm(false)
	ingest(2, second)
	c2 := state(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fs.arm(false)
	seen := map[uint64]int{}
	for i, img := range fs.images {
		s, err := Open("db", Options{FS: img})
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		r, _, err := s.Record()
		if err != nil {
			t.Fatalf("image %d: %v", i, err)
		}
		want := map[uint64]map[string]string{1: c1, 2: c2}[r.Seq]
		if want == nil {
			t.Fatalf("image %d: record seq %d", i, r.Seq)
		}
		got := state(t, s)
		if len(got) != len(want) {
			t.Errorf("image %d (record %d): %d keys, want %d", i, r.Seq, len(got), len(want))
		}
		for k, w := range want {
			if got[k] != w {
				t.Errorf("image %d (record %d): %s = %.60s, want %.60s", i, r.Seq, k, got[k], w)
				break
			}
		}
		seen[r.Seq]++
		s.Close()
	}
	t.Logf("%d crash images: %d at checkpoint 1, %d at checkpoint 2", len(fs.images), seen[1], seen[2])
	if seen[1] == 0 || seen[2] == 0 {
		t.Errorf("crash images cover only one side: %v", seen)
	}
}
