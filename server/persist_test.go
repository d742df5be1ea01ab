package server

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/internal/vfs"
	"github.com/structd/structd/memtier"
)

// Persistence through the whole server: what a client wrote is what a
// restart on the same directory serves (invariants 1-4), whether it comes
// from the checkpoint, the AOF tail, or both.

// persistentServer starts a server on dir with the given directives.
func persistentServer(t *testing.T, dir string, opts Options, directives ...string) (*Server, error) {
	t.Helper()
	cfg := config.Default()
	cfg.Port = 0
	cfg.Dir = dir
	if err := cfg.ParseFile(strings.Join(directives, "\n")); err != nil {
		t.Fatal(err)
	}
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	s, err := New(cfg, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, nil
}

// clockedServer is mustPersistentServer on a manual clock, returned.
func clockedServer(t *testing.T, dir string, directives ...string) (*Server, *memtier.ManualClock) {
	t.Helper()
	clock := memtier.NewManualClock(1_700_000_000_000)
	s, err := persistentServer(t, dir, Options{Clock: clock}, directives...)
	if err != nil {
		t.Fatal(err)
	}
	return s, clock
}

func mustPersistentServer(t *testing.T, dir string, directives ...string) *Server {
	t.Helper()
	s, err := persistentServer(t, dir, Options{}, directives...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dumpState renders every key of every database with its type, content,
// encoding and absolute expiry, sorted: two servers with the same dump hold
// the same data.
func dumpState(t *testing.T, c *conn) string {
	t.Helper()
	var lines []string
	for db := range 16 {
		c.expect("+OK", "SELECT", strconv.Itoa(db))
		keys := strings.Fields(flat(c.sendRead("KEYS", "*")))
		for _, k := range keys {
			typ := flat(c.sendRead("TYPE", k))
			var content string
			switch typ {
			case "string":
				content = flat(c.sendRead("GET", k))
			case "list":
				content = flat(c.sendRead("LRANGE", k, "0", "-1"))
			case "hash":
				content = sortedWords(flat(c.sendRead("HGETALL", k)), 2)
			case "set":
				content = sortedWords(flat(c.sendRead("SMEMBERS", k)), 1)
			case "zset":
				content = flat(c.sendRead("ZRANGE", k, "0", "-1", "WITHSCORES"))
			}
			lines = append(lines, strings.Join([]string{strconv.Itoa(db), k, typ, content,
				flat(c.sendRead("OBJECT", "ENCODING", k)), flat(c.sendRead("PEXPIRETIME", k))}, " | "))
		}
	}
	c.expect("+OK", "SELECT", "0")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// sendRead sends a command and returns its reply.
func (c *conn) sendRead(args ...string) resp.Value {
	c.t.Helper()
	c.send(args...)
	return c.read()
}

// sortedWords sorts the words of s in groups of n (field-value pairs).
func sortedWords(s string, n int) string {
	w := strings.Fields(s)
	var groups []string
	for i := 0; i+n <= len(w); i += n {
		groups = append(groups, strings.Join(w[i:i+n], " "))
	}
	slices.Sort(groups)
	return strings.Join(groups, " ")
}

// writeEveryType writes keys of every type, with and without TTLs, across
// databases, including the commands whose effects are not their argv.
func writeEveryType(t *testing.T, c *conn, tag string) {
	t.Helper()
	for _, cmd := range [][]string{
		{"SET", "s" + tag, "hello"},
		{"SET", "n" + tag, "10"},
		{"INCRBY", "n" + tag, "5"},
		{"INCRBYFLOAT", "f" + tag, "1.5"},
		{"SET", "ttl" + tag, "v", "EX", "1000"},
		{"EXPIRE", "n" + tag, "5000"},
		{"RPUSH", "l" + tag, "a", "b", "c", "d"},
		{"LPOP", "l" + tag},
		{"HSET", "h" + tag, "f1", "v1", "f2", "v2"},
		{"HINCRBYFLOAT", "h" + tag, "f3", "2.5"},
		{"SADD", "set" + tag, "1", "2", "3", "x"},
		{"SREM", "set" + tag, "x"},
		{"ZADD", "z" + tag, "1", "a", "2.5", "b", "-1", "c"},
		{"ZINCRBY", "z" + tag, "10", "a"},
		{"SELECT", "3"},
		{"SET", "db3" + tag, "three"},
		{"MOVE", "db3" + tag, "4"},
		{"SELECT", "0"},
		{"SET", "gone" + tag, "x"},
		{"DEL", "gone" + tag},
	} {
		if r := show(c.sendRead(cmd...)); strings.HasPrefix(r, "-") {
			t.Fatalf("%v: %s", cmd, r)
		}
	}
}

// TestRestartKeepsEverything writes, checkpoints, writes more (the AOF
// tail), restarts, and requires the same data; then once more after a
// SWAPDB and a FLUSHDB.
func TestRestartKeepsEverything(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`)
	c := dial(t, s)
	writeEveryType(t, c, "1")
	c.expect("+OK", "SAVE")
	writeEveryType(t, c, "2")
	c.expect("+OK", "SWAPDB", "0", "4")
	c.expect("+OK", "SELECT", "5")
	c.expect("+OK", "SET", "doomed", "1")
	c.expect("+OK", "FLUSHDB")
	c.expect("+OK", "SELECT", "0")
	want := dumpState(t, c)
	s.Close()

	s2 := mustPersistentServer(t, dir, `save ""`)
	c2 := dial(t, s2)
	if got := dumpState(t, c2); got != want {
		t.Fatalf("after restart:\n%s\nwant:\n%s", got, want)
	}
	// Everything again from a checkpoint alone, with no AOF tail.
	c2.expect("+OK", "SAVE")
	c2.expect("+OK", "FLUSHALL")
	c2.expect("+OK", "SET", "after", "flushall")
	want = dumpState(t, c2)
	s2.Close()
	s3 := mustPersistentServer(t, dir, `save ""`)
	if got := dumpState(t, dial(t, s3)); got != want {
		t.Fatalf("after FLUSHALL and restart:\n%s\nwant:\n%s", got, want)
	}
}

// TestColdStart checks that after a restart DBSIZE, SCAN, KEYS, INFO
// keyspace and LASTSAVE are right before any value is loaded, that TTL and
// DEL leave a cold value on disk, and that values fault in on first access.
func TestColdStart(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`)
	c := dial(t, s)
	for i := range 500 {
		if i%5 == 0 {
			c.expect("+OK", "SET", "key:"+strconv.Itoa(i), "v"+strconv.Itoa(i), "EX", "3600")
		} else {
			c.expect("+OK", "SET", "key:"+strconv.Itoa(i), "v"+strconv.Itoa(i))
		}
	}
	c.expect("+OK", "SAVE")
	lastsave := show(c.sendRead("LASTSAVE"))
	s.Close()

	s2 := mustPersistentServer(t, dir, `save ""`)
	c2 := dial(t, s2)
	if got := infoField(t, c2, "cold_keys"); got != "500" {
		t.Fatalf("cold_keys after restart = %s, want 500", got)
	}
	c2.expect(":500", "DBSIZE")
	if got := infoField(t, c2, "db0"); got != "keys=500,expires=100,avg_ttl=0" {
		t.Fatalf("INFO keyspace after restart: db0:%s, want 500 keys, 100 with a TTL", got)
	}
	c2.expect(lastsave, "LASTSAVE")
	keys := map[string]bool{}
	cursor := "0"
	for {
		v := c2.sendRead("SCAN", cursor, "COUNT", "50")
		cursor = string(v.Elems[0].Str)
		for _, e := range v.Elems[1].Elems {
			keys[string(e.Str)] = true
		}
		if cursor == "0" {
			break
		}
	}
	if len(keys) != 500 {
		t.Fatalf("SCAN found %d keys, want 500", len(keys))
	}
	if got := infoField(t, c2, "cold_keys"); got != "500" {
		t.Fatalf("cold_keys after SCAN = %s: SCAN loaded values", got)
	}
	c2.expect("$v123", "GET", "key:123")
	if got := infoField(t, c2, "cold_keys"); got != "499" {
		t.Fatalf("cold_keys after one GET = %s, want 499", got)
	}
	if ttl := c2.sendRead("TTL", "key:5"); ttl.Int <= 0 || ttl.Int > 3600 {
		t.Fatalf("TTL of a cold key = %s, want 1..3600", show(ttl))
	}
	c2.expect(":1", "DEL", "key:7")
	c2.expect(":1", "DEL", "key:10")
	if got := infoField(t, c2, "cold_keys"); got != "497" {
		t.Fatalf("cold_keys after TTL and two DELs = %s, want 497 (none loaded)", got)
	}
	c2.expect("(nil)", "GET", "key:7")
	c2.expect(":498", "DBSIZE")
	if got := infoField(t, c2, "db0"); got != "keys=498,expires=99,avg_ttl=0" {
		t.Fatalf("INFO keyspace after the DELs: db0:%s, want 498 keys, 99 with a TTL", got)
	}
}

// infoField reads one field of INFO.
func infoField(t *testing.T, c *conn, name string) string {
	t.Helper()
	for _, line := range strings.Split(c.do("INFO", "everything"), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	t.Fatalf("INFO has no %s", name)
	return ""
}

// TestCorruptAOFStopsStartup flips a byte in the AOF tail: startup fails
// with an error naming the segment and offset and the repair command.
func TestCorruptAOFStopsStartup(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`)
	c := dial(t, s)
	for i := range 20 {
		c.expect("+OK", "SET", "k"+strconv.Itoa(i), strings.Repeat("v", 100))
	}
	s.Close()
	segs, _ := filepath.Glob(filepath.Join(dir, "appendonlydir", "appendonly.aof.*"))
	if len(segs) == 0 {
		t.Fatal("no AOF segment written")
	}
	slices.Sort(segs)
	seg := segs[0]
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x20
	if err := os.WriteFile(seg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = persistentServer(t, dir, Options{}, `save ""`)
	if err == nil {
		t.Fatal("a server started on a corrupt AOF")
	}
	for _, want := range []string{filepath.Base(seg), "offset", "check-aof --fix"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("startup error %q does not mention %q", err, want)
		}
	}
}

// TestCorruptSSTIsNotServed flips bytes in the checkpoint's data file: a
// read that needs the damaged block gets an error, never a wrong value.
func TestCorruptSSTIsNotServed(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, "save 3600 1", "appendonly no")
	c := dial(t, s)
	// Values that do not compress, so the biggest table is one of the
	// checkpoint's data files (there is one per part), not the one of
	// slot counts.
	val := func(i int) string {
		h := sha256.Sum256([]byte(strconv.Itoa(i)))
		return strings.Repeat(hex.EncodeToString(h[:]), 3) + strconv.Itoa(i)
	}
	for i := range 2000 {
		c.expect("+OK", "SET", "k"+strconv.Itoa(i), val(i))
	}
	c.expect("+OK", "SAVE")
	s.Close()
	ssts, _ := filepath.Glob(filepath.Join(dir, "store", "*.sst"))
	var biggest string
	var size int64
	for _, f := range ssts {
		if st, err := os.Stat(f); err == nil && st.Size() > size {
			biggest, size = f, st.Size()
		}
	}
	b, err := os.ReadFile(biggest)
	if err != nil {
		t.Fatal(err)
	}
	for off := len(b) / 8; off < len(b)/2; off += len(b) / 16 {
		b[off] ^= 0xff
	}
	if err := os.WriteFile(biggest, b, 0o644); err != nil {
		t.Fatal(err)
	}
	s2 := mustPersistentServer(t, dir, "save 3600 1", "appendonly no")
	c2 := dial(t, s2)
	errs := 0
	for i := range 2000 {
		v := c2.sendRead("GET", "k"+strconv.Itoa(i))
		switch {
		case v.Kind == resp.KindError:
			if !strings.Contains(string(v.Str), "disk tier read") {
				t.Fatalf("GET k%d: unexpected error %q", i, v.Str)
			}
			errs++
		case string(v.Str) != val(i):
			t.Fatalf("GET k%d served a wrong value %q", i, v.Str)
		}
	}
	if errs == 0 {
		t.Fatal("no read noticed the corruption")
	}
	if s2.HandlerPanics() != 0 {
		t.Fatal("a handler panicked")
	}
}

// TestFailedFsyncRefusesWrites makes the AOF's fsync fail under
// appendfsync always: the write in flight is not acknowledged (its
// connection closes) and later writes get MISCONF, reads still work.
func TestFailedFsyncRefusesWrites(t *testing.T) {
	fs := vfs.NewMem()
	s, err := persistentServer(t, t.TempDir(), Options{AOFFS: fs}, `save ""`, "appendfsync always")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	c.expect("+OK", "SET", "a", "1")
	fs.FailNext(vfs.OpSync, 1, nil)
	c.send("SET", "b", "2")
	c.expectClosed()
	c2 := dial(t, s)
	r := show(c2.sendRead("SET", "c", "3"))
	if !strings.HasPrefix(r, "-MISCONF Errors writing to the AOF file") {
		t.Fatalf("write after a failed fsync: %q", r)
	}
	c2.expect("$1", "GET", "a")
	if got := infoField(t, c2, "aof_last_write_status"); got != "err" {
		t.Fatalf("aof_last_write_status = %s", got)
	}
}

// TestAcknowledgedWritesSurvivePowerLoss runs appendfsync always on a
// file system that forgets every unsynced byte and name at a crash: every
// write acknowledged before the crash is there after it.
func TestAcknowledgedWritesSurvivePowerLoss(t *testing.T) {
	dir := t.TempDir()
	fs := vfs.NewMem()
	s, err := persistentServer(t, dir, Options{AOFFS: fs}, `save ""`, "appendfsync always")
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s)
	for i := range 200 {
		c.expect(":"+strconv.Itoa(i+1), "INCR", "counter")
		c.expect(":"+strconv.Itoa(i+1), "RPUSH", "list", strconv.Itoa(i))
	}
	crashed := fs.CrashClone() // power loss now: only what was synced
	s.Close()

	s2, err := persistentServer(t, dir, Options{AOFFS: crashed}, `save ""`, "appendfsync always")
	if err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, s2)
	c2.expect("$200", "GET", "counter")
	c2.expect(":200", "LLEN", "list")
	c2.expect("$199", "LINDEX", "list", "-1")
}

// TestConfigSetAppendOnly turns the AOF off and on at run time: off, writes
// are not logged (a restart keeps only the last checkpoint); on again, a
// new AOF starts with a checkpoint and logs again.
func TestConfigSetAppendOnly(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`)
	c := dial(t, s)
	c.expect("+OK", "SET", "a", "1")
	c.expect("+OK", "CONFIG", "SET", "appendonly", "no")
	if got := infoField(t, c, "aof_enabled"); got != "0" {
		t.Fatalf("aof_enabled = %s after CONFIG SET appendonly no", got)
	}
	c.expect("+OK", "SET", "b", "2")
	c.expect("+OK", "CONFIG", "SET", "appendonly", "yes")
	if got := infoField(t, c, "aof_enabled"); got != "1" {
		t.Fatalf("aof_enabled = %s after CONFIG SET appendonly yes", got)
	}
	// Turning it on checkpoints in the background: wait for it.
	for infoField(t, c, "rdb_bgsave_in_progress") == "1" || infoField(t, c, "rdb_saves") == "0" {
		time.Sleep(time.Millisecond)
	}
	c.expect("+OK", "SET", "c", "3")
	c.expect("+OK", "CONFIG", "SET", "appendfsync", "always")
	c.expect("+OK", "SET", "d", "4")
	s.Close()
	s2 := mustPersistentServer(t, dir, `save ""`)
	c2 := dial(t, s2)
	for k, v := range map[string]string{"a": "1", "b": "2", "c": "3", "d": "4"} {
		c2.expect("$"+v, "GET", k)
	}
}

// TestBigCollectionCheckpointsWhatChanged checks that a checkpoint after a
// change to a few fields of a big hash, set or sorted set writes those
// elements, not the collection, and that a restart sees the change.
func TestBigCollectionCheckpointsWhatChanged(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`)
	c := dial(t, s)
	const n = 5000
	for i := 0; i < n; i += 500 {
		hset, sadd, zadd := []string{"HSET", "h"}, []string{"SADD", "s"}, []string{"ZADD", "z"}
		for j := i; j < i+500; j++ {
			f := "field:" + strconv.Itoa(j)
			hset = append(hset, f, strings.Repeat("v", 20))
			sadd = append(sadd, f)
			zadd = append(zadd, strconv.Itoa(j), f)
		}
		c.do(hset...)
		c.do(sadd...)
		c.do(zadd...)
	}
	c.expect("+OK", "SAVE")
	full, _ := strconv.Atoi(infoField(t, c, "checkpoint_last_bytes"))
	c.expect(":0", "HSET", "h", "field:7", "changed")
	c.expect(":1", "HDEL", "h", "field:8")
	c.expect(":1", "SREM", "s", "field:9")
	c.expect(":1", "SADD", "s", "new")
	c.expect(":1", "ZADD", "z", "0.5", "new")
	c.expect("$-3", "ZINCRBY", "z", "-5", "field:2")
	c.expect("+OK", "SAVE")
	incr, _ := strconv.Atoi(infoField(t, c, "checkpoint_last_bytes"))
	t.Logf("full checkpoint %d bytes, after 6 element changes %d bytes", full, incr)
	if incr*20 > full {
		t.Errorf("a checkpoint of 6 changed elements wrote %d bytes; the collections took %d", incr, full)
	}
	want := dumpState(t, c)
	s.Close()
	s2 := mustPersistentServer(t, dir, `save ""`)
	if got := dumpState(t, dial(t, s2)); got != want {
		t.Fatal("state after restart differs from before")
	}
}

// TestReplayExpiresNothing replays an AOF after the deadline of a key that
// was changed in place before it expired: the replay must rebuild the key
// with its TTL (which then expires it), not let it expire mid-replay and
// recreate it without one.
func TestReplayExpiresNothing(t *testing.T) {
	dir := t.TempDir()
	s, clock := clockedServer(t, dir, `save ""`)
	c := dial(t, s)
	c.expect("+OK", "SET", "k", "v", "PX", "100")
	clock.Advance(50 * time.Millisecond)
	c.expect(":2", "APPEND", "k", "x")
	c.expect("+OK", "SET", "kept", "1", "PX", "100000")
	s.Close()
	clock.Advance(time.Second)
	s2, err := persistentServer(t, dir, Options{Clock: clock}, `save ""`)
	if err != nil {
		t.Fatal(err)
	}
	c2 := dial(t, s2)
	c2.expect("(nil)", "GET", "k")
	c2.expect("$1", "GET", "kept")
	c2.expect(":1700000100050", "PEXPIRETIME", "kept")
}

// TestAppendOnlyAfterCheckpointOnlyStart checks a start with the AOF on
// over a checkpoint taken with it off (so the checkpoint names no log
// position): what is written after that start survives every later
// restart, not only the first (each start used to take the new segments
// for ones older than the checkpoint and drop them).
func TestAppendOnlyAfterCheckpointOnlyStart(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, "appendonly no", "save 3600 1")
	dial(t, s).expect("+OK", "SET", "a", "1")
	s.Close() // checkpoints: a save point is set
	for i := range 3 {
		s = mustPersistentServer(t, dir, "appendonly yes", `save ""`)
		c := dial(t, s)
		c.expect("$1", "GET", "a")
		for j := range i {
			c.expect("$1", "GET", "b"+strconv.Itoa(j))
		}
		c.expect("+OK", "SET", "b"+strconv.Itoa(i), "1")
		s.Close()
	}
}

// TestAOFGrowthCheckpoints checks auto-aof-rewrite-*: once the AOF since
// the last checkpoint is past the minimum size and the percentage of the
// store's size, a checkpoint runs, after which INFO reports the store's
// size as aof_base_size and aof_current_size counts from it.
func TestAOFGrowthCheckpoints(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`, "auto-aof-rewrite-min-size 64kb", "auto-aof-rewrite-percentage 100")
	c := dial(t, s)
	value := strings.Repeat("v", 1000)
	for i := range 200 { // 200 KB of AOF: past the minimum and the empty store's size
		c.expect("+OK", "SET", "k"+strconv.Itoa(i), value)
	}
	deadline := time.Now().Add(30 * time.Second)
	for infoField(t, c, "aof_rewrites") == "0" {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint 30 s after the AOF grew past auto-aof-rewrite-min-size (aof_current_size %s, aof_base_size %s)",
				infoField(t, c, "aof_current_size"), infoField(t, c, "aof_base_size"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	base, _ := strconv.ParseInt(infoField(t, c, "aof_base_size"), 10, 64)
	current, _ := strconv.ParseInt(infoField(t, c, "aof_current_size"), 10, 64)
	// The base is the store's logical size: at least the values written,
	// which compress to a few KB on disk.
	if base < 200*1000 || current < base {
		t.Fatalf("after the checkpoint aof_base_size is %d and aof_current_size %d: want the store's logical size (over 200000) and at least that", base, current)
	}
}

// TestRepliesLeaveAfterTheirFsync: under appendfsync always a write's
// reply is sent by the log's flusher after the fsync that covers it, and
// nothing the client asks later overtakes it: not a GET, not the
// confirmation of a SUBSCRIBE (after which output is asynchronous), and a
// client that half-closes its connection right after a write still gets
// the reply.
func TestRepliesLeaveAfterTheirFsync(t *testing.T) {
	fs := vfs.NewMem()
	s, err := persistentServer(t, t.TempDir(), Options{AOFFS: fs}, `save ""`, "appendfsync always")
	if err != nil {
		t.Fatal(err)
	}
	// holdSyncs makes the next fsync wait until release is called (or the
	// test ends), and returns once the flusher is in it.
	holdSyncs := func(send func()) (release func()) {
		syncing, gate := make(chan struct{}, 1), make(chan struct{})
		fs.SetHook(vfs.OpSync, func(string) {
			syncing <- struct{}{}
			<-gate
		})
		release = sync.OnceFunc(func() {
			fs.SetHook(vfs.OpSync, nil)
			close(gate)
		})
		t.Cleanup(release) // before the server closes, which syncs
		send()
		<-syncing
		return release
	}
	noReplyYet := func(c *conn) {
		t.Helper()
		c.nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := c.br.Peek(1); err == nil {
			t.Fatal("a reply arrived before the fsync of the write it follows returned")
		}
	}

	c := dial(t, s)
	release := holdSyncs(func() { c.send("SET", "a", "1") })
	c.send("GET", "a")
	noReplyYet(c)
	release()
	c.expectReply("+OK")
	c.expectReply("$1")

	release = holdSyncs(func() { c.send("SET", "b", "2") })
	c.send("SUBSCRIBE", "ch")
	noReplyYet(c)
	release()
	c.expectReply("+OK")
	if got := c.readFlat(); got != "subscribe ch 1" {
		t.Fatalf("SUBSCRIBE after a deferred SET: got %q", got)
	}

	h := dial(t, s)
	release = holdSyncs(func() {
		h.send("SET", "c", "3")
		h.nc.(*net.TCPConn).CloseWrite()
	})
	time.Sleep(20 * time.Millisecond) // let the server read the end of input (if it does not yet, the test only checks less)
	release()
	h.expectReply("+OK")
	h.expectClosed()
}
