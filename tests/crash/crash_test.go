package crash

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/structd/structd/internal/resp"
)

// everysecBound is how old an acknowledged write may be at the kill and
// still be lost under appendfsync everysec: about one second of writes,
// with room for a late flush.
const everysecBound = 1500 * time.Millisecond

// fillerKeys is the number of filler keys (64-byte values).
const fillerKeys = 4096

// TestCrash kills the server with SIGKILL -crash.kills times under
// appendfsync always and checks after each restart that every
// acknowledged write survived and nothing was invented (see the package
// comment).
func TestCrash(t *testing.T) {
	seed := runSeed(t)
	forEachTarget(t, func(t *testing.T, tg target) {
		short := func(rng *rand.Rand) time.Duration {
			return 20*time.Millisecond + randDuration(rng, 280*time.Millisecond)
		}
		runTime, pace := short, time.Duration(0)
		if *durationFlag > 0 {
			// Paced, so that the lists, read whole after every restart,
			// stay a few hundred thousand elements long over minutes.
			pace = 2 * time.Millisecond
			mean := *durationFlag / time.Duration(max(*killsFlag, 1))
			runTime = func(rng *rand.Rand) time.Duration {
				return mean/5 + randDuration(rng, mean*8/5)
			}
		}
		sc := scenario{
			fsync:       "always",
			kills:       *killsFlag,
			duration:    *durationFlag,
			runTime:     runTime,
			pace:        pace,
			checkpoints: true,
		}
		st, err := runCrashes(t, tg, seed, sc)
		st.report(t, tg, sc)
		if err != nil {
			t.Fatal(err)
		}
	})
}

// TestCrashEverysec kills the server -crash.everysec times under
// appendfsync everysec, each after 2-2.6 s of workload, and checks that
// no write acknowledged more than everysecBound before the kill was lost.
func TestCrashEverysec(t *testing.T) {
	seed := runSeed(t)
	forEachTarget(t, func(t *testing.T, tg target) {
		sc := scenario{
			fsync: "everysec",
			kills: *everysecFlag,
			runTime: func(rng *rand.Rand) time.Duration {
				return 2*time.Second + randDuration(rng, 600*time.Millisecond)
			},
			pace:      time.Millisecond,
			lossBound: everysecBound,
		}
		st, err := runCrashes(t, tg, seed, sc)
		st.report(t, tg, sc)
		if err != nil {
			t.Fatal(err)
		}
	})
}

// randDuration is a duration drawn uniformly from [0, d).
func randDuration(rng *rand.Rand, d time.Duration) time.Duration {
	return time.Duration(rng.Int64N(int64(max(d, 1))))
}

var (
	seedOnce sync.Once
	seedVal  uint64
)

// runSeed is -crash.seed, or one drawn from the clock for the whole test
// binary, and logs it.
func runSeed(t *testing.T) uint64 {
	seedOnce.Do(func() {
		seedVal = *seedFlag
		if seedVal == 0 {
			seedVal = uint64(time.Now().UnixNano())
		}
	})
	t.Logf("seed %d (reproduce with -crash.seed %d)", seedVal, seedVal)
	return seedVal
}

// scenario is one crash test's settings.
type scenario struct {
	fsync       string
	kills       int
	duration    time.Duration                  // stop once this has passed (0: no limit)
	runTime     func(*rand.Rand) time.Duration // workload time before each kill
	pace        time.Duration                  // each client's pause between two batches
	checkpoints bool                           // BGSAVE (or BGREWRITEAOF) before about half the kills
	lossBound   time.Duration                  // writes acknowledged this long before the kill must survive (0: every one)
	args        func(dataDir string) []string  // the server's arguments (nil: persistentArgs(fsync))
}

// stats is what a run reports.
type stats struct {
	kills, checkpointsAsked, checkpointsRefused int
	duringBgsave, duringRewrite                 int
	acks, unackedApplied, unackedLost           int64
	worstLoss                                   time.Duration // everysec: the oldest lost acknowledged write, before the kill
	slowestRestart, elapsed                     time.Duration
}

// runCrashes runs the workload, kills and restarts the server sc.kills
// times, and checks the state after each restart. An error names the
// server, the seed, the kill and what differed, with the server's output.
func runCrashes(t *testing.T, tg target, seed uint64, sc scenario) (stats, error) {
	var st stats
	rng := rand.New(rand.NewPCG(seed, 1))
	args := sc.args
	if args == nil {
		args = persistentArgs(sc.fsync)
	}
	s := newServer(t, tg, args)
	kill := 0
	fail := func(format string, args ...any) (stats, error) {
		return st, fmt.Errorf("%s, appendfsync %s, seed %d, kill %d: %s\n%s", tg.name, sc.fsync, seed, kill, fmt.Sprintf(format, args...), s.logTail())
	}
	if _, err := s.start(); err != nil {
		return st, err
	}
	fill := newFiller(fillerKeys)
	ctl, err := dial(s.proc.Addr)
	if err != nil {
		return st, err
	}
	err = fill.write(ctl)
	ctl.close()
	if err != nil {
		return fail("writing the filler keys: %v", err)
	}
	clients := newClients(seed)
	var keys []*keyState
	for _, cl := range clients {
		cl.trackTimes, cl.pace = sc.lossBound > 0, sc.pace
		keys = append(keys, cl.keys...)
	}
	begin := time.Now()
	for kill = 1; kill <= sc.kills; kill++ {
		if sc.duration > 0 && time.Since(begin) > sc.duration {
			break
		}
		start := time.Now()
		killAt, p, err := runUntilKill(s, clients, fill, rng, sc, &st)
		if err != nil {
			return fail("%v", err)
		}
		st.kills++
		if p.bgsave {
			st.duringBgsave++
		}
		if p.aofRewrite {
			st.duringRewrite++
		}
		for i, cl := range clients {
			st.acks += int64(cl.acks)
			if cl.violation != nil {
				return fail("client %d: %v", i, cl.violation)
			}
			// A client returns on its connection's end, or on stop
			// (closed after the kill) between two batches.
			if cl.endErr != nil && (cl.endAt.Before(killAt) || !isConnEnd(cl.endErr)) {
				return fail("client %d: its connection ended with %v at %v, before the kill at %v", i, cl.endErr, cl.endAt.Format(time.StampMicro), killAt.Format(time.StampMicro))
			}
		}
		restart, err := s.start()
		if err != nil {
			return fail("restart: %v", err)
		}
		st.slowestRestart = max(st.slowestRestart, restart)
		if err := checkState(s.proc.Addr, keys, fill, sc.lossBound, killAt, start, &st); err != nil {
			return fail("after the restart: %v", err)
		}
	}
	st.elapsed = time.Since(begin)
	if st.kills == 0 {
		return st, fmt.Errorf("%s: no kill happened", tg.name)
	}
	return st, nil
}

// report logs a run's statistics.
func (st stats) report(t *testing.T, tg target, sc scenario) {
	t.Helper()
	t.Logf("%s, appendfsync %s: %d kills in %v, %d while rdb_bgsave_in_progress:1 and %d while aof_rewrite_in_progress:1 (%d checkpoints asked, %d refused); %d writes acknowledged; unacknowledged writes: %d applied, %d lost; slowest restart to serving %v",
		tg.name, sc.fsync, st.kills, st.elapsed.Round(time.Millisecond), st.duringBgsave, st.duringRewrite, st.checkpointsAsked, st.checkpointsRefused,
		st.acks, st.unackedApplied, st.unackedLost, st.slowestRestart.Round(time.Millisecond))
	if sc.lossBound > 0 {
		t.Logf("%s, appendfsync %s: worst loss window %v before the kill (bound %v)", tg.name, sc.fsync, st.worstLoss.Round(time.Millisecond), sc.lossBound)
	}
}

// runUntilKill runs the clients for a drawn time, maybe asks for a
// checkpoint (rewriting fill first), reads INFO persistence and kills the
// server. It returns the moment of the kill and what INFO said just
// before. The clients have returned when it does.
func runUntilKill(s *server, clients []*client, fill filler, rng *rand.Rand, sc scenario, st *stats) (time.Time, persistence, error) {
	ctl, err := dial(s.proc.Addr)
	if err != nil {
		return time.Time{}, persistence{}, err
	}
	defer ctl.close()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, cl := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl.run(s.proc.Addr, stop)
		}()
	}
	killNow := func() (time.Time, error) {
		at := time.Now()
		err := s.kill()
		close(stop)
		wg.Wait()
		return at, err
	}
	time.Sleep(sc.runTime(rng))
	var p persistence
	if sc.checkpoints && rng.IntN(2) == 0 {
		p, err = askCheckpoint(ctl, rng, fill, st)
	} else {
		p, err = ctl.infoPersistence()
	}
	at, kerr := killNow()
	if err != nil {
		return at, p, fmt.Errorf("the server stopped answering before the kill: %w", err)
	}
	if kerr != nil {
		return at, p, fmt.Errorf("SIGKILL: %w", kerr)
	}
	return at, p, nil
}

// askCheckpoint rewrites the filler keys (same values: the expected state
// does not change, but the next checkpoint has them to write), asks for a
// BGSAVE (one time in four a BGREWRITEAOF), then polls INFO persistence
// until it shows the checkpoint running or 20 ms pass, so the kill that
// follows lands in it as often as the server's speed allows. A refused
// request (one already running, or a command the server lacks) is
// counted, not a failure: the state checks decide.
func askCheckpoint(ctl *conn, rng *rand.Rand, fill filler, st *stats) (persistence, error) {
	if err := fill.write(ctl); err != nil {
		return persistence{}, err
	}
	cmd := "BGSAVE"
	if rng.IntN(4) == 0 {
		cmd = "BGREWRITEAOF"
	}
	st.checkpointsAsked++
	v, err := ctl.do(cmd)
	if err != nil {
		return persistence{}, err
	}
	if v.Kind == resp.KindError {
		st.checkpointsRefused++
	}
	deadline := time.Now().Add(20 * time.Millisecond)
	for {
		p, err := ctl.infoPersistence()
		if err != nil || time.Now().After(deadline) {
			return p, err
		}
		if p.bgsave || p.aofRewrite {
			if rng.IntN(2) == 0 {
				return p, nil
			}
			// Move the kill deeper into the checkpoint; INFO is read
			// again so the report says where it landed.
			time.Sleep(randDuration(rng, 2*time.Millisecond))
			return ctl.infoPersistence()
		}
	}
}

// checkState reads every key after a restart and checks it against the
// model, then resets the model to what it read. With lossBound 0 every
// acknowledged write must be there; otherwise those acknowledged more than
// lossBound before killAt must. start is when the run began (the values
// read at the previous restart count as acknowledged then).
func checkState(addr string, keys []*keyState, fill filler, lossBound time.Duration, killAt, start time.Time, st *stats) error {
	c, err := dial(addr)
	if err != nil {
		return err
	}
	defer c.close()
	values := make([]int64, len(keys))
	var nonEmpty int64
	for i, k := range keys {
		v, err := readValue(c, k)
		if err != nil {
			return err
		}
		if v > k.issued {
			return fmt.Errorf("%s is %d, but only %d writes were issued (%d acknowledged)", k.name, v, k.issued, k.acked)
		}
		need := k.acked
		if lossBound > 0 {
			need = k.ackedBy(killAt.Add(-lossBound), start)
			if v < k.acked {
				st.worstLoss = max(st.worstLoss, killAt.Sub(k.ackTime(v+1, start)))
			}
		}
		if v < need {
			return fmt.Errorf("%s is %d, but %d writes were acknowledged (%d needed; %d issued): acknowledged writes lost", k.name, v, k.acked, need, k.issued)
		}
		if v >= k.acked {
			st.unackedApplied += v - k.acked
			st.unackedLost += k.issued - v
		}
		values[i] = v
		if v > 0 {
			nonEmpty++
		}
	}
	if err := fill.check(c); err != nil {
		return err
	}
	n, err := c.doOK("DBSIZE")
	if err != nil {
		return err
	}
	if want := nonEmpty + int64(len(fill.keys)); n.Kind != resp.KindInt || n.Int != want {
		return fmt.Errorf("DBSIZE is %s, want %d (%d filler keys and %d workload keys): keys nobody wrote", n, want, len(fill.keys), nonEmpty)
	}
	for i, k := range keys {
		k.reset(values[i])
	}
	return nil
}
