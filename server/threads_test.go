package server

import (
	"runtime"
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

// started returns a tuner of low and high threads that has seen a
// workload start: the first busy window, which it passes over.
func started(low, high int) *threadTuner {
	tu := newThreadTuner(low, high)
	tu.window(10000, false)
	return tu
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
	tu := started(1, 2)
	// Two windows at 1, the switch to 2 and a window straddling it, two
	// windows serving 15% more (not decisive), back to 1 for two windows
	// as before: 2 is kept.
	got := feed(tu, 10000, 10000, 11500, 11500, 11500, 10000, 10000, 10000)
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
	tu := started(1, 2)
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
	tu := started(1, 2)
	// B serves 15% more than A before it, but A after B serves as much
	// as B: the workload changed, not the count.
	got := feed(tu, 10000, 10000, 11500, 11500, 11500, 11500, 11500, 11500)
	if want := []int{1, 2, 2, 2, 1, 1, 1, 1}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
	// It is retried soon, later after each such probe in a row.
	for _, want := range []int{tuneRetryWait, 2 * tuneRetryWait, 4 * tuneRetryWait} {
		if tu.wait != want {
			t.Fatalf("wait after an inconclusive probe = %d, want %d", tu.wait, want)
		}
		waitOut(t, tu, 11500)
		feed(tu, 10000, 10000, 11500, 11500, 11500, 11500, 11500, 11500)
	}
}

func TestThreadTunerKeepsADecisiveWinAtOnce(t *testing.T) {
	tu := started(1, 2)
	// B serves 25% more than a steady A: kept without going back to A.
	got := feed(tu, 10000, 10500, 12900, 12900, 12900, 12900)
	if want := []int{1, 2, 2, 2, 2, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
	if tu.wait != tuneFirstWait-1 {
		t.Fatalf("wait after a decisive probe = %d, want %d", tu.wait, tuneFirstWait-1)
	}
	// The same gain over an A whose two windows disagree goes back to
	// A to measure it again.
	tu = started(1, 2)
	got = feed(tu, 7000, 10000, 14500, 14500, 14500, 14500, 8500, 8500)
	if want := []int{1, 2, 2, 2, 1, 1, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
}

func TestThreadTunerPassesOverAWorkloadsFirstWindow(t *testing.T) {
	// The first busy window, after idle ones, is part of a workload
	// that started during it: not a measure of A.
	tu := newThreadTuner(1, 2)
	got := feed(tu, 0, 3000, 10000, 10000)
	if want := []int{1, 1, 1, 2}; !slices.Equal(got, want) {
		t.Fatalf("threads after each window = %v, want %v", got, want)
	}
}

func TestThreadTunerPassesOverBoostedWindows(t *testing.T) {
	tu := started(1, 2)
	var got []int
	for _, w := range []struct {
		served  int64
		boosted bool
	}{
		{10000, false}, {50000, true}, {10000, false}, // A, with a boost between
		{10000, false}, {50000, true}, {11500, false}, {11500, false}, // B
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
			tu := started(1, 2)
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
				tu.window(10000, false) // the load starts again: passed over
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
	tu := started(3, 4)
	tu.reset(4)
	if n := tu.threads(); n != 4 {
		t.Fatalf("threads = %d after reset(4)", n)
	}
	if got := feed(tu, 10000, 10000); !slices.Equal(got, []int{4, 3}) {
		t.Fatalf("threads after each window = %v, want [4 3]", got)
	}
}

// wanted is the thread count the process-wide state asks for now.
func wanted() int {
	threads.Lock()
	defer threads.Unlock()
	return wantedLocked()
}

func TestFlusherThreadComesOnTopOfTheCount(t *testing.T) {
	base := baseThreads()
	held := reserveFlusherThread(true, false)
	t.Cleanup(func() { reserveFlusherThread(false, held) })
	if !held {
		t.Fatal("reserveFlusherThread(true, false) = false")
	}
	if got := wanted(); got != base+1 {
		t.Fatalf("threads wanted with the flusher's = %d, want %d", got, base+1)
	}
	// Asking again while holding it reserves nothing more.
	if held = reserveFlusherThread(true, held); !held || wanted() != base+1 {
		t.Fatalf("a second reservation by the same server changed the count to %d", wanted())
	}
	// A checkpoint's boost runs every CPU, and the flusher's thread still
	// comes on top.
	threads.Lock()
	threads.boosts++
	threads.Unlock()
	boosted := wanted()
	threads.Lock()
	threads.boosts--
	threads.Unlock()
	if want := runtime.NumCPU() + 1; boosted != want {
		t.Fatalf("threads wanted during a boost = %d, want %d", boosted, want)
	}
	if held = reserveFlusherThread(false, held); held || wanted() != base {
		t.Fatalf("after release: held %v, threads wanted %d, want %d", held, wanted(), base)
	}
}
