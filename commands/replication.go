package commands

import (
	"strconv"
	"strings"
	"time"

	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/replication"
)

// Replication's commands (package replication does the work): REPLICAOF
// and SLAVEOF, ROLE, WAIT, and the ones replicas send their master
// (REPLCONF, PSYNC, SYNC), with Redis 7.0's arity, flags and replies.

func init() {
	admin := []string{"admin", "slow", "dangerous"}
	replicaof := func(name string) *Command {
		return &Command{Name: name, Arity: 3, Flags: Admin | NoScript | Stale | Unlocked, Categories: admin, Handler: cmdReplicaOf}
	}
	register(
		replicaof("replicaof"), replicaof("slaveof"),
		&Command{Name: "role", Arity: 1, Flags: NoScript | Loading | Stale | Fast | Unlocked,
			Categories: []string{"admin", "fast", "dangerous"}, Handler: cmdRole},
		&Command{Name: "wait", Arity: 3, Flags: NoScript | Unlocked | MayWait, Categories: []string{"slow", "connection"}, Handler: cmdWait},
		&Command{Name: "replconf", Arity: -1, Flags: Admin | NoScript | Loading | Stale | AllowBusy | Unlocked, Categories: admin, Handler: cmdReplconf},
		&Command{Name: "psync", Arity: -3, Flags: Admin | NoScript | NoMulti | Unlocked, Categories: admin, Handler: cmdPsync},
		&Command{Name: "sync", Arity: 1, Flags: Admin | NoScript | NoMulti | Unlocked, Categories: admin, Handler: cmdSync},
	)
}

// Replication state a connection builds with REPLCONF before SYNC/PSYNC.
type ReplicaHandshake struct {
	ListeningPort int
	Capa          []string
	// Sync is set by SYNC or PSYNC: once the reply is flushed the
	// connection becomes the master side of a replica's link.
	Sync *replication.SyncRequest
}

// ReadOnlyReplica is a Server that may be a read-only replica (the
// server's): ReadOnlyReplica reports whether it replicates a master with
// replica-read-only on, so that clients other than the master may not
// write.
type ReadOnlyReplica interface{ ReadOnlyReplica() bool }

// ErrReadOnlyReplica is the reply to a write on a read-only replica.
const ErrReadOnlyReplica = "READONLY You can't write against a read only replica."

// cmdReplicaOf is REPLICAOF host port | NO ONE. The role change waits for
// the replication link and locks the keyspace, so inside EXEC (Sentinel
// sends it there in a failover) it runs once EXEC has released the
// keyspace, before EXEC's reply (afterUnlock).
func cmdReplicaOf(c *Ctx) {
	m := c.Server.Replication()
	cfg := c.Server.Config()
	if c.ArgIs(1, "no") && c.ArgIs(2, "one") {
		c.afterUnlock(func() {
			m.NoOne()
			cfg.SetMaster("", 0)
		})
		c.W.OK()
		return
	}
	port, ok := resp.ParseInt(c.Args[2])
	if !ok || port < 0 || port > 65535 {
		c.W.Error("ERR Invalid master port")
		return
	}
	host := c.Arg(1)
	already, err := m.CheckReplicaOf(host, int(port))
	switch {
	case err != nil:
		c.W.Error(err.Error())
	case already:
		c.W.Simple("OK Already connected to specified master")
	default:
		// Only the checks above fail: what ReplicaOf finds then is at
		// most that another client chose this master meanwhile.
		c.afterUnlock(func() {
			if already, _ := m.ReplicaOf(host, int(port)); !already {
				cfg.SetMaster(host, int(port))
			}
		})
		c.W.OK()
	}
}

// cmdRole is ROLE: ["master", offset, [[ip, port, offset], ...]] or
// ["slave", host, port, state, offset].
func cmdRole(c *Ctx) {
	in := c.Server.Replication().Info(0)
	if in.Role == replication.RoleReplica {
		c.W.Array(5)
		c.W.BulkString("slave")
		c.W.BulkString(in.MasterHost)
		c.W.Int(int64(in.MasterPort))
		c.W.BulkString(in.LinkState)
		if in.LinkUp {
			c.W.Int(in.Offset)
		} else {
			c.W.Int(-1)
		}
		return
	}
	c.W.Array(3)
	c.W.BulkString("master")
	c.W.Int(in.Offset)
	c.W.Array(len(in.Replicas))
	for _, r := range in.Replicas {
		c.W.Array(3)
		c.W.BulkString(r.IP)
		c.W.BulkString(strconv.Itoa(r.Port))
		c.W.BulkString(strconv.FormatInt(r.Offset, 10))
	}
}

// WriteOffsetter is an EffectLog that knows the stream offset after the
// last write its connection made (the server's): WAIT waits for it.
type WriteOffsetter interface{ WriteOffset() int64 }

// Killable is a Conn that tells when it is being closed, so a command
// that waits (WAIT) stops waiting for a client that left.
type Killable interface{ Killed() <-chan struct{} }

// cmdWait is WAIT numreplicas timeout.
func cmdWait(c *Ctx) {
	m := c.Server.Replication()
	if m.IsReplica() {
		c.W.Error("ERR WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated.")
		return
	}
	n, ok := c.Int(1)
	if !ok {
		return
	}
	ms, ok := c.TimeoutMs(2)
	if !ok {
		return
	}
	var target int64
	if w, ok := c.Log.(WriteOffsetter); ok {
		target = w.WriteOffset()
	}
	var done <-chan struct{}
	if k, ok := c.Conn.(Killable); ok {
		done = k.Killed()
	}
	if c.InExec {
		c.W.Int(int64(m.CountAcked(target))) // inside MULTI WAIT does not block
		return
	}
	n = min(max(n, 0), 1<<31)
	c.W.Int(int64(m.Wait(target, int(n), time.Duration(ms)*time.Millisecond, done)))
}

// TimeoutMs parses argument i as a timeout in milliseconds (WAIT, CLIENT
// PAUSE), replying with Redis's error if it is not one.
func (c *Ctx) TimeoutMs(i int) (int64, bool) {
	ms, ok := resp.ParseInt(c.Args[i])
	if !ok {
		c.W.Error("ERR timeout is not an integer or out of range")
		return 0, false
	}
	if ms < 0 {
		c.W.Error("ERR timeout is negative")
		return 0, false
	}
	return ms, true
}

// cmdReplconf is REPLCONF option value [option value ...]: what a replica
// announces before PSYNC. ACK and GETACK get no reply.
func cmdReplconf(c *Ctx) {
	if len(c.Args)%2 == 0 {
		c.W.Error(ErrSyntax)
		return
	}
	h := &c.Session.Replica
	for i := 1; i < len(c.Args); i += 2 {
		switch opt := strings.ToLower(c.Arg(i)); opt {
		case "listening-port":
			port, ok := resp.ParseInt(c.Args[i+1])
			if !ok {
				c.W.Error(ErrNotInteger)
				return
			}
			h.ListeningPort = int(port)
		case "capa":
			if len(h.Capa) < 16 {
				h.Capa = append(h.Capa, strings.ToLower(c.Arg(i+1)))
			}
		case "ip-address", "rdb-only", "rdb-filter-only":
		case "ack", "fack", "getack":
			return // from a replica link they are handled before dispatch
		default:
			c.W.Error("ERR Unrecognized REPLCONF option: " + c.Arg(i))
			return
		}
	}
	c.W.OK()
}

// cmdPsync is PSYNC replicationid offset.
func cmdPsync(c *Ctx) {
	off, ok := c.Int(2)
	if !ok {
		return
	}
	startSync(c, &replication.SyncRequest{PSync: true, ReplID: c.Arg(1), Offset: off})
}

// cmdSync is SYNC: a full synchronization.
func cmdSync(c *Ctx) { startSync(c, &replication.SyncRequest{}) }

func startSync(c *Ctx, req *replication.SyncRequest) {
	if c.Server.Replication().IsReplica() {
		c.W.Error("ERR this server is a replica: StructD replicas do not serve replicas of their own (chained replication is not supported)")
		return
	}
	h := &c.Session.Replica
	req.ListeningPort, req.Capa = h.ListeningPort, h.Capa
	if ci, ok := c.Server.Client(c.Session.ID); ok {
		req.Addr = ci.Addr
	}
	h.Sync = req
}

// infoReplication is INFO's replication section, as Redis 7.0 lists it.
func infoReplication(b *infoBuilder, c *Ctx, _ *ServerStats) {
	set := c.Server.Config().ReplicationSettings()
	in := c.Server.Replication().Info(set.BacklogSize)
	if in.Role == replication.RoleReplica {
		b.field("role", "slave")
		b.field("master_host", in.MasterHost)
		b.int("master_port", int64(in.MasterPort))
		b.field("master_link_status", map[bool]string{true: "up", false: "down"}[in.LinkUp])
		last := int64(-1)
		if in.LinkUp {
			last = in.LastIOSecs
		}
		b.int("master_last_io_seconds_ago", last)
		b.int("master_sync_in_progress", boolInt(in.SyncInProgress))
		b.int("slave_read_repl_offset", in.Offset)
		b.int("slave_repl_offset", in.Offset)
		if in.SyncInProgress {
			total := max(in.SyncTotal, in.SyncRead)
			b.int("master_sync_total_bytes", total)
			b.int("master_sync_read_bytes", in.SyncRead)
			b.int("master_sync_left_bytes", total-in.SyncRead)
			perc := 0.0
			if total > 0 {
				perc = float64(in.SyncRead) * 100 / float64(total)
			}
			b.field("master_sync_perc", strconv.FormatFloat(perc, 'f', 2, 64))
			b.int("master_sync_last_io_seconds_ago", in.SyncLastIOSecs)
		}
		if !in.LinkUp {
			b.int("master_link_down_since_seconds", in.DownSinceSecs)
		}
		b.int("slave_priority", int64(set.Priority))
		b.int("slave_read_only", boolInt(set.ReadOnly))
		b.int("replica_announced", boolInt(set.Announced))
	} else {
		b.field("role", "master")
	}
	b.int("connected_slaves", int64(len(in.Replicas)))
	for i, r := range in.Replicas {
		b.field("slave"+strconv.Itoa(i), "ip="+r.IP+",port="+strconv.Itoa(r.Port)+",state="+r.State+
			",offset="+strconv.FormatInt(r.Offset, 10)+",lag="+strconv.FormatInt(r.Lag, 10))
	}
	b.field("master_failover_state", "no-failover")
	b.field("master_replid", in.ReplID)
	b.field("master_replid2", in.ReplID2)
	b.int("master_repl_offset", in.Offset)
	b.int("second_repl_offset", in.SecondOffset)
	b.int("repl_backlog_active", boolInt(in.BacklogActive))
	b.int("repl_backlog_size", in.Backlog.Size)
	b.int("repl_backlog_first_byte_offset", in.Backlog.FirstByte)
	b.int("repl_backlog_histlen", in.Backlog.HistLen)
}
