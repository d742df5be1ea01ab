package server

import (
	"maps"
	"sync"
	"time"

	"github.com/structd/structd/commands"
)

// metricSamples is how many 100 ms samples the instantaneous rates
// average, as Redis's STATS_METRIC_SAMPLES.
const metricSamples = 16

// instantMetrics turns counters into per-second rates (INFO's
// instantaneous_ops_per_sec and _kbps), sampled by the cron.
type instantMetrics struct {
	mu                 sync.Mutex
	last               time.Time
	lastOps, lastIn    int64
	lastOut            int64
	ops, in, out       [metricSamples]float64
	idx                int
	opsRate, inR, outR float64
}

func (s *Server) sampleMetrics(now time.Time) {
	m := &s.metrics
	ops, in, out := s.stats.CommandsProcessed.Load(), s.stats.NetInputBytes.Load(), s.stats.NetOutputBytes.Load()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.last.IsZero() {
		dt := now.Sub(m.last).Seconds()
		m.ops[m.idx] = float64(ops-m.lastOps) / dt
		m.in[m.idx] = float64(in-m.lastIn) / dt
		m.out[m.idx] = float64(out-m.lastOut) / dt
		m.idx = (m.idx + 1) % metricSamples
		m.opsRate, m.inR, m.outR = mean(m.ops[:]), mean(m.in[:]), mean(m.out[:])
	}
	m.last, m.lastOps, m.lastIn, m.lastOut = now, ops, in, out
}

func mean(v []float64) float64 {
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	return sum / float64(len(v))
}

// Stats implements commands.Server.
func (s *Server) Stats() commands.ServerStats {
	st := commands.ServerStats{
		Start:               s.start,
		TCPPort:             s.Port(),
		ConnectionsReceived: s.stats.ConnectionsReceived.Load(),
		RejectedConnections: s.stats.RejectedConnections.Load(),
		CommandsProcessed:   s.stats.CommandsProcessed.Load(),
		NetInputBytes:       s.stats.NetInputBytes.Load(),
		NetOutputBytes:      s.stats.NetOutputBytes.Load(),
		ErrorReplies:        s.stats.ErrorReplies.Load(),
		Hz:                  s.hz(),
	}
	s.mu.Lock()
	st.ConnectedClients = len(s.clients)
	for _, cl := range s.clients {
		if cl.blocked.Load() {
			st.BlockedClients++
		}
		st.MaxInputBuffer = max(st.MaxInputBuffer, cl.pubQbuf.Load())
		if o := cl.out.Load(); o != nil {
			st.MaxOutputBuffer = max(st.MaxOutputBuffer, o.omem.Load())
		}
	}
	s.mu.Unlock()
	st.PubSubChannels, st.PubSubPatterns, st.PubSubShardChannels = s.pubsubCounts()
	s.stats.errMu.Lock()
	st.ErrorCounts = maps.Clone(s.stats.errorCounts)
	s.stats.errMu.Unlock()
	m := &s.metrics
	m.mu.Lock()
	st.OpsPerSec = int64(m.opsRate + 0.5)
	st.InputKbps, st.OutputKbps = m.inR/1024, m.outR/1024
	m.mu.Unlock()
	return st
}

// ResetStats implements commands.Server: what Redis's CONFIG RESETSTAT
// zeroes (server counters, command and error statistics, keyspace hits and
// misses, expired keys).
func (s *Server) ResetStats() {
	s.stats.ConnectionsReceived.Store(0)
	s.stats.RejectedConnections.Store(0)
	s.stats.CommandsProcessed.Store(0)
	s.stats.NetInputBytes.Store(0)
	s.stats.NetOutputBytes.Store(0)
	s.stats.ErrorReplies.Store(0)
	s.stats.errMu.Lock()
	s.stats.errorCounts = nil
	s.stats.errMu.Unlock()
	for _, cmd := range s.table {
		resetCommandStats(cmd)
		for _, sub := range cmd.Subcommands {
			resetCommandStats(sub)
		}
	}
	ks := &s.ks.Stats
	ks.ExpiredKeys.Store(0)
	ks.KeyspaceHits.Store(0)
	ks.KeyspaceMisses.Store(0)
	ks.ExpiredStalePerc.Store(0)
	m := &s.metrics
	m.mu.Lock()
	m.last, m.lastOps, m.lastIn, m.lastOut = time.Time{}, 0, 0, 0
	m.ops, m.in, m.out = [metricSamples]float64{}, [metricSamples]float64{}, [metricSamples]float64{}
	m.opsRate, m.inR, m.outR = 0, 0, 0
	m.mu.Unlock()
}

func resetCommandStats(cmd *commands.Command) {
	cmd.Stats.Calls.Store(0)
	cmd.Stats.Usec.Store(0)
	cmd.Stats.RejectedCalls.Store(0)
	cmd.Stats.FailedCalls.Store(0)
}
