package crash

import (
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// TestHarnessDetectsLoss runs the crash loop against a server with
// persistence off: every restart loses everything, and the harness must
// say so. A harness that passed this would be checking nothing.
func TestHarnessDetectsLoss(t *testing.T) {
	seed := runSeed(t)
	forEachTarget(t, func(t *testing.T, tg target) {
		sc := scenario{
			fsync:   "always",
			kills:   2,
			runTime: func(*rand.Rand) time.Duration { return 100 * time.Millisecond },
			args:    volatileArgs,
		}
		_, err := runCrashes(t, tg, seed, sc)
		if err == nil || !strings.Contains(err.Error(), "acknowledged writes lost") {
			t.Fatalf("with persistence off, want an \"acknowledged writes lost\" failure, got %v", err)
		}
	})
}

// TestCheckState runs the post-restart check on states written by hand
// (no kill): each way the recovered state can be wrong is reported, and
// the accepted states reset the model.
func TestCheckState(t *testing.T) {
	forEachTarget(t, func(t *testing.T, tg target) {
		s := newServer(t, tg, volatileArgs)
		if _, err := s.start(); err != nil {
			t.Fatal(err)
		}
		c, err := dial(s.proc.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.close()
		fill := newFiller(8)
		killAt := time.Now()
		start := killAt.Add(-5 * time.Second)
		cases := []struct {
			name      string
			setup     [][]string
			lossBound time.Duration
			wantErr   string // "" accepts
		}{
			{"in bounds", [][]string{{"SET", "k:c", "4"}, {"RPUSH", "k:l", "1", "2", "3"}}, 0, ""},
			{"all acked only", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "1", "2"}}, 0, ""},
			{"all issued", [][]string{{"SET", "k:c", "5"}, {"RPUSH", "k:l", "1", "2", "3", "4"}}, 0, ""},
			{"acked counter write lost", [][]string{{"SET", "k:c", "2"}, {"RPUSH", "k:l", "1", "2"}}, 0, "k:c is 2, but 3 writes were acknowledged"},
			{"counter missing", [][]string{{"RPUSH", "k:l", "1", "2"}}, 0, "k:c is 0, but 3 writes were acknowledged"},
			{"counter beyond issued", [][]string{{"SET", "k:c", "6"}, {"RPUSH", "k:l", "1", "2"}}, 0, "k:c is 6, but only 5 writes were issued"},
			{"acked push lost", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "1"}}, 0, "k:l is 1, but 2 writes were acknowledged"},
			{"gap", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "1", "3"}}, 0, "not a prefix"},
			{"duplicate", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "1", "2", "2"}}, 0, "not a prefix"},
			{"reordered", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "2", "1", "3"}}, 0, "not a prefix"},
			{"list beyond issued", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "1", "2", "3", "4", "5"}}, 0, "k:l is 5, but only 4 writes were issued"},
			{"filler changed", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "1", "2"}, {"SET", fill.keys[5], "x"}}, 0, "filler key " + fill.keys[5]},
			{"filler lost", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "1", "2"}, {"DEL", fill.keys[0]}}, 0, "filler key " + fill.keys[0]},
			{"stray key", [][]string{{"SET", "k:c", "3"}, {"RPUSH", "k:l", "1", "2"}, {"SET", "stray", "1"}}, 0, "DBSIZE is"},
			// everysec: the counter's writes 1..3 were acknowledged 3 s,
			// 2 s and 0.5 s before the kill; the list's 1..2 at 4 s and
			// 1 s.
			{"everysec: recent write lost", [][]string{{"SET", "k:c", "2"}, {"RPUSH", "k:l", "1"}}, everysecBound, ""},
			{"everysec: old write lost", [][]string{{"SET", "k:c", "1"}, {"RPUSH", "k:l", "1", "2"}}, everysecBound, "k:c is 1, but 3 writes were acknowledged (2 needed"},
			{"everysec: old push lost", [][]string{{"SET", "k:c", "3"}}, everysecBound, "k:l is 0, but 2 writes were acknowledged (1 needed"},
		}
		for _, tc := range cases {
			if _, err := c.doOK("FLUSHALL"); err != nil {
				t.Fatal(err)
			}
			if err := fill.write(c); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range tc.setup {
				if _, err := c.doOK(cmd...); err != nil {
					t.Fatal(err)
				}
			}
			ago := func(d time.Duration) time.Time { return killAt.Add(-d) }
			counter := &keyState{name: "k:c", issued: 5, acked: 3, ackAt: []time.Time{ago(3 * time.Second), ago(2 * time.Second), ago(500 * time.Millisecond)}}
			list := &keyState{name: "k:l", list: true, issued: 4, acked: 2, ackAt: []time.Time{ago(4 * time.Second), ago(time.Second)}}
			var st stats
			err := checkState(s.proc.Addr, []*keyState{counter, list}, fill, tc.lossBound, killAt, start, &st)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("%s: %v", tc.name, err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.wantErr)
			}
			if tc.name == "everysec: recent write lost" && st.worstLoss != time.Second {
				// The counter lost its write acknowledged 0.5 s before
				// the kill, the list its write of 1 s before: the older
				// one is the loss window.
				t.Errorf("%s: worst loss %v, want 1s", tc.name, st.worstLoss)
			}
			if tc.name == "in bounds" && (counter.base != 4 || counter.issued != 4 || counter.acked != 4 || len(counter.ackAt) != 0 || list.base != 3) {
				t.Errorf("%s: the model did not reset to the state read: counter %+v, list %+v", tc.name, *counter, *list)
			}
		}
	})
}
