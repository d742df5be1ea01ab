package commands

import (
	"strconv"
	"testing"
)

// The log keeps the newest slowlog-max-len entries as the limit changes,
// however Add lays them out.
func TestSlowLogKeepsTheNewest(t *testing.T) {
	var l SlowLog
	cmd := &Command{Name: "set"}
	add := func(maxLen int) {
		l.Add(cmd, [][]byte{[]byte("SET"), []byte("k"), []byte(strconv.FormatInt(l.nextID, 10))}, 1, "a:1", "", maxLen)
	}
	check := func(wantLen int, newestID int64) {
		t.Helper()
		got := l.Newest(-1)
		if l.Len() != wantLen || len(got) != wantLen {
			t.Fatalf("Len %d, Newest(-1) has %d; want %d", l.Len(), len(got), wantLen)
		}
		for i, e := range got {
			if e.ID != newestID-int64(i) || e.Args[2] != strconv.FormatInt(e.ID, 10) {
				t.Fatalf("entry %d: %+v, want ID %d", i, e, newestID-int64(i))
			}
		}
	}
	for range 10 {
		add(4)
	}
	check(4, 9)
	if got := l.Newest(2); len(got) != 2 || got[0].ID != 9 || got[1].ID != 8 {
		t.Fatalf("Newest(2) = %+v", got)
	}
	add(6) // a longer limit keeps what is left and grows from there
	check(5, 10)
	for range 3 {
		add(6)
	}
	check(6, 13)
	add(0)
	check(0, 14)
	add(3)
	check(1, 15)
	l.Reset()
	check(0, 0)
}
