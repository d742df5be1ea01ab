package snapshot

import (
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
)

// fakeCatalog is a script catalog whose state is the number of changes
// made to it; a change holds the keyspace exclusively and is logged, as
// the catalog commands are.
type fakeCatalog struct {
	mu         sync.Mutex
	n          int
	gen, saved uint64
}

func (f *fakeCatalog) change(c *Checkpointer, log *fakeLog) {
	c.KS.LockAll()
	f.mu.Lock()
	f.n++
	f.gen++
	f.mu.Unlock()
	log.append("catalog")
	c.KS.UnlockAll()
}

func (f *fakeCatalog) CaptureCatalog() ([]byte, uint64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gen == f.saved {
		return nil, f.gen, false
	}
	return []byte(strconv.Itoa(f.n)), f.gen, true
}

func (f *fakeCatalog) CatalogSaved(gen uint64) {
	f.mu.Lock()
	f.saved = max(f.saved, gen)
	f.mu.Unlock()
}

// storedCatalog is the catalog record of the committed checkpoint: the
// number of changes it saw, or -1 for none.
func storedCatalog(t *testing.T, c *Checkpointer) int {
	t.Helper()
	data, ok, err := c.Store.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(string(data))
	if err != nil {
		t.Fatalf("catalog record %q", data)
	}
	return n
}

// failingSync is a log whose Sync fails: the checkpoint does not commit.
type failingSync struct{ *fakeLog }

func (failingSync) Sync() error { return errors.New("injected sync failure") }

// TestCheckpointCatalogIsPointInTime checks that a checkpoint stores the
// catalog as of its point in time while changes keep coming, stores it only
// when it changed, and that a failed checkpoint keeps it changed for the
// next one.
func TestCheckpointCatalogIsPointInTime(t *testing.T) {
	ks, c, log := newTestKeyspace(t)
	cat := &fakeCatalog{}
	c.Catalog = cat
	if _, err := c.Run(); err != nil {
		t.Fatal(err)
	}
	if n := storedCatalog(t, c); n != -1 {
		t.Fatalf("an unchanged catalog was stored (%d)", n)
	}
	for range 3 {
		cat.change(c, log)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			cat.change(c, log)
			incr(ks, log, "k")
		}
	})
	for range 3 {
		if _, err := c.Run(); err != nil {
			t.Fatal(err)
		}
		log.mu.Lock()
		want := 0
		for _, op := range log.ops[:log.rotations[len(log.rotations)-1]] {
			if op == "catalog" {
				want++
			}
		}
		log.mu.Unlock()
		if got := storedCatalog(t, c); got != want {
			t.Fatalf("checkpoint stored the catalog after %d changes, want %d (the changes before P)", got, want)
		}
	}
	stop.Store(true)
	wg.Wait()

	// A failed checkpoint stores nothing and loses no change.
	before := storedCatalog(t, c)
	cat.change(c, log)
	c.Log = failingSync{log}
	if _, err := c.Run(); err == nil {
		t.Fatal("checkpoint with a failing sync committed")
	}
	if got := storedCatalog(t, c); got != before {
		t.Fatalf("failed checkpoint changed the stored catalog: %d, want %d", got, before)
	}
	c.Log = log
	if _, err := c.Run(); err != nil {
		t.Fatal(err)
	}
	if got, want := storedCatalog(t, c), cat.n; got != want {
		t.Fatalf("after a failed checkpoint, the next stored %d changes, want %d", got, want)
	}
	if _, _, changed := cat.CaptureCatalog(); changed {
		t.Fatal("catalog still changed after a committed checkpoint stored it")
	}
}
