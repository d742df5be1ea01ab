package server

import (
	"strconv"
	"testing"
	"time"
)

// TestWarmUpLoadsEveryKey restarts with `warmup yes` on a checkpoint
// spread over every slot of two databases, plus an AOF tail that deletes
// and rewrites checkpointed keys: the parallel warm-up brings every cold
// key into memory without a client asking (cold_keys reaches 0 with no
// read), resurrects no deleted key, and the data is what was written.
func TestWarmUpLoadsEveryKey(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`)
	c := dial(t, s)
	writeEveryType(t, c, "1")
	for i := range 3000 {
		c.expect("+OK", "SET", "key:"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	c.expect("+OK", "SELECT", "9")
	for i := range 500 {
		c.expect("+OK", "SET", "nine:"+strconv.Itoa(i), strconv.Itoa(i))
	}
	c.expect("+OK", "SELECT", "0")
	c.expect("+OK", "SAVE")
	// The AOF tail: deletions and rewrites of checkpointed keys.
	for i := 0; i < 3000; i += 7 {
		c.expect(":1", "DEL", "key:"+strconv.Itoa(i))
	}
	c.expect("+OK", "SET", "key:1", "rewritten")
	want, size := dumpState(t, c), show(c.sendRead("DBSIZE"))
	s.Close()

	s2 := mustPersistentServer(t, dir, `save ""`, "warmup yes")
	c2 := dial(t, s2)
	deadline := time.Now().Add(30 * time.Second)
	for infoField(t, c2, "cold_keys") != "0" || infoField(t, c2, "warmup_in_progress") != "0" {
		if time.Now().After(deadline) {
			t.Fatalf("warm-up not done after 30 s: cold_keys %s, warmup_in_progress %s",
				infoField(t, c2, "cold_keys"), infoField(t, c2, "warmup_in_progress"))
		}
		time.Sleep(5 * time.Millisecond)
	}
	c2.expect(size, "DBSIZE")
	if got := dumpState(t, c2); got != want {
		t.Fatalf("after warm-up:\n%.2000s\nwant:\n%.2000s", got, want)
	}
}
