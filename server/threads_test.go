package server

import (
	"slices"
	"testing"
)

// feed gives the tuner windows of served commands, none boosted, and
// returns the thread count after each.
func feed(t *threadTuner, served ...int64) []int {
	var got []int
	for _, n := range served {
		got = append(got, t.window(n, false))
	}
	return got
}

// waitOut feeds the windows the tuner waits before its next probe, and
// fails if the count changes meanwhile.
func waitOut(t *testing.T, tu *threadTuner, served int64) {
	t.Helper()
	n := tu.threads()
	for range tu.wait {
		if got := tu.window(served, false); got != n {
			t.Fatalf("threads changed from %d to %d while waiting", n, got)
		}
	}
}

func TestThreadTunerKeepsTheCountThatServesMore(t *testing.T) {
	tu := newThreadTuner(1, 2)
	// Two windows at 1, the switch to 2 and a window straddling it, two
	// windows serving 50% more, back to 1 for two windows as before: 2
	// is kept.
	got := feed(tu, 10000, 10000, 15000, 15000, 15000, 10000, 10000, 10000)
	if want := []int{1, 2, 2, 2, 1, 1, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
	if tu.wait != tuneFirstWait {
		t.Fatalf("wait after a winning probe = %d, want %d", tu.wait, tuneFirstWait)
	}
	// The straddling window, the wait, then a probe of 1 that loses.
	tu.window(15000, false)
	waitOut(t, tu, 15000)
	got = feed(tu, 15000, 15000, 9000, 9000, 9000, 15000, 15000, 15000)
	if want := []int{2, 1, 1, 1, 2, 2, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
}

func TestThreadTunerBacksOffAfterLosingProbes(t *testing.T) {
	tu := newThreadTuner(1, 2)
	wantGap := tuneFirstWait
	for range 6 {
		got := feed(tu, 10000, 10000, 10000, 10200, 10200, 10000, 10000, 10000)
		if want := []int{1, 2, 2, 2, 1, 1, 1, 1}; !slices.Equal(got, want) {
			t.Fatalf("threads after each window = %v, want %v", got, want)
		}
		wantGap = min(2*wantGap, tuneMaxWait)
		if tu.wait != wantGap {
			t.Fatalf("wait after a losing probe = %d, want %d", tu.wait, wantGap)
		}
		waitOut(t, tu, 10000)
	}
}

func TestThreadTunerIgnoresAProbeWhoseWorkloadChanged(t *testing.T) {
	tu := newThreadTuner(1, 2)
	// B serves 50% more than A before it, but A after B serves as much
	// as B: the workload changed, not the count.
	got := feed(tu, 10000, 10000, 15000, 15000, 15000, 15000, 15000, 15000)
	if want := []int{1, 2, 2, 2, 1, 1, 1, 1}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
	// It is retried soon, later after each such probe in a row.
	for _, want := range []int{tuneRetryWait, 2 * tuneRetryWait, 4 * tuneRetryWait} {
		if tu.wait != want {
			t.Fatalf("wait after an inconclusive probe = %d, want %d", tu.wait, want)
		}
		waitOut(t, tu, 15000)
		feed(tu, 10000, 10000, 15000, 15000, 15000, 15000, 15000, 15000)
	}
}

func TestThreadTunerPassesOverBoostedWindows(t *testing.T) {
	tu := newThreadTuner(1, 2)
	var got []int
	for _, w := range []struct {
		served  int64
		boosted bool
	}{
		{10000, false}, {50000, true}, {10000, false}, // A, with a boost between
		{10000, false}, {50000, true}, {15000, false}, {15000, false}, // B
		{10000, false}, {10000, false}, {50000, true}, {10000, false}, // A
	} {
		got = append(got, tu.window(w.served, w.boosted))
	}
	if want := []int{1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
}

func TestThreadTunerCancelsAProbeOnIdleWindows(t *testing.T) {
	for _, tc := range []struct {
		name   string
		served int64
	}{
		{"idle", tuneMinServed - 1},
		{"counter reset", -5000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tu := newThreadTuner(1, 2)
			if got := feed(tu, 10000, 10000); got[1] != 2 {
				t.Fatalf("no probe started: %v", got)
			}
			if n := tu.window(tc.served, false); n != 1 {
				t.Fatalf("threads = %d after an idle window in a probe, want 1", n)
			}
			// The next probe waits as after one that decided nothing,
			// longer each time: bursts of load shorter than a probe do
			// not each pay for one.
			for _, wait := range []int{tuneRetryWait, 2 * tuneRetryWait, 4 * tuneRetryWait, 8 * tuneRetryWait, 16 * tuneRetryWait} {
				if tu.wait != wait {
					t.Fatalf("wait after a cancelled probe = %d, want %d", tu.wait, wait)
				}
				waitOut(t, tu, 10000)
				if got := feed(tu, 10000, 10000); !slices.Equal(got, []int{1, 2}) {
					t.Fatalf("threads after each window = %v, want [1 2]", got)
				}
				if n := tu.window(tc.served, false); n != 1 {
					t.Fatalf("threads = %d after an idle window in a probe, want 1", n)
				}
			}
		})
	}
}

func TestThreadTunerResetTakesTheCountInUse(t *testing.T) {
	tu := newThreadTuner(3, 4)
	tu.reset(4)
	if n := tu.threads(); n != 4 {
		t.Fatalf("threads = %d after reset(4)", n)
	}
	if got := feed(tu, 10000, 10000); !slices.Equal(got, []int{4, 3}) {
		t.Fatalf("threads after each window = %v, want [4 3]", got)
	}
}
