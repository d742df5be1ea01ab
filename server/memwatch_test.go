package server

import "testing"

// Keys added since the last collection count at the average size per key
// until a collection measures them; a small keyspace estimates nothing.
func TestLiveGrowthEstimate(t *testing.T) {
	const mb = 1 << 20
	g := newLiveGrowth(memSample{live: 100 * mb, gcCycles: 7}, 100_000) // 1048 bytes a key
	steps := []struct {
		live   uint64
		cycles uint64
		keys   int64
		want   uint64
	}{
		{100 * mb, 7, 100_000, 0},
		{100 * mb, 7, 110_000, 10_000 * (100 * mb / 100_000)}, // not collected yet
		{111 * mb, 8, 110_000, 11 * mb},                       // measured: the estimate steps aside
		{111 * mb, 8, 115_000, 11*mb + 5_000*(100*mb/100_000)},
		{111 * mb, 8, 90_000, 11 * mb}, // deletions: nothing below what was measured
		{99 * mb, 9, 90_000, 0},
	}
	for i, st := range steps {
		if got := g.estimate(memSample{live: st.live, gcCycles: st.cycles}, st.keys); got != st.want {
			t.Errorf("step %d: growth %d, want %d", i, got, st.want)
		}
	}
	small := newLiveGrowth(memSample{live: 50 * mb}, 100)
	if got := small.estimate(memSample{live: 50 * mb}, 5000); got != 0 {
		t.Errorf("a keyspace of 100 keys estimated %d bytes for 4900 more", got)
	}
}
