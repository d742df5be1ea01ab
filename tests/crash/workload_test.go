package crash

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/structd/structd/internal/resp"
)

const (
	numClients     = 4
	countersPerCli = 4
	listsPerCli    = 4
	maxPipeline    = 8 // commands per write, drawn from 1..maxPipeline
)

// keyState is what the harness knows about one key. A key belongs to one
// client, whose goroutine alone touches it while the workload runs; the
// test goroutine reads and resets it only between runs.
//
// A counter's value and a list's length both count the writes applied to
// the key, and the n-th RPUSH pushes the element "n", so one number
// describes the key: the invariant checked after a crash is
// acked <= value <= issued, and a list must read exactly 1..value.
type keyState struct {
	name   string
	list   bool
	base   int64       // the value read after the last restart
	issued int64       // the value the key has if every sent write applied
	acked  int64       // the value the last reply received confirmed
	ackAt  []time.Time // if tracked: ackAt[i] is when value base+1+i was acknowledged
}

// reset makes value, read after a restart, the new starting point.
func (k *keyState) reset(value int64) {
	k.base, k.issued, k.acked, k.ackAt = value, value, value, k.ackAt[:0]
}

// ackedBy is the highest value acknowledged at or before t, taking the
// starting value as acknowledged at start.
func (k *keyState) ackedBy(t, start time.Time) int64 {
	if t.Before(start) {
		return 0
	}
	v := k.base
	for i, at := range k.ackAt {
		if at.After(t) {
			break
		}
		v = k.base + 1 + int64(i)
	}
	return v
}

// ackTime is when value v (base < v <= acked) was acknowledged; values up
// to base count as acknowledged at start.
func (k *keyState) ackTime(v int64, start time.Time) time.Time {
	if v <= k.base {
		return start
	}
	return k.ackAt[v-k.base-1]
}

// client is one workload connection and the keys it owns.
type client struct {
	keys       []*keyState
	rng        *rand.Rand
	trackTimes bool
	pace       time.Duration // pause between two batches (0: none)

	// The outcome of the last run.
	acks      int       // writes acknowledged
	endErr    error     // how the connection ended
	endAt     time.Time // when it ended
	violation error     // a reply the model forbids
}

func newClients(seed uint64) []*client {
	cls := make([]*client, numClients)
	for i := range cls {
		cl := &client{rng: rand.New(rand.NewPCG(seed, uint64(100+i)))}
		for j := 0; j < countersPerCli; j++ {
			cl.keys = append(cl.keys, &keyState{name: fmt.Sprintf("crash:c%d:counter:%d", i, j)})
		}
		for j := 0; j < listsPerCli; j++ {
			cl.keys = append(cl.keys, &keyState{name: fmt.Sprintf("crash:c%d:list:%d", i, j), list: true})
		}
		cls[i] = cl
	}
	return cls
}

// run issues pipelined INCR and RPUSH until the connection ends (the
// server was killed) or stop is closed. Every reply must be the value the
// model predicts: the key's acknowledged value plus one.
func (cl *client) run(addr string, stop <-chan struct{}) {
	cl.acks, cl.endErr, cl.violation = 0, nil, nil
	c, err := dial(addr)
	if err != nil {
		cl.endErr, cl.endAt = err, time.Now()
		return
	}
	defer c.close()
	batch := make([]*keyState, 0, maxPipeline)
	for {
		select {
		case <-stop:
			return
		case <-after(cl.pace):
		}
		batch = batch[:0]
		for n := 1 + cl.rng.IntN(maxPipeline); n > 0; n-- {
			k := cl.keys[cl.rng.IntN(len(cl.keys))]
			k.issued++
			if k.list {
				c.queue("RPUSH", k.name, strconv.FormatInt(k.issued, 10))
			} else {
				c.queue("INCR", k.name)
			}
			batch = append(batch, k)
		}
		if err := c.flush(); err != nil {
			cl.endErr, cl.endAt = err, time.Now()
			return
		}
		for _, k := range batch {
			v, err := c.read()
			if err != nil {
				cl.endErr, cl.endAt = err, time.Now()
				return
			}
			if v.Kind != resp.KindInt || v.Int != k.acked+1 {
				cl.violation = fmt.Errorf("%s answered %s, want :%d (acknowledged %d, issued %d)", k.name, v, k.acked+1, k.acked, k.issued)
				return
			}
			k.acked++
			cl.acks++
			if cl.trackTimes {
				k.ackAt = append(k.ackAt, time.Now())
			}
		}
	}
}

// closedChan is always ready: after(0) costs no timer.
var closedChan = func() chan time.Time { c := make(chan time.Time); close(c); return c }()

// after is time.After, or a ready channel for d = 0.
func after(d time.Duration) <-chan time.Time {
	if d <= 0 {
		return closedChan
	}
	return time.After(d)
}

// readValue reads a key's value as the model counts it: a counter's
// integer, or a list's length after checking that it reads exactly 1..n.
func readValue(c *conn, k *keyState) (int64, error) {
	if !k.list {
		v, err := c.doOK("GET", k.name)
		if err != nil {
			return 0, err
		}
		if v.Null || v.Kind == resp.KindNull {
			return 0, nil
		}
		n, ok := resp.ParseInt(v.Str)
		if v.Kind != resp.KindBulk || !ok {
			return 0, fmt.Errorf("GET %s answered %s, want an integer", k.name, v)
		}
		return n, nil
	}
	v, err := c.doOK("LRANGE", k.name, "0", "-1")
	if err != nil {
		return 0, err
	}
	if v.Kind != resp.KindArray {
		return 0, fmt.Errorf("LRANGE %s answered %s", k.name, v)
	}
	for i, e := range v.Elems {
		if want := strconv.Itoa(i + 1); string(e.Str) != want {
			return 0, fmt.Errorf("list %s: element %d is %q, want %q: not a prefix of the issued pushes 1..%d (a gap, duplicate or reordering; acknowledged %d)",
				k.name, i, e.Str, want, k.issued, k.acked)
		}
	}
	return int64(len(v.Elems)), nil
}

// filler are keys written once, acknowledged, before the first kill, and
// rewritten with the same values before the kills that follow a BGSAVE so
// that the checkpoint has work to do. They must read back unchanged after
// every restart.
type filler struct{ keys, values []string }

func newFiller(n int) filler {
	f := filler{keys: make([]string, n), values: make([]string, n)}
	for i := range f.keys {
		f.keys[i] = fmt.Sprintf("crash:fill:%05d", i)
		f.values[i] = fmt.Sprintf("%05d-%058d", i, i*7919)
	}
	return f
}

// write sets every filler key with one MSET.
func (f filler) write(c *conn) error {
	args := make([]string, 0, 1+2*len(f.keys))
	args = append(args, "MSET")
	for i := range f.keys {
		args = append(args, f.keys[i], f.values[i])
	}
	_, err := c.doOK(args...)
	return err
}

// check reads every filler key back with MGET.
func (f filler) check(c *conn) error {
	const chunk = 500
	for lo := 0; lo < len(f.keys); lo += chunk {
		hi := min(lo+chunk, len(f.keys))
		v, err := c.doOK(append([]string{"MGET"}, f.keys[lo:hi]...)...)
		if err != nil {
			return err
		}
		if v.Kind != resp.KindArray || len(v.Elems) != hi-lo {
			return fmt.Errorf("MGET of %d filler keys answered %s", hi-lo, v.StringMax(200))
		}
		for i, e := range v.Elems {
			if string(e.Str) != f.values[lo+i] {
				return fmt.Errorf("filler key %s (acknowledged before the first kill) reads %s, want %q", f.keys[lo+i], e, f.values[lo+i])
			}
		}
	}
	return nil
}
