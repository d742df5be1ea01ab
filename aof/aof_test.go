package aof

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/structd/structd/internal/crc64"
	"github.com/structd/structd/internal/vfs"
)

func TestRoundTrip(t *testing.T) {
	recs := []rec{
		{0, "SET k v"},
		{0, "SET k2 v2"},
		{3, "RPUSH list a b c"},
		{3, "PEXPIREAT list 1893456000000"},
		{0, "DEL k"},
		{15, "HSET h f v"},
		{0, "INCRBY n 5"},
	}
	binary := rec{2, "SET bin x"}
	cases := []struct {
		name string
		opts Options
	}{
		{"always", Options{Sync: SyncAlways}},
		{"everysec", Options{Sync: SyncEverySec}},
		{"no", Options{Sync: SyncNo}},
		{"tiny blocks", Options{Sync: SyncAlways, BlockSize: 1}},
		{"tiny segments", Options{Sync: SyncEverySec, SegmentSize: 60}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			fs, o := newMemLog(t, c.opts.Sync)
			o.BlockSize, o.SegmentSize = c.opts.BlockSize, c.opts.SegmentSize
			w := mustOpen(t, o)
			for _, r := range recs {
				if err := w.Wait(mustAppend(t, w, r)); err != nil {
					t.Fatal(err)
				}
			}
			// Arguments with every byte value, CRLF and an empty one.
			var all []byte
			for i := range 256 {
				all = append(all, byte(i))
			}
			args := [][]byte{[]byte("SET"), []byte("bin\r\n\x00"), all, {}}
			pos, err := w.Append(binary.DB, args)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			if st := w.Stats(); st.Written != pos || st.Synced != pos || st.Appends != uint64(len(recs)+1) {
				t.Fatalf("after Close: stats %+v, want everything up to %v written and synced", st, pos)
			}
			var got [][][]byte
			var dbs []int
			rep, err := Replay(o, Pos{}, func(db int, a [][]byte) error {
				cp := make([][]byte, len(a))
				for i := range a {
					cp[i] = append([]byte{}, a[i]...)
				}
				got, dbs = append(got, cp), append(dbs, db)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Commands != len(recs)+1 || rep.Truncated != nil || rep.End != pos {
				t.Fatalf("report %+v, want %d commands ending at %v", rep, len(recs)+1, pos)
			}
			for i, r := range recs {
				if dbs[i] != r.DB || fmt.Sprintf("%s", got[i]) != fmt.Sprintf("%s", r.args()) {
					t.Fatalf("record %d: db %d %q, want db %d %q", i, dbs[i], got[i], r.DB, r.args())
				}
			}
			last := got[len(got)-1]
			if dbs[len(dbs)-1] != binary.DB || fmt.Sprintf("%q", last) != fmt.Sprintf("%q", args) {
				t.Fatalf("binary record came back as db %d %q", dbs[len(dbs)-1], last)
			}
			// Every segment starts with a SELECT, so it replays on its own.
			segs := segments(t, o)
			for _, n := range segs {
				data := readFile(t, fs, segPath(o, n))
				if len(data) > 0 && !strings.HasPrefix(string(data[headerLen:]), "*2\r\n$6\r\nSELECT\r\n") {
					t.Errorf("segment %d does not start with SELECT: %q", n, data[:min(len(data), 60)])
				}
			}
			if c.opts.SegmentSize > 0 && len(segs) < 3 {
				t.Errorf("SegmentSize %d gave %d segments, want rotation", c.opts.SegmentSize, len(segs))
			}
		})
	}
}

// TestSegmentIsAValidRedisAOF runs Redis's own checker over a segment.
func TestSegmentIsAValidRedisAOF(t *testing.T) {
	checker, err := exec.LookPath("redis-check-aof")
	if err != nil {
		t.Skip("redis-check-aof not installed")
	}
	dir := t.TempDir()
	o := Options{Dir: dir, Sync: SyncAlways, BlockSize: 64}
	w := mustOpen(t, o)
	for _, r := range numbered("key", 50) {
		mustAppend(t, w, r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(checker, filepath.Join(dir, SegmentName("appendonly.aof", 1))).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is valid") {
		t.Fatalf("redis-check-aof: %v\n%s", err, out)
	}
}

func TestReplayFromEveryPosition(t *testing.T) {
	_, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 150
	recs, pos := writeLog(t, o, "k", 40, func(i int) bool { return i%7 == 0 })
	for i, p := range pos {
		got, rep := mustReplay(t, o, p)
		sameRecs(t, got, recs[i+1:])
		if rep.Commands != len(recs)-i-1 {
			t.Fatalf("from %v: Commands = %d", p, rep.Commands)
		}
	}
	// The middle of a command is not a position.
	mid := Pos{Seg: pos[3].Seg, Off: pos[3].Off - 3}
	if _, _, err := replayAll(o, mid); err == nil || !strings.Contains(err.Error(), "not a command boundary") {
		t.Fatalf("replay from inside a command: %v", err)
	}
}

// TestGroupCommit holds each fsync until every appender of the round has
// appended, so all of them must be covered by at most two fsyncs: the one
// already running and the one after it. Every Wait must return only once a
// crash would keep its command.
func TestGroupCommit(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 64 << 10 // each waiter copies the (reserved) segment
	const appenders, rounds = 32, 10
	var gateMu sync.Mutex
	gate := make(chan struct{})
	fs.SetHook(vfs.OpSync, func(string) {
		gateMu.Lock()
		g := gate
		gateMu.Unlock()
		<-g
	})
	w := mustOpen(t, o)
	syncsBefore := fs.Calls(vfs.OpSync)
	for round := range rounds {
		var appended, done sync.WaitGroup
		appended.Add(appenders)
		done.Add(appenders)
		errs := make(chan error, appenders)
		for g := range appenders {
			go func() {
				defer done.Done()
				r := rec{g % 4, fmt.Sprintf("SET r%d-g%d x", round, g)}
				pos, err := w.Append(r.DB, r.args())
				appended.Done()
				if err == nil {
					err = w.Wait(pos)
				}
				if err != nil {
					errs <- err
					return
				}
				got, _, err := replayAll(o.withFS(fs.CrashClone()), Pos{})
				if err != nil {
					errs <- err
					return
				}
				for _, x := range got {
					if x == r {
						return
					}
				}
				errs <- fmt.Errorf("Wait(%v) returned but a crash loses %v", pos, r)
			}()
		}
		appended.Wait()
		gateMu.Lock()
		close(gate)
		gate = make(chan struct{})
		gateMu.Unlock()
		// Later syncs of this round (there is at most one) must not block.
		close(gate)
		done.Wait()
		gateMu.Lock()
		gate = make(chan struct{})
		gateMu.Unlock()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	fs.SetHook(vfs.OpSync, nil)
	syncs := fs.Calls(vfs.OpSync) - syncsBefore
	if syncs > 2*rounds {
		t.Fatalf("%d appends took %d fsyncs, want at most %d", appenders*rounds, syncs, 2*rounds)
	}
	t.Logf("%d appends, %d fsyncs", appenders*rounds, syncs)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

func (o Options) withFS(fs vfs.FS) Options { o.FS = fs; return o }

// TestCrashAtEveryTailOffset cuts the last segment at every byte offset, as
// a crash in the middle of a write can, and checks that replay keeps exactly
// the whole blocks before the cut: a prefix of the log holding every command
// whose Wait could have returned.
func TestCrashAtEveryTailOffset(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 400
	// Some blocks hold two or more commands.
	recs, pos := writeLog(t, o, "tail", 30, func(i int) bool { return i%4 != 1 })
	lastSeg := pos[len(pos)-1].Seg
	if lastSeg < 2 {
		t.Fatalf("want several segments, got %d", lastSeg)
	}
	full := readFile(t, fs, segPath(o, lastSeg))
	starts := blockStarts(t, full)
	for cut := 0; cut <= len(full); cut++ {
		c := fs.CrashClone()
		co := o.withFS(c)
		writeFile(t, c, segPath(o, lastSeg), full[:cut])
		durable := int64(0) // end of the last whole block before the cut
		for _, s := range starts {
			if s <= int64(cut) {
				durable = s
			}
		}
		var want []rec
		for i, p := range pos {
			if p.Seg < lastSeg || p.Off <= durable {
				want = append(want, recs[i])
			}
		}
		got, rep, err := replayAll(co, Pos{})
		if err != nil {
			t.Fatalf("cut at %d: %v", cut, err)
		}
		sameRecs(t, got, want)
		if torn := int64(cut) != durable; torn != (rep.Truncated != nil) || torn && rep.Truncated.Unwritten {
			t.Fatalf("cut at %d (last block ends at %d): Truncated = %+v", cut, durable, rep.Truncated)
		}
		if size := int64(len(readFile(t, c, segPath(o, lastSeg)))); size != durable || rep.End != (Pos{lastSeg, durable}) {
			t.Fatalf("cut at %d: file is %d bytes and End %v after replay, want %d", cut, size, rep.End, durable)
		}
		// The repaired log takes new writes and replays whole.
		w2 := mustOpen(t, co)
		extra := rec{5, "SET after crash"}
		mustAppend(t, w2, extra)
		if err := w2.Close(); err != nil {
			t.Fatal(err)
		}
		got, rep = mustReplay(t, co, Pos{})
		sameRecs(t, got, append(want, extra))
		if rep.Truncated != nil {
			t.Fatalf("cut at %d: second replay still truncates: %v", cut, rep.Truncated)
		}
	}
}

// TestZeroFilledTailIsCutAsUnwritten: a file system may extend a file
// before the data lands, leaving zeros after the last whole block; replay
// cuts them and reports them as never written.
func TestZeroFilledTailIsCutAsUnwritten(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	w := mustOpen(t, o)
	recs := numbered("z", 3)
	for _, r := range recs {
		w.Wait(mustAppend(t, w, r))
	}
	w.Close()
	data := readFile(t, fs, segPath(o, 1))
	writeFile(t, fs, segPath(o, 1), append(data, make([]byte, 100)...))
	got, rep := mustReplay(t, o, Pos{})
	sameRecs(t, got, recs)
	if rep.Truncated == nil || rep.Truncated.Dropped != 100 || !rep.Truncated.Unwritten {
		t.Fatalf("Truncated = %+v, want 100 unwritten bytes dropped", rep.Truncated)
	}
}

// TestAlwaysReservesSegmentSpace: under always the open segment is
// preallocated to SegmentSize; a crash leaves the unused part as zeros,
// which replay trims without calling it a partial write, and a segment the
// writer leaves (Rotate, Close) is cut to what was written.
func TestAlwaysReservesSegmentSpace(t *testing.T) {
	fs, o := newMemLog(t, SyncEverySec)
	o.SegmentSize = 4096
	w := mustOpen(t, o)
	size := func(seg uint64) int64 { return int64(len(readFile(t, fs, segPath(o, seg)))) }
	before := rec{0, "SET before always"}
	if err := w.Wait(mustAppend(t, w, before)); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := size(1); got >= o.SegmentSize {
		t.Fatalf("segment 1 is %d bytes under everysec: reserved before always", got)
	}
	w.SetSyncMode(SyncAlways) // CONFIG SET appendfsync always
	recs := []rec{before}
	var end Pos
	for _, r := range numbered("r", 5) {
		end = mustAppend(t, w, r)
		if err := w.Wait(end); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if got := size(1); got != o.SegmentSize {
		t.Fatalf("segment 1 is %d bytes under always, want %d reserved", got, o.SegmentSize)
	}
	got, rep := mustReplay(t, o.withFS(fs.CrashClone()), Pos{})
	sameRecs(t, got, recs)
	if tr := rep.Truncated; tr == nil || !tr.Unwritten || tr.Offset != end.Off || tr.Dropped != o.SegmentSize-end.Off {
		t.Fatalf("crash image: Truncated = %+v, want the %d unwritten bytes after %d", tr, o.SegmentSize-end.Off, end.Off)
	}

	if err := w.Rotate(); err != nil {
		t.Fatal(err)
	}
	after := rec{1, "SET after rotate"}
	if err := w.Wait(mustAppend(t, w, after)); err != nil {
		t.Fatal(err)
	}
	recs = append(recs, after)
	if got := size(1); got != end.Off {
		t.Fatalf("segment 1 is %d bytes after Rotate, want it cut to its end %d", got, end.Off)
	}
	if got := size(2); got != o.SegmentSize {
		t.Fatalf("segment 2 is %d bytes under always, want %d reserved", got, o.SegmentSize)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, rep = mustReplay(t, o, Pos{})
	sameRecs(t, got, recs)
	if rep.Truncated != nil {
		t.Fatalf("after Close: Truncated = %+v, want the reserved space cut", rep.Truncated)
	}
}

// TestCrashKeepsEveryAcknowledgedWrite crashes (CrashClone) while many
// goroutines append under always: each crash image replays to a prefix of
// the final log that holds every command acknowledged before the crash.
func TestCrashKeepsEveryAcknowledgedWrite(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 2000
	w := mustOpen(t, o)
	const appenders, each = 8, 40
	var ackMu sync.Mutex
	acked := map[rec]bool{}
	type image struct {
		fs    *vfs.MemFS
		acked map[rec]bool
	}
	var images []image
	var wg sync.WaitGroup
	for g := range appenders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				r := rec{g, fmt.Sprintf("INCR c%d-%d", g, i)}
				pos, err := w.Append(r.DB, r.args())
				if err == nil {
					err = w.Wait(pos)
				}
				if err != nil {
					t.Error(err)
					return
				}
				ackMu.Lock()
				acked[r] = true
				if g == 0 && i%3 == 0 {
					snap := map[rec]bool{}
					for k := range acked {
						snap[k] = true
					}
					images = append(images, image{fs.CrashClone(), snap})
				}
				ackMu.Unlock()
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	final, _ := mustReplay(t, o, Pos{})
	if len(final) != appenders*each {
		t.Fatalf("final log has %d commands, want %d", len(final), appenders*each)
	}
	for n, img := range images {
		got, _ := mustReplay(t, o.withFS(img.fs), Pos{})
		sameRecs(t, got, final[:len(got)])
		present := map[rec]bool{}
		for _, r := range got {
			present[r] = true
		}
		for r := range img.acked {
			if !present[r] {
				t.Fatalf("crash image %d lost acknowledged %v", n, r)
			}
		}
	}
}

// TestFlippedByteIsDetected flips every byte of every segment in turn:
// replay must stop with the segment's name and the damaged block's offset,
// never drop it as a partial write, and Repair must cut exactly there.
func TestFlippedByteIsDetected(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 300
	recs, pos := writeLog(t, o, "flip", 16, func(i int) bool { return i%3 != 0 })
	segs := segments(t, o)
	if len(segs) < 3 {
		t.Fatalf("want at least 3 segments, got %d", len(segs))
	}
	for _, n := range segs {
		orig := readFile(t, fs, segPath(o, n))
		starts := blockStarts(t, orig)
		for off := range orig {
			c := fs.CrashClone()
			damaged := append([]byte{}, orig...)
			damaged[off] ^= 0x20
			writeFile(t, c, segPath(o, n), damaged)
			block := int64(0)
			for _, s := range starts {
				if s <= int64(off) {
					block = s
				}
			}
			_, _, err := replayAll(o.withFS(c), Pos{})
			var ce *CorruptionError
			if !errors.As(err, &ce) || ce.Seg != n || ce.File != SegmentName("appendonly.aof", n) || ce.Offset != block {
				t.Fatalf("byte %d of segment %d flipped: got %v, want corruption of block at %d", off, n, err, block)
			}
			if off%37 != 0 {
				continue // Repair is slower; a spread of offsets is enough
			}
			rep, err := Repair(o.withFS(c), Pos{})
			if err != nil {
				t.Fatalf("Repair after flipping byte %d of segment %d: %v", off, n, err)
			}
			if rep.Cut == nil || rep.Cut.At != (Pos{n, block}) || len(rep.Cut.MovedAside) == 0 {
				t.Fatalf("Repair cut %+v, want at %v", rep.Cut, Pos{n, block})
			}
			var want []rec
			for i, p := range pos {
				if p.Less(Pos{n, block + 1}) {
					want = append(want, recs[i])
				}
			}
			got, _ := mustReplay(t, o.withFS(c), Pos{})
			sameRecs(t, got, want)
			aside := readFile(t, c, filepath.Join(o.Dir, rep.Cut.MovedAside[0]))
			if string(aside) != string(damaged[block:]) {
				t.Fatalf("the moved-aside tail is not the cut bytes")
			}
		}
	}
}

// Logs written before CRC-32C have #C blocks with the payload's
// CRC-64/Jones: a log of both kinds replays whole, and a flipped byte in
// a #C block is corruption of that block.
func TestCRC64BlocksStillReplay(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 300
	recs, _ := writeLog(t, o, "old", 16, func(i int) bool { return i%3 != 0 })
	var oldBlocks []Pos
	for _, n := range segments(t, o) {
		seg := readFile(t, fs, segPath(o, n))
		starts := blockStarts(t, seg)
		for i, off := range starts[:len(starts)-1] {
			if i%2 == 1 {
				continue // every other block stays #K
			}
			payload := seg[off+int64(headerLen) : starts[i+1]]
			hdr := append([]byte("#C "), fmt.Sprintf("%08x %016x", len(payload), crc64.Checksum(payload))...)
			hdr = append(hdr, fmt.Sprintf(" %08x\r\n", crc64.Checksum(hdr)&0xffffffff)...)
			copy(seg[off:], hdr)
			oldBlocks = append(oldBlocks, Pos{n, off})
		}
		writeFile(t, fs, segPath(o, n), seg)
	}
	got, _ := mustReplay(t, o, Pos{})
	sameRecs(t, got, recs)

	old := oldBlocks[len(oldBlocks)/2]
	c := fs.CrashClone()
	damaged := readFile(t, c, segPath(o, old.Seg))
	damaged[old.Off+int64(headerLen)] ^= 0x20
	writeFile(t, c, segPath(o, old.Seg), damaged)
	_, _, err := replayAll(o.withFS(c), Pos{})
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Seg != old.Seg || ce.Offset != old.Off {
		t.Fatalf("flipped payload byte of the #C block at %v: got %v", old, err)
	}
}

func TestMissingSegmentIsAnError(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 100
	recs, pos := writeLog(t, o, "m", 20, func(int) bool { return false })
	if pos[len(pos)-1].Seg < 4 {
		t.Fatal("want at least 4 segments")
	}
	if err := fs.Remove(segPath(o, 2)); err != nil {
		t.Fatal(err)
	}
	_, _, err := replayAll(o, Pos{})
	var ce *CorruptionError
	if !errors.As(err, &ce) || ce.Seg != 2 || !strings.Contains(err.Error(), "appendonly.aof.000002") {
		t.Fatalf("replay with segment 2 missing: %v", err)
	}
	// Replay from a checkpoint after the gap needs nothing before it.
	var want []rec
	for i, p := range pos {
		if p.Seg >= 3 {
			want = append(want, recs[i])
		}
	}
	got, _ := mustReplay(t, o, Pos{Seg: 3})
	sameRecs(t, got, want)
	// Repair cannot bring segment 2 back, but cuts the log before it.
	rep, err := Repair(o, Pos{})
	if err != nil || rep.Cut == nil || rep.Cut.At.Seg != 2 {
		t.Fatalf("Repair: %+v, %v", rep.Cut, err)
	}
	got, _ = mustReplay(t, o, Pos{})
	var seg1 []rec
	for i, p := range pos {
		if p.Seg == 1 {
			seg1 = append(seg1, recs[i])
		}
	}
	sameRecs(t, got, seg1)
}

// notifierFunc adapts a function to Notifier.
type notifierFunc func(error)

func (f notifierFunc) Durable(err error) { f(err) }

// TestNotifyDurable: a notifier runs once the fsync that covers its
// position returns (a crash then keeps the command), at once when the
// position is durable already, and with the error when an fsync fails.
func TestNotifyDurable(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 4096
	syncing, gate := make(chan struct{}, 1), make(chan struct{})
	w := mustOpen(t, o)
	fs.SetHook(vfs.OpSync, func(string) {
		syncing <- struct{}{}
		<-gate
	})
	r := rec{0, "SET notified 1"}
	pos := mustAppend(t, w, r)
	told := make(chan error, 1)
	w.NotifyDurable(pos, notifierFunc(func(err error) {
		if err == nil {
			if got, _, rerr := replayAll(o.withFS(fs.CrashClone()), Pos{}); rerr != nil || !slices.Contains(got, r) {
				err = fmt.Errorf("told durable, but a crash keeps %v (%v)", got, rerr)
			}
		}
		told <- err
	}))
	<-syncing // the flusher is in the fsync that covers pos
	select {
	case err := <-told:
		t.Fatalf("told %v before the fsync returned", err)
	default:
	}
	close(gate)
	if err := <-told; err != nil {
		t.Fatal(err)
	}
	fs.SetHook(vfs.OpSync, nil)

	w.NotifyDurable(pos, notifierFunc(func(err error) { told <- err })) // durable already
	if err := <-told; err != nil {
		t.Fatal(err)
	}

	fs.FailNext(vfs.OpSync, 1, errors.New("EIO"))
	w.NotifyDurable(mustAppend(t, w, rec{0, "SET lost 1"}), notifierFunc(func(err error) { told <- err }))
	if err := <-told; !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "EIO") {
		t.Fatalf("after a failed fsync: told %v, want ErrBroken", err)
	}
	if err := w.Close(); !errors.Is(err, ErrBroken) {
		t.Fatalf("Close = %v", err)
	}
}

func TestFailedFsyncBreaksTheLog(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpSync, vfs.OpWrite} {
		for _, mode := range []SyncMode{SyncAlways, SyncEverySec} {
			if op == vfs.OpSync && mode != SyncAlways {
				continue // everysec fsyncs on a clock; Sync forces it below
			}
			t.Run(fmt.Sprintf("op%d/%v", op, mode), func(t *testing.T) {
				fs, o := newMemLog(t, mode)
				w := mustOpen(t, o)
				good := rec{0, "SET good 1"}
				if err := w.Wait(mustAppend(t, w, good)); err != nil {
					t.Fatal(err)
				}
				if err := w.Sync(); err != nil {
					t.Fatal(err)
				}
				fs.FailNext(op, 1, errors.New("EIO"))
				pos, err := w.Append(0, rec{0, "SET bad 1"}.args())
				if err != nil {
					t.Fatal(err)
				}
				if err := w.Wait(pos); !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), "EIO") {
					t.Fatalf("Wait after a failed %v: %v, want ErrBroken", op, err)
				}
				if _, err := w.Append(0, rec{0, "SET later 1"}.args()); !errors.Is(err, ErrBroken) {
					t.Fatalf("Append on a broken log: %v", err)
				}
				if err := w.Sync(); !errors.Is(err, ErrBroken) {
					t.Fatalf("Sync on a broken log: %v", err)
				}
				if st := w.Stats(); !errors.Is(st.Err, ErrBroken) {
					t.Fatalf("Stats.Err = %v", st.Err)
				}
				if err := w.Close(); !errors.Is(err, ErrBroken) {
					t.Fatalf("Close = %v", err)
				}
				got, _ := mustReplay(t, o.withFS(fs.CrashClone()), Pos{})
				if len(got) == 0 || got[0] != good {
					t.Fatalf("acknowledged write lost: %v", got)
				}
			})
		}
	}
}

func TestEverysecWaitMeansWrittenAndSyncMeansDurable(t *testing.T) {
	fs, o := newMemLog(t, SyncEverySec)
	w := mustOpen(t, o)
	r := rec{1, "SET es 1"}
	if err := w.Wait(mustAppend(t, w, r)); err != nil {
		t.Fatal(err)
	}
	// Handed to the kernel: a process crash keeps it.
	if got := readFile(t, fs, segPath(o, 1)); !strings.Contains(string(got), "$2\r\nes\r\n") {
		t.Fatalf("after Wait the segment holds %q", got)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	got, _ := mustReplay(t, o.withFS(fs.CrashClone()), Pos{})
	sameRecs(t, got, []rec{r})
	// Switching to always makes Wait wait for an fsync.
	w.SetSyncMode(SyncAlways)
	r2 := rec{1, "SET es 2"}
	if err := w.Wait(mustAppend(t, w, r2)); err != nil {
		t.Fatal(err)
	}
	got, _ = mustReplay(t, o.withFS(fs.CrashClone()), Pos{})
	sameRecs(t, got, []rec{r, r2})
	w.Close()
}

func TestRotationAndTruncateBefore(t *testing.T) {
	fs, o := newMemLog(t, SyncEverySec)
	o.SegmentSize = 120
	w := mustOpen(t, o)
	recs := numbered("rot", 30)
	pos := make([]Pos, len(recs))
	for i, r := range recs {
		pos[i] = mustAppend(t, w, r)
	}
	// A checkpoint at the 20th command: sync the log, commit (not modelled
	// here), then drop the segments before it.
	cp := pos[19]
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	removed, err := w.TruncateBefore(cp)
	if err != nil {
		t.Fatal(err)
	}
	if removed != int(cp.Seg)-1 {
		t.Fatalf("TruncateBefore(%v) removed %d segments, want %d", cp, removed, cp.Seg-1)
	}
	names, _ := fs.List(o.Dir)
	if len(names) == 0 || names[0] != SegmentName("appendonly.aof", cp.Seg) {
		t.Fatalf("after truncation the directory holds %q", names)
	}
	// The deletions are durable.
	if names, _ := fs.CrashClone().List(o.Dir); names[0] != SegmentName("appendonly.aof", cp.Seg) {
		t.Fatalf("after a crash the directory holds %q", names)
	}
	// Rotate starts a new segment for what follows; an idle log that just
	// rotated still syncs.
	if err := w.Rotate(); err != nil {
		t.Fatal(err)
	}
	if err := w.Sync(); err != nil {
		t.Fatal(err)
	}
	more := rec{9, "SET after rotate"}
	p := mustAppend(t, w, more)
	if p.Seg != pos[len(pos)-1].Seg+1 || w.Pos() != p {
		t.Fatalf("after Rotate the next command is at %v", p)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	got, _ := mustReplay(t, o, cp)
	sameRecs(t, got, append(append([]rec{}, recs[20:]...), more))
	if _, _, err := replayAll(o, Pos{}); err == nil {
		t.Fatal("replay from the start after truncation succeeded")
	}
	// A writer reopened on this directory never reuses a number.
	w = mustOpen(t, o)
	if w.Pos().Seg != p.Seg+1 {
		t.Fatalf("reopened writer at %v, want segment %d", w.Pos(), p.Seg+1)
	}
	w.Close()
}

func TestAppendValidatesItsInput(t *testing.T) {
	_, o := newMemLog(t, SyncNo)
	w := mustOpen(t, o)
	defer w.Close()
	if _, err := w.Append(0, nil); err == nil {
		t.Error("empty command accepted")
	}
	if _, err := w.Append(-1, rec{0, "SET a b"}.args()); err == nil {
		t.Error("negative database accepted")
	}
	w.Close()
	if _, err := w.Append(0, rec{0, "SET a b"}.args()); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v", err)
	}
}

func BenchmarkAppendAlways(b *testing.B) {
	args := rec{0, "SET key:000000001 " + strings.Repeat("v", 64)}.args()
	run := func(b *testing.B, parallel bool) {
		dir := b.TempDir()
		w, err := Open(Options{Dir: dir, Sync: SyncAlways})
		if err != nil {
			b.Fatal(err)
		}
		defer w.Close()
		b.ReportAllocs()
		if parallel {
			b.SetParallelism(64)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					pos, err := w.Append(0, args)
					if err == nil {
						err = w.Wait(pos)
					}
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
		} else {
			for b.Loop() {
				pos, err := w.Append(0, args)
				if err == nil {
					err = w.Wait(pos)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		}
		st := w.Stats()
		b.ReportMetric(float64(st.Appends)/b.Elapsed().Seconds(), "appends/s")
		b.ReportMetric(float64(st.Appends)/float64(max(st.Syncs, 1)), "appends/fsync")
	}
	b.Run("single", func(b *testing.B) { run(b, false) })
	b.Run("parallel", func(b *testing.B) { run(b, true) })
}

// TestFailedRotationBreaksTheLog: a new segment whose name cannot be made
// durable must not acknowledge anything written into it.
func TestFailedRotationBreaksTheLog(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.SegmentSize = 50
	w := mustOpen(t, o)
	first := rec{0, "SET first 1"}
	if err := w.Wait(mustAppend(t, w, first)); err != nil {
		t.Fatal(err)
	}
	fs.FailNext(vfs.OpSyncDir, 1, nil)
	pos := mustAppend(t, w, rec{0, "SET second 1"})
	if pos.Seg != 2 {
		t.Fatalf("second command at %v, want segment 2", pos)
	}
	if err := w.Wait(pos); !errors.Is(err, ErrBroken) || !errors.Is(err, vfs.ErrInjected) {
		t.Fatalf("Wait after a failed directory sync: %v", err)
	}
	w.Close()
	got, _ := mustReplay(t, o.withFS(fs.CrashClone()), Pos{})
	sameRecs(t, got, []rec{first})
}

// TestAppendMultiIsAllOrNothing cuts the log at every offset of a
// transaction's block: replay holds all of it or none of it.
func TestAppendMultiIsAllOrNothing(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	o.BlockSize = 1 // a lone command gets a block of its own
	w := mustOpen(t, o)
	before := rec{0, "SET before 1"}
	if err := w.Wait(mustAppend(t, w, before)); err != nil {
		t.Fatal(err)
	}
	tx := []rec{{4, "MULTI"}, {4, "INCR a"}, {4, "LPUSH l x"}, {4, "EXEC"}}
	var cmds [][][]byte
	for _, r := range tx {
		cmds = append(cmds, r.args())
	}
	pos, err := w.AppendMulti(4, cmds)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Wait(pos); err != nil {
		t.Fatal(err)
	}
	w.Close()
	full := readFile(t, fs, segPath(o, 1))
	starts := blockStarts(t, full)
	if len(starts) != 3 {
		t.Fatalf("want 2 blocks (one command, one transaction), got boundaries %v", starts)
	}
	for cut := int(starts[1]); cut <= len(full); cut++ {
		c := fs.CrashClone()
		writeFile(t, c, segPath(o, 1), full[:cut])
		got, _ := mustReplay(t, o.withFS(c), Pos{})
		want := []rec{before}
		if cut == len(full) {
			want = append(want, tx...)
		}
		sameRecs(t, got, want)
	}
	w = mustOpen(t, o)
	defer w.Close()
	if _, err := w.AppendMulti(0, [][][]byte{{}}); err == nil {
		t.Fatal("a transaction with an empty command was accepted")
	}
}

// FuzzReplay feeds arbitrary bytes as the only segment: replay may accept,
// cut a partial tail or report corruption, but never panic, and what it
// accepts must replay again unchanged.
func FuzzReplay(f *testing.F) {
	fs, o := newMemLog(f, SyncAlways)
	writeLog(f, o, "fz", 5, func(i int) bool { return i%2 == 0 })
	valid := readFile(f, fs, segPath(o, 1))
	f.Add(valid)
	f.Add(valid[:len(valid)-3])
	f.Add([]byte("#C 00000000 0000000000000000 00000000\r\n"))
	f.Add([]byte("*1\r\n$4\r\nPING\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, o := newMemLog(t, SyncAlways)
		writeFile(t, fs, segPath(o, 1), data)
		first, rep, err := replayAll(o, Pos{})
		if err != nil {
			return
		}
		again, rep2, err := replayAll(o, Pos{})
		if err != nil || rep2.Truncated != nil || rep2.End != rep.End {
			t.Fatalf("second replay: %v, %+v after %+v", err, rep2, rep)
		}
		sameRecs(t, again, first)
	})
}

// TestWriteCutAtAPageBoundaryIsAPartialWrite: a process killed in write(2)
// keeps the pages copied so far, so the last block can end in zeros from a
// page boundary on, its checksum wrong, with reserved zeros after it. That
// is a partial write (never acknowledged), cut off like a short file; the
// same block damaged anywhere else is corruption.
func TestWriteCutAtAPageBoundaryIsAPartialWrite(t *testing.T) {
	fs, o := newMemLog(t, SyncAlways)
	value := strings.Repeat("v", 3000)
	var recs []rec
	w := mustOpen(t, o)
	for i := range 4 {
		r := rec{0, fmt.Sprintf("SET k%d %s", i, value)}
		if err := w.Wait(mustAppend(t, w, r)); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	path := segPath(o, segments(t, o)[0])
	orig := readFile(t, fs, path)
	starts := blockStarts(t, orig)
	last := starts[len(starts)-2]
	page := int64(os.Getpagesize())
	boundary := (last/page + 1) * page
	if boundary >= int64(len(orig)) {
		t.Fatalf("the last block [%d, %d) crosses no page boundary", last, len(orig))
	}

	torn := append([]byte{}, orig[:boundary]...)
	torn = append(torn, make([]byte, 1<<16)...) // the rest never written; reserved zeros
	c := fs.CrashClone()
	writeFile(t, c, path, torn)
	got, rep, err := replayAll(o.withFS(c), Pos{})
	if err != nil {
		t.Fatalf("replay of a write cut at offset %d: %v", boundary, err)
	}
	if rep.Truncated == nil || rep.Truncated.Offset != last {
		t.Fatalf("truncated %+v, want the cut at the last block, %d", rep.Truncated, last)
	}
	sameRecs(t, got, recs[:len(recs)-1])
	if size := int64(len(readFile(t, c, path))); size != last {
		t.Fatalf("segment is %d bytes after replay, want %d", size, last)
	}

	// The same zeros, but data after them: not a write cut short.
	damaged := append([]byte{}, orig...)
	clear(damaged[boundary : boundary+10])
	c = fs.CrashClone()
	writeFile(t, c, path, damaged)
	var ce *CorruptionError
	if _, _, err := replayAll(o.withFS(c), Pos{}); !errors.As(err, &ce) || ce.Offset != last {
		t.Fatalf("zeros inside the last block: got %v, want corruption at %d", err, last)
	}
}
