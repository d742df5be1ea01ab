package server

import (
	"crypto/sha1"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// The script catalog (function libraries, script aliases and the scripts
// they name) is data: it survives restarts through the AOF and through
// checkpoints, and a checkpoint stores it as of its point in time.

const (
	catLibA   = "#!lua name=liba\nlocal n = 0\nredis.register_function('bump', function(keys, args) n = n + 1 return redis.call('INCRBY', keys[1], args[1]) end)"
	catLibB   = "#!lua name=libb\nredis.register_function{function_name='getb', callback=function(keys) return redis.call('GET', keys[1]) end, flags={'no-writes'}, description='reads'}"
	catScript = "return CALL.inner({KEYS[1]}, {ARGV[1]})"
	catInner  = "return redis.call('SET', KEYS[1], ARGV[1])"
)

// catalogState renders the catalog as clients see it, sorted.
func catalogState(t *testing.T, c *conn) string {
	t.Helper()
	return strings.Join([]string{
		show(c.sendRead("FUNCTION", "LIST", "WITHCODE")),
		show(c.sendRead("SCRIPT", "ALIASES")),
	}, "\n")
}

// buildCatalog loads two libraries, deletes one, restores a dump of it,
// and makes aliases (one replaced, one removed); it checks they work.
func buildCatalog(t *testing.T, c *conn) {
	t.Helper()
	c.expect("$liba", "FUNCTION", "LOAD", catLibA)
	c.expect("$libb", "FUNCTION", "LOAD", catLibB)
	dump := c.do("FUNCTION", "DUMP")[1:]
	c.expect("+OK", "FUNCTION", "DELETE", "libb")
	c.expect("+OK", "FUNCTION", "RESTORE", dump, "REPLACE")
	c.expect("$"+sha1hex(catInner), "SCRIPT", "LOAD", catInner, "inner")
	c.expect("$"+sha1hex(catScript), "SCRIPT", "LOAD", catScript, "outer")
	c.expect("$"+sha1hex("return 1"), "SCRIPT", "LOAD", "return 1", "gone")
	c.expect(":1", "SCRIPT", "UNALIAS", "gone")
	c.expect("$"+sha1hex(catScript), "SCRIPT", "LOAD", catScript, "outer2", "REPLACE")
	c.expect("$"+sha1hex("return 'plain'"), "SCRIPT", "LOAD", "return 'plain'")
	checkCatalogWorks(t, c)
}

// checkCatalogWorks runs the catalog's functions and aliases; the plain
// script cache is volatile and must be empty after a restart.
func checkCatalogWorks(t *testing.T, c *conn) {
	t.Helper()
	c.expect(":5", "FCALL", "bump", "1", "n", "5")
	c.expect("$5", "FCALL_RO", "getb", "1", "n")
	c.expect("+OK", "EVALSHA", "outer", "1", "k", "v")
	c.expect("$v", "GET", "k")
	c.expect("+OK", "EVALSHA", "outer2", "1", "k", "w")
	c.expect("-NOSCRIPT No matching script. Please use EVAL.", "EVALSHA", "gone", "0")
	c.expect(":2", "DEL", "n", "k")
}

func sha1hex(s string) string { return fmt.Sprintf("%x", sha1.Sum([]byte(s))) }

func TestCatalogSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`, "appendonly yes")
	c := dial(t, s)
	buildCatalog(t, c)
	want := catalogState(t, c)
	s.Close()

	// From the AOF alone.
	s = mustPersistentServer(t, dir, `save ""`, "appendonly yes")
	c = dial(t, s)
	if got := catalogState(t, c); got != want {
		t.Fatalf("after an AOF replay:\n%s\nwant:\n%s", got, want)
	}
	checkCatalogWorks(t, c)
	c.expect("-NOSCRIPT No matching script. Please use EVAL.", "EVALSHA", sha1hex("return 'plain'"), "0")
	c.expect("+OK", "SAVE")
	s.Close()

	// From the checkpoint alone: no AOF is read.
	checkpointOnly := []string{"save 3600 1", "appendonly no"}
	s = mustPersistentServer(t, dir, checkpointOnly...)
	c = dial(t, s)
	if got := catalogState(t, c); got != want {
		t.Fatalf("after a checkpoint:\n%s\nwant:\n%s", got, want)
	}
	checkCatalogWorks(t, c)
	// FUNCTION FLUSH and UNALIAS persist through a checkpoint, which
	// stores the emptied catalog.
	c.expect("+OK", "FUNCTION", "FLUSH")
	c.expect(":3", "SCRIPT", "UNALIAS", "inner", "outer", "outer2")
	empty := catalogState(t, c)
	c.expect("+OK", "SAVE")
	s.Close()
	s = mustPersistentServer(t, dir, checkpointOnly...)
	if got := catalogState(t, dial(t, s)); got != empty {
		t.Fatalf("emptied catalog came back from the checkpoint:\n%s", got)
	}
	s.Close()

	// And through the AOF.
	dir = t.TempDir()
	s = mustPersistentServer(t, dir, `save ""`, "appendonly yes")
	c = dial(t, s)
	buildCatalog(t, c)
	c.expect("+OK", "FUNCTION", "FLUSH")
	c.expect(":3", "SCRIPT", "UNALIAS", "inner", "outer", "outer2")
	s.Close()
	s = mustPersistentServer(t, dir, `save ""`, "appendonly yes")
	if got := catalogState(t, dial(t, s)); got != empty {
		t.Fatalf("emptied catalog came back from the AOF:\n%s", got)
	}
}

// TestCatalogCheckpointIsPointInTime loads libraries between two writes,
// in one order, while a checkpoint runs, then reads the checkpoint alone:
// a library loaded before a key the checkpoint holds is in it, and one
// loaded after a key it lacks is not.
func TestCatalogCheckpointIsPointInTime(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`, "appendonly yes")
	c, admin := dial(t, s), dial(t, s)
	lib := func(i int) string {
		return fmt.Sprintf("#!lua name=l%d\nredis.register_function('f%d', function() return %d end)", i, i, i)
	}
	var stop atomic.Bool
	started := make(chan struct{})
	rounds := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; !stop.Load(); i++ {
			c.expect("+OK", "SET", fmt.Sprintf("pre%d", i), "1")
			c.expect(fmt.Sprintf("$l%d", i), "FUNCTION", "LOAD", lib(i))
			c.expect("+OK", "SET", fmt.Sprintf("post%d", i), "1")
			rounds = i + 1
			if i == 5 {
				close(started)
			}
		}
	}()
	<-started
	admin.expect("+OK", "SAVE")
	stop.Store(true)
	<-done
	s.Close()

	s = mustPersistentServer(t, dir, "save 3600 1", "appendonly no")
	c = dial(t, s)
	loaded := 0
	for i := range rounds {
		pre := c.do("EXISTS", fmt.Sprintf("pre%d", i)) == ":1"
		post := c.do("EXISTS", fmt.Sprintf("post%d", i)) == ":1"
		got := c.do("FCALL", fmt.Sprintf("f%d", i), "0")
		has := got == fmt.Sprintf(":%d", i)
		if !has && got != "-ERR Function not found" {
			t.Fatalf("FCALL f%d: %s", i, got)
		}
		if post && !has || !pre && has {
			t.Fatalf("round %d: checkpoint holds pre=%v post=%v but library loaded=%v: not one point in time", i, pre, post, has)
		}
		if has {
			loaded++
		}
	}
	if loaded < 6 {
		t.Fatalf("checkpoint holds %d of the libraries loaded before it started", loaded)
	}
	t.Logf("%d rounds, %d libraries in the checkpoint", rounds, loaded)
}
