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

func TestThreadTunerKeepsTheCountThatServesMore(t *testing.T) {
	tu := newThreadTuner(1, 2)
	// Two windows at 1 thread, the switch, one window straddling it, two
	// windows at 2 threads serving 50% more: 2 is kept.
	got := feed(tu, 10000, 10000, 15000, 15000, 15000)
	if want := []int{1, 2, 2, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
	if tu.wait != tuneFirstWait {
		t.Fatalf("wait after a winning probe = %d, want %d", tu.wait, tuneFirstWait)
	}
	// The next probe, after the wait, tries 1 again and loses.
	for range tu.wait {
		if n := tu.window(15000, false); n != 2 {
			t.Fatalf("threads changed to %d while waiting", n)
		}
	}
	got = feed(tu, 15000, 15000, 9000, 9000, 9000, 15000)
	if want := []int{2, 1, 1, 1, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
}

func TestThreadTunerBacksOffAfterLosingProbes(t *testing.T) {
	tu := newThreadTuner(1, 2)
	wantGap := tuneFirstWait
	for range 6 {
		// A probe: two windows at 1, the switch, a straddling window, two
		// windows at 2 no better, back to 1.
		got := feed(tu, 10000, 10000, 10000, 10200, 10200)
		if want := []int{1, 2, 2, 2, 1}; !slices.Equal(got, want) {
			t.Fatalf("threads after each window = %v, want %v", got, want)
		}
		wantGap = min(2*wantGap, tuneMaxWait)
		if tu.wait != wantGap {
			t.Fatalf("wait after a losing probe = %d, want %d", tu.wait, wantGap)
		}
		// The window straddling the way back, then the wait.
		for range 1 + tu.wait {
			if n := tu.window(10000, false); n != 1 {
				t.Fatalf("threads changed to %d while waiting", n)
			}
		}
	}
}

func TestThreadTunerPassesOverBoostedWindows(t *testing.T) {
	tu := newThreadTuner(1, 2)
	var got []int
	for _, w := range []struct {
		served  int64
		boosted bool
	}{{10000, false}, {50000, true}, {10000, false}, {10000, false}, {50000, true}, {15000, false}, {15000, false}} {
		got = append(got, tu.window(w.served, w.boosted))
	}
	if want := []int{1, 1, 2, 2, 2, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
	if tu.probing || tu.wait != tuneFirstWait {
		t.Fatalf("the probe did not end with 2 kept: probing %v, wait %d", tu.probing, tu.wait)
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
				t.Fatalf("threads = %d after a void window in a probe, want 1", n)
			}
			// Measuring starts over: two windows before the next probe.
			if got := feed(tu, 10000, 10000); !slices.Equal(got, []int{1, 2}) {
				t.Fatalf("threads after each window = %v, want [1 2]", got)
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
