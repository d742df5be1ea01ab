package commands

import (
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// The commands over whole databases, and MOVE and CLUSTER KEYSLOT.
//
// FLUSHDB, FLUSHALL and SWAPDB emit no per-key events, as in Redis: they
// count their changes straight into the dirty counter.

func init() {
	dangerous := []string{"keyspace", "write", "slow", "dangerous"}
	allShards := []string{"request_policy:all_shards", "response_policy:all_succeeded"}
	register(
		&Command{Name: "dbsize", Arity: 1, Flags: ReadOnly | Fast,
			Categories: []string{"keyspace", "read", "fast"},
			Tips:       []string{"request_policy:all_shards", "response_policy:agg_sum"}, Handler: cmdDBSize},
		&Command{Name: "flushdb", Arity: -1, Flags: Write | KeyspaceWide, Categories: dangerous,
			Tips: allShards, Handler: cmdFlushDB},
		&Command{Name: "flushall", Arity: -1, Flags: Write | KeyspaceWide, Categories: dangerous,
			Tips: allShards, Handler: cmdFlushAll},
		&Command{Name: "swapdb", Arity: 3, Flags: Write | Fast | KeyspaceWide,
			Categories: []string{"keyspace", "write", "fast", "dangerous"}, Handler: cmdSwapDB},
		&Command{Name: "move", Arity: 3, Flags: Write | Fast, FirstKey: 1, LastKey: 1, KeyStep: 1,
			Categories: []string{"keyspace", "write", "fast"}, Handler: cmdMove},
		// Only KEYSLOT of CLUSTER is served: StructD is not a cluster node,
		// but its keys live in cluster slots, and clients ask where.
		&Command{Name: "cluster", Arity: -2, Categories: []string{"slow"},
			Subcommands: map[string]*Command{
				"keyslot": {Arity: 3, Flags: Stale, Categories: []string{"slow"}, Handler: cmdClusterKeySlot},
			}},
	)
}

// cmdDBSize counts expired keys not yet reclaimed, as Redis does.
func cmdDBSize(c *Ctx) { c.W.Int(c.DB.Size()) }

// flushOption checks FLUSHDB's and FLUSHALL's optional ASYNC or SYNC. Both
// free the same way: the dropped slots become garbage that Go's concurrent
// collector reclaims without blocking the server.
func flushOption(c *Ctx) bool {
	if len(c.Args) > 2 || len(c.Args) == 2 && !c.ArgIs(1, "async") && !c.ArgIs(1, "sync") {
		c.W.Error(ErrSyntax)
		return false
	}
	return true
}

func cmdFlushDB(c *Ctx) {
	if !flushOption(c) {
		return
	}
	c.KS.Stats.Dirty.Add(c.DB.Size())
	c.DB.Flush()
	c.Changed() // logged even when the database was empty, as Redis does
	c.W.OK()
}

func cmdFlushAll(c *Ctx) {
	if !flushOption(c) {
		return
	}
	n := c.KS.KeyCount()
	c.KS.FlushAll()
	c.KS.Stats.Dirty.Add(n + 1)
	c.Changed()
	c.W.OK()
}

func cmdSwapDB(c *Ctx) {
	a, ok := swapDBIndex(c, 1, "ERR invalid first DB index")
	if !ok {
		return
	}
	b, ok := swapDBIndex(c, 2, "ERR invalid second DB index")
	if !ok {
		return
	}
	if a < 0 || a >= int64(c.KS.NumDBs()) || b < 0 || b >= int64(c.KS.NumDBs()) {
		c.W.Error(ErrDBIndex)
		return
	}
	c.KS.SwapDB(int(a), int(b))
	c.KS.Stats.Dirty.Add(1)
	c.Changed()
	c.W.OK()
}

// swapDBIndex parses argument i as a C int, replying msg if it is not one.
func swapDBIndex(c *Ctx, i int, msg string) (int64, bool) {
	n, ok := resp.ParseInt(c.Args[i])
	if !ok || n < -1<<31 || n > 1<<31-1 {
		c.W.Error(msg)
		return 0, false
	}
	return n, true
}

// cmdMove is MOVE key db. The key's slot lock covers it in every database.
func cmdMove(c *Ctx) {
	db, ok := dbIndex(c, 2)
	if !ok {
		return
	}
	dst := c.KS.DB(db)
	if dst == c.DB {
		c.W.Error(ErrSameObject)
		return
	}
	key := c.Args[1]
	o := c.DB.LookupWrite(key)
	if o == nil {
		c.W.Int(0)
		return
	}
	expire := c.DB.Expire(key)
	if dst.LookupWrite(key) != nil {
		c.W.Int(0)
		return
	}
	dst.Set(key, o)
	if expire != -1 {
		dst.SetExpire(key, expire)
	}
	c.DB.Delete(key)
	c.KeyChanged(EventGeneric, "move_from", key)
	c.KeyChangedIn(dst, EventGeneric, "move_to", key)
	c.W.Int(1)
}

func cmdClusterKeySlot(c *Ctx) { c.W.Int(int64(memtier.SlotOf(c.Args[2]))) }
