package disktier

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

// A checkpoint in parts, each part walked by its own goroutine while
// another goroutine writes slots aside in every part, ingests in one Ingest
// to exactly the records of the same checkpoint written in order as one
// part: data, expiries, key counts and Record (but its Bytes). Each part's
// data files hold one database, so none overlaps another part's.
func TestCheckpointPartsMatchOnePart(t *testing.T) {
	seed, second := asideFixture()
	rec := Record{Seq: 2, AOFSegment: 3, AOFOffset: 44, TimeMs: 1700000000001}

	inOrder := inOrderStore(t, seed, second, rec)

	for _, n := range []int{2, 3} {
		t.Run(fmt.Sprintf("%d parts", n), func(t *testing.T) {
			parted := seededStore(t, seed)
			c, err := parted.NewCheckpointParts(t.TempDir(), rec, n)
			if err != nil {
				t.Fatal(err)
			}
			if c.Parts() != n {
				t.Fatalf("Parts() = %d", c.Parts())
			}
			// Each part's share of the writes, in key order.
			shares := make([][]*slotWrites, n)
			for _, w := range second {
				i := c.PartOf(w.slot)
				if from, to := c.PartSlots(i); w.slot < from || w.slot >= to {
					t.Fatalf("PartOf(%d) = %d covering [%d, %d)", w.slot, i, from, to)
				}
				shares[i] = append(shares[i], w)
			}
			for i, sh := range shares {
				if len(sh) == 0 {
					t.Fatalf("part %d has no slot of the fixture", i)
				}
			}
			// A front-running goroutine writes aside a random third of the
			// slots, racing the walkers; each part's calls are serialized
			// by its mutex, as the snapshot package does.
			mu := make([]sync.Mutex, n)
			state := map[*slotWrites]int{} // 1 walked, 2 aside; guarded by the part's mutex
			rng := rand.New(rand.NewPCG(uint64(n), 9))
			var early []*slotWrites
			for _, w := range second {
				if rng.IntN(3) == 0 {
					early = append(early, w)
				}
			}
			rng.Shuffle(len(early), func(i, j int) { early[i], early[j] = early[j], early[i] })
			var wg sync.WaitGroup
			errs := make(chan error, n+1)
			var stateMu sync.Mutex
			for i := range n {
				wg.Go(func() {
					for _, w := range shares[i] {
						mu[i].Lock()
						ok, err := c.CopyAside(w.db, w.slot)
						stateMu.Lock()
						was := state[w]
						if !ok {
							state[w] = 1
						}
						stateMu.Unlock()
						if err == nil && ok != (was == 2) {
							err = fmt.Errorf("CopyAside(%d, %d) = %v after state %d", w.db, w.slot, ok, was)
						}
						if err == nil && !ok {
							err = w.write(c)
						}
						mu[i].Unlock()
						if err != nil {
							errs <- err
							return
						}
					}
				})
			}
			wg.Go(func() {
				for _, w := range early {
					i := c.PartOf(w.slot)
					mu[i].Lock()
					stateMu.Lock()
					walked := state[w] == 1
					if !walked {
						state[w] = 2
					}
					stateMu.Unlock()
					var err error
					if !walked {
						err = c.WriteAside(w.db, w.slot, func() error { return w.write(c) })
					}
					mu[i].Unlock()
					if err != nil {
						errs <- err
						return
					}
				}
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			files := finishIngest(t, parted, c)
			data := 0
			for _, f := range files {
				if !strings.HasSuffix(f, "-sys.sst") {
					data++
				}
			}
			if data < n {
				t.Errorf("%d data files for %d parts: %v", data, n, files)
			}
			sameRecords(t, parted, inOrder)
		})
	}
}

// A DeleteSlots over the whole database in a checkpoint of several parts
// is one range deletion per part, and the counts of every slot reset.
func TestCheckpointPartsDeleteSlotsAcrossParts(t *testing.T) {
	seed, _ := asideFixture()
	s := seededStore(t, seed)
	c, err := s.NewCheckpointParts(t.TempDir(), Record{Seq: 2}, 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSlots(1, 0, 16384); err != nil {
		t.Fatal(err)
	}
	finishIngest(t, s, c)
	for db, want := range []int64{int64(len(seed) / 3), 0, int64(len(seed) / 3)} {
		if n, err := s.Count(db); err != nil || n != want {
			t.Errorf("db %d Count %d %v, want %d", db, n, err, want)
		}
	}
	if _, err := s.NewCheckpointParts(t.TempDir(), Record{Seq: 3}, 0); err == nil {
		t.Error("a checkpoint in 0 parts was accepted")
	}
}
