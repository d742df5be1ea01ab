package replication

import (
	"cmp"
	"slices"
	"strings"
	"time"
)

// Info is what INFO replication and ROLE report.
type Info struct {
	Role Role

	// A replica's link.
	MasterHost     string
	MasterPort     int
	LinkState      string // ROLE's: connect, connecting, handshake, sync, connected
	LinkUp         bool
	LastIOSecs     int64 // seconds since the master last sent something, -1 if never
	SyncInProgress bool
	SyncTotal      int64 // full sync bytes announced so far, -1 unknown
	SyncRead       int64
	SyncLastIOSecs int64
	DownSinceSecs  int64 // seconds the link has been down; -1 if it never was up

	// A master's replicas.
	Replicas []ReplicaInfo

	ReplID, ReplID2 string
	Offset          int64 // master_repl_offset
	SecondOffset    int64
	BacklogActive   bool
	Backlog         BacklogStats
}

// ReplicaInfo is one connected replica.
type ReplicaInfo struct {
	IP     string
	Port   int
	State  string // wait_bgsave, send_bulk, online
	Offset int64  // acknowledged
	Lag    int64  // seconds since its last acknowledgement
}

// Info returns the replication figures. backlogSize is repl-backlog-size,
// reported while there is no backlog.
func (m *Manager) Info(backlogSize int64) Info {
	now := time.Now().Unix()
	m.mu.Lock()
	in := Info{Role: m.role, MasterHost: m.masterHost, MasterPort: m.masterPort, ReplID: m.replid,
		ReplID2: m.replid2, SecondOffset: m.secondOffset, Offset: m.offset()}
	for r := range m.replicas {
		in.Replicas = append(in.Replicas, ReplicaInfo{IP: r.ip, Port: r.port, State: *r.state.Load(),
			Offset: r.ack.Load(), Lag: now - r.ackAt.Load()})
	}
	l := m.link
	m.mu.Unlock()
	slices.SortFunc(in.Replicas, func(a, b ReplicaInfo) int {
		return cmp.Or(strings.Compare(a.IP, b.IP), cmp.Compare(a.Port, b.Port))
	})
	in.Backlog = BacklogStats{Size: backlogSize}
	if bl := m.bl.Load(); bl != nil {
		in.BacklogActive = true
		in.Backlog = bl.Stats()
	}
	if l != nil {
		st := l.state.Load()
		in.LinkState = linkStateNames[st]
		in.LinkUp = st == stateConnected
		in.LastIOSecs = -1
		if t := l.lastIO.Load(); t > 0 {
			in.LastIOSecs = now - t
		}
		in.DownSinceSecs = -1
		if t := l.downSince.Load(); t > 0 {
			in.DownSinceSecs = now - t
		}
		if st == stateSync {
			in.SyncInProgress = true
			in.SyncTotal, in.SyncRead = l.syncTotal.Load(), l.syncRead.Load()
			in.SyncLastIOSecs = now - l.syncLastIO.Load()
		}
	} else if in.Role == RoleReplica {
		in.LinkState = "connect"
	}
	return in
}
