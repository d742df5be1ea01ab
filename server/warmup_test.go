package server

import (
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/structd/structd/disktier"
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

// TestHotKeysWarmFirst checks the list of hot keys a stopping server
// leaves for the next warm-up: the keys read last come first in it, and
// the warm-up's first pass loads the listed keys from disk.
func TestHotKeysWarmFirst(t *testing.T) {
	dir := t.TempDir()
	s, clock := clockedServer(t, dir, `save ""`)
	c := dial(t, s)
	for i := range 500 {
		c.expect("+OK", "SET", "key:"+strconv.Itoa(i), "v"+strconv.Itoa(i))
	}
	clock.Advance(time.Minute)
	s.ks.RefreshAccessClock()
	for i := 0; i < 500; i += 50 {
		c.expect("$"+"v"+strconv.Itoa(i), "GET", "key:"+strconv.Itoa(i))
	}
	c.expect("+OK", "SAVE")
	s.Close()

	st, err := disktier.Open(filepath.Join(dir, "store"), disktier.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hot, err := st.HotKeys()
	st.Close()
	if err != nil || len(hot) != 500 {
		t.Fatalf("hot-key record: %d keys, %v; want all 500", len(hot), err)
	}
	for _, k := range hot[:10] {
		if n, _ := strconv.Atoi(strings.TrimPrefix(k.Key, "key:")); k.DB != 0 || n%50 != 0 {
			t.Fatalf("the first ten hot keys are %v: want the ten read last", hot[:10])
		}
	}

	s2 := mustPersistentServer(t, dir, `save ""`)
	c2 := dial(t, s2)
	if got := infoField(t, c2, "cold_keys"); got != "500" {
		t.Fatalf("cold_keys after the restart: %s, want 500", got)
	}
	if !s2.persist.warmHotKeys(1 << 40) {
		t.Fatal("the hot-key pass stopped with no budget reached")
	}
	if got := infoField(t, c2, "cold_keys"); got != "0" {
		t.Fatalf("cold_keys after the hot-key pass: %s, want 0", got)
	}
	c2.expect("$v7", "GET", "key:7")
}
