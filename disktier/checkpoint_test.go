package disktier

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// change is one key of a test checkpoint: a value to put, or nil to delete.
type change struct {
	db  int
	key string
	o   *memtier.Object
}

// recordOrder sorts changes into the order a checkpoint writes them.
func recordOrder(cs []change) {
	sort.Slice(cs, func(i, j int) bool {
		a := appendKeyBase(nil, cs[i].db, memtier.SlotOf([]byte(cs[i].key)), []byte(cs[i].key))
		b := appendKeyBase(nil, cs[j].db, memtier.SlotOf([]byte(cs[j].key)), []byte(cs[j].key))
		return bytes.Compare(a, b) < 0
	})
}

// writeCheckpoint writes cs as checkpoint seq into a fresh directory and
// returns its files, not ingested.
func writeCheckpoint(t *testing.T, s *Store, seq uint64, cs []change) []string {
	t.Helper()
	return writeCheckpointFS(t, s, seq, cs, t.TempDir())
}

// writeCheckpointFS is writeCheckpoint into dir on the store's file system.
func writeCheckpointFS(t *testing.T, s *Store, seq uint64, cs []change, dir string) []string {
	t.Helper()
	recordOrder(cs)
	c, err := s.NewCheckpoint(dir, Record{Seq: seq, AOFSegment: seq, AOFOffset: 100 * seq, TimeMs: 1700000000000})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range cs {
		if ch.o == nil {
			err = c.Delete(ch.db, []byte(ch.key))
		} else {
			err = c.Put(ch.db, []byte(ch.key), ch.o, 0)
		}
		if err != nil {
			t.Fatalf("%d %q: %v", ch.db, ch.key, err)
		}
	}
	files, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// state reads every key of dbs 0..2 as db/key -> dump.
func state(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for db := 0; db < 3; db++ {
		var keys []string
		if err := s.Keys(db, 0, func(k KeyInfo) bool { keys = append(keys, string(k.Key)); return true }); err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			o, _, err := s.Load(db, []byte(k))
			if err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%d/%s", db, k)] = dump(o)
		}
		if n, err := s.Count(db); err != nil || n != int64(len(keys)) {
			t.Fatalf("db %d: Count %d %v, Keys %d", db, n, err, len(keys))
		}
	}
	return out
}

func sameState(t *testing.T, got, want map[string]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %.120s, want %.120s", k, got[k], w)
		}
	}
}

func TestCheckpointIngestAndCrashBeforeIngest(t *testing.T) {
	s, dir := openTest(t)
	var first []change
	for i := 0; i < 300; i++ {
		first = append(first, change{i % 3, fmt.Sprintf("k%d", i), memtier.NewString(fmt.Appendf(nil, "v%d", i))})
	}
	first = append(first, change{0, "big", hashOf(types.DefaultHashLimits, pairsOf(4000)...)})
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, first)); err != nil {
		t.Fatal(err)
	}
	c1 := state(t, s)
	if r, ok, err := s.Record(); !ok || err != nil || r.Seq != 1 || r.AOFOffset != 100 || r.Keys != 301 {
		t.Fatalf("record %+v %v %v", r, ok, err)
	}

	// Checkpoint 2: overwrite, delete, replace the big hash's sub-keys with
	// different ones, add keys. Written but not ingested, then the process
	// "crashes" (the store closes): the reopened store is exactly C1.
	bigger := hashOf(types.DefaultHashLimits, pairsOf(10)...)
	for i := 0; i < 3000; i++ {
		bigger.Payload().(*types.Hash).Set(fmt.Appendf(nil, "other:%d", i), []byte("x"), types.DefaultHashLimits)
	}
	second := []change{
		{0, "k0", memtier.NewString([]byte("changed"))},
		{1, "k1", nil},
		{2, "k2", listOf("a", "b")},
		{0, "big", bigger},
		{1, "new", setOf(512, "1", "2")},
		{2, "never existed", nil},
	}
	files := writeCheckpoint(t, s, 2, second)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sameState(t, state(t, s), c1)
	if r, _, _ := s.Record(); r.Seq != 1 {
		t.Fatalf("record seq %d after a crash before ingest", r.Seq)
	}

	// The same files ingested later commit all of checkpoint 2 at once.
	if err := s.IngestCheckpoint(files); err != nil {
		t.Fatal(err)
	}
	want := c1
	want["0/k0"] = dump(memtier.NewString([]byte("changed")))
	delete(want, "1/k1")
	want["2/k2"] = dump(listOf("a", "b"))
	want["0/big"] = dump(bigger)
	want["1/new"] = dump(setOf(512, "1", "2"))
	sameState(t, state(t, s), want)
	lo, hi := keyRange(0, []byte("big"))
	if got := rawCount(t, s, lo, hi); got != 3011 {
		t.Errorf("big hash has %d records, want 3010 sub-keys + metadata (old ones deleted)", got)
	}
	if r, _, _ := s.Record(); r.Seq != 2 || r.Deletes != 2 || r.Bytes < 1000 {
		t.Errorf("record %+v", r)
	}
}

// Overlapping files are refused as a whole: nothing of the checkpoint
// becomes visible, not even the files that were fine.
func TestCheckpointIngestIsAllOrNothing(t *testing.T) {
	s, _ := openTest(t)
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, []change{{0, "a", memtier.NewString([]byte("1"))}})); err != nil {
		t.Fatal(err)
	}
	before := state(t, s)
	c, err := s.NewCheckpoint(t.TempDir(), Record{Seq: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Put(0, []byte("a"), memtier.NewString([]byte("2")), 0); err != nil {
		t.Fatal(err)
	}
	// Going back without Split is refused with an error.
	if err := c.Put(0, []byte("a"), memtier.NewString([]byte("3")), 0); err == nil {
		t.Fatal("out-of-order key accepted")
	}
	// Split, then a file that overlaps the first.
	if err := c.Split(); err != nil {
		t.Fatal(err)
	}
	if err := c.Put(0, []byte("a"), memtier.NewString([]byte("3")), 0); err != nil {
		t.Fatal(err)
	}
	files, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 3 {
		t.Fatalf("%d files", len(files))
	}
	if err := s.IngestCheckpoint(files); err == nil {
		t.Fatal("overlapping checkpoint files ingested")
	}
	sameState(t, state(t, s), before)
	if r, _, _ := s.Record(); r.Seq != 1 {
		t.Errorf("record seq %d after a refused ingest", r.Seq)
	}
	if err := c.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left after Abort: %v", f, err)
		}
	}
}

// DeleteSlots in a checkpoint drops the previous keys of those slots; keys
// written into them by the same checkpoint survive (they share the
// ingestion's sequence number, which a range deletion does not cover).
func TestCheckpointDeleteSlots(t *testing.T) {
	s, _ := openTest(t)
	var first []change
	for i := 0; i < 200; i++ {
		first = append(first, change{0, fmt.Sprintf("k%d", i), memtier.NewString([]byte("old"))})
		first = append(first, change{1, fmt.Sprintf("k%d", i), memtier.NewString([]byte("db1"))})
	}
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, first)); err != nil {
		t.Fatal(err)
	}
	c, err := s.NewCheckpoint(t.TempDir(), Record{Seq: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteSlots(0, 0, memtier.NumSlots); err != nil {
		t.Fatal(err)
	}
	kept := []change{{0, "k5", memtier.NewString([]byte("new"))}, {0, "fresh", memtier.NewString([]byte("new"))}}
	recordOrder(kept)
	for _, ch := range kept {
		if err := c.Put(ch.db, []byte(ch.key), ch.o, 0); err != nil {
			t.Fatal(err)
		}
	}
	files, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.IngestCheckpoint(files); err != nil {
		t.Fatal(err)
	}
	got := state(t, s)
	if len(got) != 202 || got["0/k5"] != dump(memtier.NewString([]byte("new"))) || got["0/fresh"] == "" || got["1/k7"] == "" {
		t.Errorf("after FLUSHDB 0 + 2 writes: %d keys, k5=%q", len(got), got["0/k5"])
	}
	if n, _ := s.Count(0); n != 2 {
		t.Errorf("db 0 Count = %d, want 2", n)
	}
	if n, _ := s.Count(1); n != 200 {
		t.Errorf("db 1 Count = %d, want 200", n)
	}
}

// PutFields in a checkpoint writes only the changed sub-keys.
func TestCheckpointPutFieldsIsIncremental(t *testing.T) {
	s, _ := openTest(t)
	z := zsetOf(types.DefaultZSetLimits)
	for i := 0; i < 20000; i++ {
		z.Payload().(*types.ZSet).Add(fmt.Appendf(nil, "m%d", i), float64(i), 0, types.DefaultZSetLimits)
	}
	full := writeCheckpoint(t, s, 1, []change{{0, "z", z}})
	if err := s.IngestCheckpoint(full); err != nil {
		t.Fatal(err)
	}
	zs := z.Payload().(*types.ZSet)
	zs.Add([]byte("m3"), -1, 0, types.DefaultZSetLimits)
	zs.Remove([]byte("m4"))
	c, err := s.NewCheckpoint(t.TempDir(), Record{Seq: 2})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PutFields(0, []byte("z"), z, 0, [][]byte{[]byte("m4"), []byte("m3")}); err != nil {
		t.Fatal(err)
	}
	files, err := c.Finish()
	if err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if info.Size() > 4096 {
		t.Errorf("two-member change wrote a %d-byte SST", info.Size())
	}
	if err := s.IngestCheckpoint(files); err != nil {
		t.Fatal(err)
	}
	got, _, err := s.Load(0, []byte("z"))
	if err != nil {
		t.Fatal(err)
	}
	if dump(got) != dump(z) {
		t.Error("zset differs after an incremental checkpoint")
	}
}

func TestChecksumCatchesFlippedByte(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir, Options{Compression: CompressionNone})
	if err != nil {
		t.Fatal(err)
	}
	val := bytes.Repeat([]byte("structd-"), 1000)
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, []change{{0, "k", memtier.NewString(val)}})); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ssts, _ := filepath.Glob(filepath.Join(dir, "*.sst"))
	flipped := false
	for _, f := range ssts {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if i := bytes.Index(b, []byte("structd-structd-")); i >= 0 {
			b[i+100] ^= 0x01 // inside the value, inside its data block
			if err := os.WriteFile(f, b, 0o644); err != nil {
				t.Fatal(err)
			}
			flipped = true
		}
	}
	if !flipped {
		t.Fatal("value not found in any SST")
	}
	s, err = Open(dir, Options{Compression: CompressionNone})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	o, _, err := s.Load(0, []byte("k"))
	if err == nil {
		t.Fatalf("corrupt block read without error (equal to the original: %v)", bytes.Equal(o.Bytes(), val))
	}
	t.Logf("Load: %v", err)
	if err := s.Keys(0, 0, func(KeyInfo) bool { return true }); err == nil {
		t.Error("Keys over a corrupt block returned no error")
	}
}

// Loads running while checkpoints replace a big collection see one version
// or the other, never metadata of one with the elements of the other.
func TestLoadDuringIngestSeesOneVersion(t *testing.T) {
	s, _ := openTest(t)
	versions := []*memtier.Object{
		hashOf(types.DefaultHashLimits, pairsOf(3000)...),
		setOf(512, seq("member-", 2500)...),
	}
	want := []string{dump(versions[0]), dump(versions[1])}
	if err := s.IngestCheckpoint(writeCheckpoint(t, s, 1, []change{{0, "k", versions[0]}})); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	errs := make(chan error, 4)
	for r := 0; r < 2; r++ {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				o, _, err := s.Load(0, []byte("k"))
				if err != nil {
					errs <- err
					return
				}
				if d := dump(o); d != want[0] && d != want[1] {
					errs <- fmt.Errorf("loaded a mix: %.80s", d)
					return
				}
			}
		}()
	}
	for seq := uint64(2); seq < 30; seq++ {
		if err := s.IngestCheckpoint(writeCheckpoint(t, s, seq, []change{{0, "k", versions[seq%2]}})); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	for r := 0; r < 2; r++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

func TestWriteSST(t *testing.T) {
	s, _ := openTest(t)
	dir := t.TempDir()
	pairs := func(keys ...string) func(yield func(k, v []byte) bool) {
		return func(yield func(k, v []byte) bool) {
			for _, k := range keys {
				if !yield([]byte(k), []byte("v-"+k)) {
					return
				}
			}
		}
	}
	if err := s.WriteSST(filepath.Join(dir, "bad.sst"), pairs("\x02b", "\x02a")); err == nil {
		t.Error("keys out of order written")
	}
	path := filepath.Join(dir, "ok.sst")
	if err := s.WriteSST(path, pairs("\x02a", "\x02b", "\x02c")); err != nil {
		t.Fatal(err)
	}
	if err := s.IngestCheckpoint([]string{path}); err != nil {
		t.Fatal(err)
	}
	v, closer, err := s.Pebble().Get([]byte("\x02b"))
	if err != nil || string(v) != "v-\x02b" {
		t.Fatalf("Get = %q %v", v, err)
	}
	closer.Close()
}
