package aof

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/structd/structd/internal/vfs"
)

// rec is a logged command as the tests see it.
type rec struct {
	DB   int
	Args string // arguments joined by spaces
}

func (r rec) args() [][]byte {
	var out [][]byte
	for _, a := range strings.Split(r.Args, " ") {
		out = append(out, []byte(a))
	}
	return out
}

func newMemLog(t testing.TB, mode SyncMode) (*vfs.MemFS, Options) {
	t.Helper()
	fs := vfs.NewMem()
	if err := fs.MkdirAll("/data/aof", 0o755); err != nil {
		t.Fatal(err)
	}
	return fs, Options{FS: fs, Dir: "/data/aof", Sync: mode}
}

func mustOpen(t testing.TB, o Options) *Writer {
	t.Helper()
	w, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func mustAppend(t testing.TB, w *Writer, r rec) Pos {
	t.Helper()
	pos, err := w.Append(r.DB, r.args())
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// replayAll replays the log from from and collects what it applies.
func replayAll(o Options, from Pos) ([]rec, Report, error) {
	var got []rec
	rep, err := Replay(o, from, func(db int, args [][]byte) error {
		parts := make([]string, len(args))
		for i, a := range args {
			parts[i] = string(a)
		}
		got = append(got, rec{db, strings.Join(parts, " ")})
		return nil
	})
	return got, rep, err
}

func mustReplay(t testing.TB, o Options, from Pos) ([]rec, Report) {
	t.Helper()
	got, rep, err := replayAll(o, from)
	if err != nil {
		t.Fatal(err)
	}
	return got, rep
}

func sameRecs(t testing.TB, got, want []rec) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replayed %d records, want %d\n got: %v\nwant: %v", len(got), len(want), got, want)
	}
}

func readFile(t testing.TB, fs vfs.FS, path string) []byte {
	t.Helper()
	f, err := fs.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	size, _ := f.Size()
	b := make([]byte, size)
	if _, err := f.ReadAt(b, 0); err != nil && size > 0 {
		t.Fatal(err)
	}
	return b
}

func writeFile(t testing.TB, fs vfs.FS, path string, data []byte) {
	t.Helper()
	f, err := fs.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// blockStarts returns the offsets of the blocks of a valid segment, plus its
// length as the final boundary.
func blockStarts(t testing.TB, seg []byte) []int64 {
	t.Helper()
	var starts []int64
	off := int64(0)
	for off < int64(len(seg)) {
		starts = append(starts, off)
		_, n, _, ok := parseHeader(seg[off : off+int64(headerLen)])
		if !ok {
			t.Fatalf("no block header at %d", off)
		}
		off += int64(headerLen) + n
	}
	return append(starts, off)
}

func segPath(o Options, n uint64) string {
	o = o.withDefaults()
	return o.segmentPath(n)
}

func numbered(prefix string, n int) []rec {
	out := make([]rec, n)
	for i := range out {
		out[i] = rec{i % 3, fmt.Sprintf("SET %s%d v%d", prefix, i, i)}
	}
	return out
}

func segments(t testing.TB, o Options) []uint64 {
	t.Helper()
	o = o.withDefaults()
	segs, err := o.listSegments()
	if err != nil {
		t.Fatal(err)
	}
	return segs
}

// writeLog opens a writer on o, appends n numbered commands, waiting for
// the i-th when wait(i) (so blocks hold one or several commands), closes
// it, and returns the commands with their positions.
func writeLog(t testing.TB, o Options, prefix string, n int, wait func(i int) bool) ([]rec, []Pos) {
	t.Helper()
	w := mustOpen(t, o)
	recs := numbered(prefix, n)
	pos := make([]Pos, n)
	for i, r := range recs {
		pos[i] = mustAppend(t, w, r)
		if wait(i) {
			if err := w.Wait(pos[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return recs, pos
}
