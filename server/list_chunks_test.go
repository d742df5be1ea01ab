package server

import (
	"strconv"
	"testing"
)

// TestBigListCheckpointsWhatChanged is TestBigCollectionCheckpointsWhatChanged
// for a list (issue 4 item 1): a queue of 200,000 elements written by one
// checkpoint, then given an LPUSH and an RPOP, is checkpointed as its two
// changed end chunks and its metadata, not rewritten; a restart serves
// the list the model says, and a checkpoint after the restart (the list
// faulted in from its chunks) is again of the changes only.
func TestBigListCheckpointsWhatChanged(t *testing.T) {
	dir := t.TempDir()
	s := mustPersistentServer(t, dir, `save ""`)
	c := dial(t, s)
	const n = 200_000
	model := make([]string, 0, n+2)
	for i := 0; i < n; i += 1000 {
		cmd := []string{"RPUSH", "q"}
		for j := i; j < i+1000; j++ {
			v := "element:" + strconv.Itoa(j)
			cmd = append(cmd, v)
			model = append(model, v)
		}
		c.do(cmd...)
	}
	c.expect("+OK", "SAVE")
	full, _ := strconv.Atoi(infoField(t, c, "checkpoint_last_bytes"))
	c.expect(":200001", "LPUSH", "q", "head")
	c.expect("$element:199999", "RPOP", "q")
	model = append([]string{"head"}, model[:n-1]...)
	c.expect("+OK", "SAVE")
	incr, _ := strconv.Atoi(infoField(t, c, "checkpoint_last_bytes"))
	t.Logf("list of %d elements: full checkpoint %d bytes, after LPUSH+RPOP %d bytes", n, full, incr)
	if incr*50 > full {
		t.Errorf("a checkpoint after LPUSH+RPOP wrote %d bytes; the list took %d", incr, full)
	}
	s.Close()

	s2 := mustPersistentServer(t, dir, `save ""`)
	c2 := dial(t, s2)
	checkLRange(t, c2, "q", model)
	c2.expect(":1", "LREM", "q", "1", "element:100000")
	c2.expect("+OK", "LSET", "q", "5", "changed")
	c2.expect("+OK", "SAVE")
	after, _ := strconv.Atoi(infoField(t, c2, "checkpoint_last_bytes"))
	t.Logf("after a restart, LREM+LSET: %d bytes", after)
	if after*50 > full {
		t.Errorf("a checkpoint after a restart, LREM and LSET wrote %d bytes; the list took %d", after, full)
	}
	model[5] = "changed"
	for i, v := range model {
		if v == "element:100000" {
			model = append(model[:i], model[i+1:]...)
			break
		}
	}
	s2.Close()
	s3 := mustPersistentServer(t, dir, `save ""`)
	checkLRange(t, dial(t, s3), "q", model)
}

// checkLRange compares LRANGE key 0 -1 with the model.
func checkLRange(t *testing.T, c *conn, key string, model []string) {
	t.Helper()
	got := c.sendRead("LRANGE", key, "0", "-1")
	if len(got.Elems) != len(model) {
		t.Fatalf("LRANGE: %d elements, want %d", len(got.Elems), len(model))
	}
	for i, v := range got.Elems {
		if string(v.Str) != model[i] {
			t.Fatalf("LRANGE element %d = %q, want %q", i, v.Str, model[i])
		}
	}
}
