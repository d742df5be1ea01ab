//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// overwriteBatch is how many SETs a load client pipelines per round trip.
const overwriteBatch = 50

// overwriter is the concurrent write load of the checkpoint-memory row:
// clients that SET random existing keys to a new generation of their
// value, at a fixed total rate (0: as fast as the server answers), until
// Stop. Both servers get the same clients, rate and key sequence.
type overwriter struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sets   atomic.Int64

	mu  sync.Mutex
	err error
}

// startOverwriter connects clients to addr and starts the load.
func startOverwriter(ctx context.Context, addr string, d dataset, clients, rate int) (*overwriter, error) {
	ctx, cancel := context.WithCancel(ctx)
	o := &overwriter{cancel: cancel}
	var conns []*conn
	for range clients {
		c, err := dial(ctx, addr, time.Second)
		if err != nil {
			cancel()
			for _, c := range conns {
				c.Close()
			}
			return nil, fmt.Errorf("overwrite client: %w", err)
		}
		conns = append(conns, c)
	}
	// Each client sends a batch every interval, so the clients together
	// send rate SETs a second.
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(overwriteBatch*clients) / float64(rate))
	}
	for n, c := range conns {
		o.wg.Add(1)
		go func() {
			defer o.wg.Done()
			defer c.Close()
			if err := o.run(ctx, c, d, uint64(n), interval); err != nil && ctx.Err() == nil {
				o.mu.Lock()
				o.err = errors.Join(o.err, err)
				o.mu.Unlock()
			}
		}()
	}
	return o, nil
}

// run is one load client: batches of SETs of random keys, paced by interval.
func (o *overwriter) run(ctx context.Context, c *conn, d dataset, seed uint64, interval time.Duration) error {
	rng := rand.New(rand.NewPCG(seed, 0x10ad))
	var k, v []byte
	next := time.Now()
	for gen := byte('a'); ctx.Err() == nil; gen = 'a' + (gen-'a'+1)%26 {
		for range overwriteBatch {
			i := rng.IntN(d.keys)
			k, v = d.key(k[:0], i), d.value(v[:0], i, gen)
			c.send([]byte("SET"), k, v)
		}
		if err := c.w.Flush(); err != nil {
			return err
		}
		for range overwriteBatch {
			if _, err := c.receive(); err != nil {
				return fmt.Errorf("overwrite SET: %w", err)
			}
		}
		o.sets.Add(overwriteBatch)
		if interval > 0 {
			next = next.Add(interval)
			select {
			case <-ctx.Done():
			case <-time.After(time.Until(next)):
			}
		}
	}
	return nil
}

// Stop ends the load and returns how many SETs it did and the first
// error a client met.
func (o *overwriter) Stop() (int64, error) {
	o.cancel()
	o.wg.Wait()
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.sets.Load(), o.err
}

// overwriteFraction SETs a new generation of the value of keys/divisor
// distinct keys, chosen by a fixed seed so both servers change the same
// keys, in one pipeline on c.
func overwriteFraction(c *conn, d dataset, divisor int) (int, error) {
	n := max(d.keys/divisor, 1)
	rng := rand.New(rand.NewPCG(1, 0x1))
	chosen := make(map[int]bool, n)
	for len(chosen) < n {
		chosen[rng.IntN(d.keys)] = true
	}
	done := make(chan error, 1)
	go func() {
		var k, v []byte
		for i := range chosen {
			k, v = d.key(k[:0], i), d.value(v[:0], i, 'z')
			c.send([]byte("SET"), k, v)
		}
		done <- c.w.Flush()
	}()
	for range n {
		if _, err := c.receive(); err != nil {
			c.Close() // unblocks the writer
			<-done
			return 0, fmt.Errorf("SET while overwriting 1/%d of the keys: %w", divisor, err)
		}
	}
	return n, <-done
}
