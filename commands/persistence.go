package commands

import "strconv"

// SAVE, BGSAVE, BGREWRITEAOF, LASTSAVE and INFO persistence. A StructD
// "save" is a checkpoint (package snapshot): incremental, point in time,
// without a fork. BGREWRITEAOF runs one too, since a checkpoint is what
// shortens the AOF.

// Persistence is the server's disk side as commands see it.
type Persistence interface {
	// Save takes a checkpoint and returns when it is committed.
	Save() error
	// BackgroundSave starts a checkpoint. When one is already running it
	// reports false, and with schedule set arranges another after it.
	BackgroundSave(schedule bool) bool
	// LastSave is the Unix time of the last committed checkpoint.
	LastSave() int64
	Info() PersistenceInfo
}

// ErrPersistenceOff is the reply to SAVE and friends on a server started as
// a pure cache (appendonly no, save "").
const ErrPersistenceOff = "ERR persistence is off: the server was started with appendonly no and save \"\""

// PersistenceInfo are INFO persistence's figures.
type PersistenceInfo struct {
	Enabled          bool
	Loading          bool
	ChangesSinceSave int64
	Saving           bool
	LastSave         int64 // Unix seconds
	LastSaveOK       bool
	LastSaveSeconds  int64 // -1 before the first
	CurrentSeconds   int64 // -1 when none runs
	Saves            int64
	AOFEnabled       bool
	AOFWriteOK       bool
	AOFCurrentSize   int64 // AOFBaseSize + bytes logged since the last checkpoint
	AOFBaseSize      int64 // the store's logical size after the last checkpoint
	AOFMode          string
	// StructD's own.
	DirtyKeys  int64
	ColdKeys   int64
	LastBytes  int64
	LastKeys   int64
	LastMillis int64
	// PeakExtraMemory is how much the process's resident memory grew
	// during the last checkpoint, at its peak; PeakBuffers is the part the
	// checkpoint's own buffers held.
	PeakExtraMemory int64
	PeakBuffers     int64
	Warming         bool
	UnloadedKeys    int64
}

func init() {
	admin := []string{"admin", "slow", "dangerous"}
	register(
		&Command{Name: "save", Arity: 1, Flags: Admin | NoScript | NoMulti | Unlocked, Categories: admin, Handler: cmdSave},
		&Command{Name: "bgsave", Arity: -1, Flags: Admin | NoScript, Categories: admin, Handler: cmdBgsave},
		&Command{Name: "bgrewriteaof", Arity: 1, Flags: Admin | NoScript, Categories: admin, Handler: cmdBgrewriteaof},
		&Command{Name: "lastsave", Arity: 1, Flags: Loading | Stale | Fast,
			Categories: []string{"admin", "fast", "dangerous"}, Tips: []string{"nondeterministic_output"}, Handler: cmdLastsave},
	)
}

// persistence returns the server's persistence, replying the error and
// returning nil when it is off.
func persistence(c *Ctx) Persistence {
	p := c.Server.Persistence()
	if p == nil {
		c.W.Error(ErrPersistenceOff)
	}
	return p
}

func cmdSave(c *Ctx) {
	p := persistence(c)
	if p == nil {
		return
	}
	if p.Info().Saving {
		c.W.Error("ERR Background save already in progress")
		return
	}
	if err := p.Save(); err != nil {
		c.W.Error("ERR " + err.Error())
		return
	}
	c.W.OK()
}

func cmdBgsave(c *Ctx) {
	schedule := false
	if len(c.Args) > 1 {
		if len(c.Args) > 2 || !c.ArgIs(1, "schedule") {
			c.W.Error(ErrSyntax)
			return
		}
		schedule = true
	}
	p := persistence(c)
	if p == nil {
		return
	}
	switch {
	case p.BackgroundSave(schedule):
		c.W.Simple("Background saving started")
	case schedule:
		c.W.Simple("Background saving scheduled")
	default:
		c.W.Error("ERR Background save already in progress")
	}
}

func cmdBgrewriteaof(c *Ctx) {
	p := persistence(c)
	if p == nil {
		return
	}
	if p.BackgroundSave(true) {
		c.W.Simple("Background append only file rewriting started")
	} else {
		c.W.Simple("Background append only file rewriting scheduled")
	}
}

func cmdLastsave(c *Ctx) {
	if p := c.Server.Persistence(); p != nil {
		c.W.Int(p.LastSave())
		return
	}
	c.W.Int(c.Server.Stats().Start.Unix())
}

// infoPersistence is INFO persistence: Redis's fields, with a checkpoint in
// the place of an RDB save or an AOF rewrite, then StructD's own.
func infoPersistence(b *infoBuilder, c *Ctx, st *ServerStats) {
	in := PersistenceInfo{LastSave: st.Start.Unix(), LastSaveOK: true, AOFWriteOK: true,
		LastSaveSeconds: -1, CurrentSeconds: -1, ChangesSinceSave: c.KS.Stats.Dirty.Load()}
	if p := c.Server.Persistence(); p != nil {
		in = p.Info()
	}
	status := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "err"
	}
	rewriting := in.Saving && in.AOFEnabled
	b.field("loading", boolDigit(in.Loading))
	b.field("async_loading", "0")
	b.int("rdb_changes_since_last_save", in.ChangesSinceSave)
	b.field("rdb_bgsave_in_progress", boolDigit(in.Saving))
	b.int("rdb_last_save_time", in.LastSave)
	b.field("rdb_last_bgsave_status", status(in.LastSaveOK))
	b.int("rdb_last_bgsave_time_sec", in.LastSaveSeconds)
	b.int("rdb_current_bgsave_time_sec", in.CurrentSeconds)
	b.int("rdb_saves", in.Saves)
	b.field("aof_enabled", boolDigit(in.AOFEnabled))
	b.field("aof_rewrite_in_progress", boolDigit(rewriting))
	b.field("aof_rewrite_scheduled", "0")
	if in.AOFEnabled {
		b.int("aof_last_rewrite_time_sec", in.LastSaveSeconds)
		if rewriting {
			b.int("aof_current_rewrite_time_sec", in.CurrentSeconds)
		} else {
			b.field("aof_current_rewrite_time_sec", "-1")
		}
	} else {
		b.field("aof_last_rewrite_time_sec", "-1")
		b.field("aof_current_rewrite_time_sec", "-1")
	}
	b.field("aof_last_bgrewrite_status", status(in.LastSaveOK))
	b.int("aof_rewrites", in.Saves)
	b.field("aof_last_write_status", status(in.AOFWriteOK))
	if in.AOFEnabled {
		b.int("aof_current_size", in.AOFCurrentSize)
		b.int("aof_base_size", in.AOFBaseSize)
	}
	b.int("checkpoint_dirty_keys", in.DirtyKeys)
	b.int("checkpoint_last_keys", in.LastKeys)
	b.int("checkpoint_last_bytes", in.LastBytes)
	b.int("checkpoint_last_time_ms", in.LastMillis)
	b.int("checkpoint_peak_extra_memory", in.PeakExtraMemory)
	b.int("checkpoint_peak_buffers", in.PeakBuffers)
	b.int("cold_keys", in.ColdKeys)
	b.int("unloaded_keys", in.UnloadedKeys)
	b.field("warmup_in_progress", boolDigit(in.Warming))
}

func boolDigit(b bool) string { return strconv.FormatInt(boolInt(b), 10) }
