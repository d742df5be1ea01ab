package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/commands"
	"github.com/structd/structd/config"
	"github.com/structd/structd/disktier"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/snapshot"
)

// persistence is the server's disk side (DESIGN.md): the Pebble store
// holding the dataset as of the last checkpoint, the AOF since it, and the
// checkpoints that move the one into the other. Recovery (open) is
// invariant 4: open Pebble, replay the AOF from the checkpoint's position,
// serve; values fault in on first access.
type persistence struct {
	srv   *Server
	dir   string
	store *disktier.Store
	ckpt  snapshot.Checkpointer

	// log is the AOF writer, nil while appendonly is off. Commands read it
	// on every write; appendonly on/off swaps it under logMu.
	log   atomic.Pointer[aof.Writer]
	logMu sync.Mutex
	aofOp aof.Options
	// logBase is the log's byte counter right after the last checkpoint,
	// for auto-aof-rewrite (the AOF since then is what it measures).
	logBase atomic.Int64
	// aofBaseSize is the store's logical size (measureBase) after the last
	// checkpoint, or at start: Redis's aof_base_size, what the AOF since
	// the checkpoint grows over in auto-aof-rewrite-percentage.
	aofBaseSize atomic.Int64
	// baseMeasured is set once cron measured the base after the start (on
	// the cron goroutine, which ends before the store closes).
	baseMeasured bool

	// pointOffset is the replication offset at the last checkpoint's point
	// in time (snapshot.Checkpointer.AtPoint), guarded by saveMu.
	pointOffset int64
	// warmWG counts the warm-up running; warmStop asks it to stop (a
	// replica's full sync replaces the store under it).
	warmWG   sync.WaitGroup
	warmStop atomic.Bool

	// One checkpoint runs at a time: saveMu is held while it runs.
	saveMu        sync.Mutex
	saving        atomic.Bool
	saveStarted   atomic.Int64 // Unix ms the running one started
	saveScheduled atomic.Bool  // BGSAVE SCHEDULE while one ran
	saves         atomic.Int64
	lastSave      atomic.Int64 // Unix seconds of the last committed checkpoint (LASTSAVE)
	lastTry       atomic.Int64 // Unix seconds of the last attempt, for the retry delay
	dirtyAtSave   atomic.Int64 // Stats.Dirty when the last committed one started
	lastOK        atomic.Bool
	lastDuration  atomic.Int64 // ms
	lastBytes     atomic.Int64
	lastKeys      atomic.Int64
	peakExtra     atomic.Int64 // resident memory growth of the last checkpoint
	peakBuffers   atomic.Int64
	lastErr       atomic.Pointer[error]

	loading   atomic.Bool
	warming   atomic.Bool
	warmedKey atomic.Int64

	// Eviction under maxmemory (cron only): where the sweep resumes and
	// the idle time, in seconds, a clean key needs to be dropped.
	evictCursor  memtier.EvictionCursor
	evictIdle    uint32
	evictGC      uint64 // GC cycle count when evictPending was reset
	evictPending int64  // bytes dropped since then, not yet collected
}

// saveRetryDelay is how long a failed scheduled checkpoint waits before the
// schedule tries again (Redis's CONFIG_BGSAVE_RETRY_DELAY).
const saveRetryDelay = 5 * time.Second

// openPersistence opens the store and the AOF under dir and recovers the
// dataset: the store's last checkpoint, then the AOF's tail replayed on top
// (invariant 4). It does nothing in pure-cache mode (appendonly no, save
// ""). Startup fails, naming the file and offset, on a corrupt AOF or store
// rather than serving partial data.
func (s *Server) openPersistence() error {
	set := s.cfg.PersistenceSettings()
	if !set.Enabled() {
		return nil
	}
	s.cfg.RLock()
	dir := s.cfg.Dir
	s.cfg.RUnlock()
	p := &persistence{srv: s, dir: dir}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("persistence: create dir %s: %w", dir, err)
	}
	start := time.Now()
	if err := recoverStoreSwap(dir); err != nil {
		return err
	}
	store, err := disktier.Open(filepath.Join(dir, "store"), disktier.Options{Logger: s.log})
	if err != nil {
		return err
	}
	p.store = store
	rec, hasRec, err := store.Record()
	if err != nil {
		store.Close()
		return err
	}
	if err := s.ks.AttachStore(snapshot.ColdStore{Store: store}); err != nil {
		store.Close()
		return err
	}
	p.ckpt = snapshot.Checkpointer{KS: s.ks, Store: store, Dir: filepath.Join(dir, "checkpoint.tmp"), Logger: s.log,
		AtPoint: func() { p.pointOffset = s.repl.AtCheckpoint() }}
	if err := s.loadScriptCatalog(p); err != nil {
		store.Close()
		return err
	}
	p.aofOp = aof.Options{FS: s.aofFS, Dir: filepath.Join(dir, set.AppendDirname), Name: set.AppendFilename, Sync: syncMode(set.AppendFsync)}
	if hasRec {
		p.lastSave.Store(rec.TimeMs / 1000)
	} else {
		p.lastSave.Store(time.Now().Unix())
	}
	p.lastOK.Store(true)
	p.aofBaseSize.Store(store.DiskSize()) // a lower bound until cron measures it
	s.persist = p
	if set.AppendOnly {
		err := p.recover(rec, hasRec)
		if err == nil && hasRec && rec.AOFSegment == 0 && rec.AOFOffset == 0 {
			// The checkpoint names no log position (the AOF was off), so
			// the next start would take the segments written from now on
			// for ones older than it, as recover did. A checkpoint now
			// records the position (nothing is dirty: only its record).
			err = p.checkpoint("appendonly turned on")
		}
		if err != nil {
			if w := p.log.Load(); w != nil {
				w.Close()
			}
			store.Close()
			s.persist = nil
			return err
		}
	}
	// The replayed tail counts as changes since the last checkpoint, so
	// the save schedule checkpoints it and the next restart replays less.
	s.log.Info("DB loaded from disk", "dir", dir, "checkpoint", rec.Seq, "cold_keys", s.ks.Persist.ColdKeys.Load(),
		"dirty_keys", s.ks.Persist.DirtyKeys.Load(), "seconds", time.Since(start).Seconds())
	if set.Warmup {
		p.warmWG.Add(1)
		go func() {
			defer p.warmWG.Done()
			p.warmUp(set.WarmupMaxMemory)
		}()
	}
	return nil
}

// recover replays the AOF from the checkpoint's position and opens the log
// for appending.
func (p *persistence) recover(rec disktier.Record, hasRec bool) error {
	if err := p.aofOp.FS.MkdirAll(p.aofOp.Dir, 0o755); err != nil {
		return fmt.Errorf("persistence: create %s: %w", p.aofOp.Dir, err)
	}
	from := aof.Pos{Seg: rec.AOFSegment, Off: int64(rec.AOFOffset)}
	if hasRec && from.IsZero() {
		// The checkpoint was taken with appendonly off: every segment
		// there is older than it.
		if err := p.removeSegments(); err != nil {
			return err
		}
	}
	p.loading.Store(true)
	p.srv.ks.SetLoading(true)
	defer func() {
		p.srv.ks.SetLoading(false)
		p.loading.Store(false)
	}()
	r := newReplayer(p.srv)
	rep, err := aof.Replay(p.aofOp, from, r.apply)
	if err != nil {
		var ce *aof.CorruptionError
		if errors.As(err, &ce) {
			return fmt.Errorf("%w\nThe AOF is damaged at %s offset %d. To repair it, stop the server, back up %s, and run `go run ./cmd/structd check-aof --fix %s` (it moves the damaged part to .broken files), then start again",
				err, ce.File, ce.Offset, p.aofOp.Dir, p.dir)
		}
		return err
	}
	if t := rep.Truncated; t != nil && t.Unwritten {
		p.srv.log.Info("trimmed the AOF's unused reserved space", "cut", t.String())
	} else if t != nil {
		p.srv.log.Warn("!!! Warning: short read while loading the AOF: the last command was cut by a crash and has been removed (aof-load-truncated)",
			"cut", t.String())
	}
	if r.errors > 0 {
		p.srv.log.Warn("AOF commands answered with errors while replaying", "count", r.errors, "first", r.firstErr)
	}
	w, err := aof.Open(p.aofOp)
	if err != nil {
		return err
	}
	p.log.Store(w)
	p.logBase.Store(0)
	p.srv.log.Info("AOF replayed", "from", from.String(), "commands", rep.Commands, "segments", rep.Segments)
	return nil
}

// removeSegments deletes every AOF segment: they predate the checkpoint.
// Files Repair moved aside (".broken") stay.
func (p *persistence) removeSegments() error {
	names, err := p.aofOp.FS.List(p.aofOp.Dir)
	if err != nil {
		return fmt.Errorf("persistence: list %s: %w", p.aofOp.Dir, err)
	}
	for _, n := range names {
		suffix, ok := strings.CutPrefix(n, p.aofOp.Name+".")
		if !ok || strings.Trim(suffix, "0123456789") != "" {
			continue
		}
		if err := p.aofOp.FS.Remove(filepath.Join(p.aofOp.Dir, n)); err != nil {
			return fmt.Errorf("persistence: remove stale AOF segment: %w", err)
		}
	}
	return nil
}

func syncMode(s string) aof.SyncMode {
	m, _ := aof.ParseSyncMode(s)
	return m
}

// replayer applies logged commands through the command table, as one
// client with no connection whose replies are discarded (Redis's fake AOF
// client). MULTI and EXEC are dropped: a block is whole or absent already.
type replayer struct {
	srv      *Server
	session  commands.Session
	w        resp.Writer
	ctx      commands.Ctx
	errors   int
	firstErr string
}

func newReplayer(s *Server) *replayer {
	r := &replayer{srv: s}
	r.session.Authenticated = true
	r.session.Proto = 2
	r.ctx = commands.Ctx{W: &r.w, Session: &r.session, Server: s, KS: s.ks}
	return r
}

func (r *replayer) apply(db int, args [][]byte) error {
	cmd := r.srv.table.Resolve(args)
	if cmd == nil {
		return fmt.Errorf("unknown command '%s' in the AOF", args[0])
	}
	switch cmd.Name {
	case "multi", "exec":
		return nil
	}
	if !cmd.ArityOK(len(args)) {
		return fmt.Errorf("wrong number of arguments for '%s' in the AOF", cmd.Name)
	}
	r.session.DB = db
	r.ctx.Args = args
	r.w.Reset()
	commands.Exec(&r.ctx, cmd)
	if len(r.w.Buf) > 0 && r.w.Buf[0] == '-' {
		reply := strings.TrimRight(string(r.w.Buf[1:]), "\r\n")
		if strings.HasPrefix(reply, "ERR disk tier") {
			return errors.New(reply)
		}
		if r.errors == 0 {
			r.firstErr = reply
		}
		r.errors++
	}
	return nil
}

// logEffects appends a command's effects to the AOF (wrapped in MULTI/EXEC
// when there are several), or does nothing while appendonly is off. With
// commits, the caller commits them itself (the event loop: aof.Writer.
// AppendToCommit).
func (p *persistence) logEffects(effects []commands.Effect, commits bool) (aof.Pos, error) {
	w := p.log.Load()
	if w == nil {
		return aof.Pos{}, nil
	}
	batch := effects
	if len(effects) > 1 {
		batch = make([]aof.Command, 0, len(effects)+2)
		batch = append(batch, aof.Command{DB: effects[0].DB, Args: [][]byte{[]byte("MULTI")}})
		batch = append(batch, effects...)
		batch = append(batch, aof.Command{DB: effects[len(effects)-1].DB, Args: [][]byte{[]byte("EXEC")}})
	}
	if commits {
		return w.AppendToCommit(batch)
	}
	return w.AppendBatch(batch)
}

// logExpired logs the deletion of a key whose TTL passed, as Redis
// propagates a DEL (invariant 3: the log never relies on the clock).
func (p *persistence) logExpired(db *memtier.DB, key string) {
	if w := p.log.Load(); w != nil {
		w.Append(db.ID(), [][]byte{[]byte("DEL"), []byte(key)})
	}
}

// writeError is the MISCONF error writes get while the data cannot be made
// durable, or "" when they may run.
func (p *persistence) writeError() string {
	if w := p.log.Load(); w != nil {
		if err := w.Err(); err != nil {
			return "MISCONF Errors writing to the AOF file: " + err.Error()
		}
	}
	if !p.lastOK.Load() && p.srv.cfg.PersistenceSettings().StopWritesOnBgsaveError {
		return "MISCONF StructD is configured to save checkpoints, but it's currently unable to persist to disk. " +
			"Commands that may modify the data set are disabled, because this instance is configured to report errors " +
			"during writes if checkpoints fail (stop-writes-on-bgsave-error option). Please check the server logs for details about the error."
	}
	return ""
}

// waitDurable blocks, under appendfsync always, until the log up to pos is
// fsynced, before a reply acknowledges it. Under everysec and no replies do
// not wait: the flusher writes within moments, and what a crash loses is
// bounded by the second everysec allows.
func (p *persistence) waitDurable(pos aof.Pos) error {
	w := p.syncingLog()
	if w == nil || pos.IsZero() {
		return nil
	}
	return w.Wait(pos)
}

// syncingLog is the log when replies must wait for its fsync (appendfsync
// always), else nil.
func (p *persistence) syncingLog() *aof.Writer {
	if p == nil {
		return nil
	}
	if w := p.log.Load(); w != nil && w.SyncsEachWrite() {
		return w
	}
	return nil
}

// checkpoint takes a checkpoint now and records its outcome for INFO,
// LASTSAVE and the schedule. It waits for a running one to finish first.
func (p *persistence) checkpoint(reason string) error {
	p.saveMu.Lock()
	defer p.saveMu.Unlock()
	return p.runCheckpoint(reason)
}

// runCheckpoint is checkpoint with saveMu held.
func (p *persistence) runCheckpoint(reason string) error {
	p.saving.Store(true)
	defer p.saving.Store(false)
	now := time.Now()
	p.saveStarted.Store(now.UnixMilli())
	p.lastTry.Store(now.Unix())
	dirty := p.srv.ks.Stats.Dirty.Load()
	w := p.log.Load()
	if w != nil {
		p.ckpt.Log = w
	} else {
		p.ckpt.Log = nil
	}
	defer p.srv.useAllCPUs()()
	if ks := p.srv.ks; ks.Persist.DirtyKeys.Load()*10 >= ks.KeyCount() {
		// A long checkpoint: collect the garbage already there first, so
		// what is allocated while it runs reuses memory the process holds
		// instead of touching pages it never used. The checkpoint waits
		// for it (seconds with millions of keys): run in the background,
		// the collection ran along most of the walk and the process grew
		// by 58 MiB instead of 6-15 (8M keys, bench/persistence). A short
		// checkpoint makes little garbage and is not worth a collection
		// of the whole heap.
		runtime.GC()
	}
	mem := watchMemory(10*time.Millisecond, p.srv.ks.KeyCount)
	res, err := p.ckpt.Run()
	rssGrowth, heapGrowth, goGrowth := mem.Stop()
	p.lastDuration.Store(time.Since(now).Milliseconds())
	if err != nil {
		p.lastOK.Store(false)
		p.lastErr.Store(&err)
		p.srv.log.Error("checkpoint failed", "reason", reason, "err", err)
		return err
	}
	p.measureBase() // before the count: whoever sees the checkpoint sees its base
	p.saves.Add(1)
	p.lastOK.Store(true)
	p.lastSave.Store(res.Record.TimeMs / 1000)
	p.dirtyAtSave.Store(dirty)
	p.lastBytes.Store(res.Record.Bytes)
	p.lastKeys.Store(res.Record.Keys + res.Record.Deletes)
	p.peakExtra.Store(rssGrowth)
	p.peakBuffers.Store(res.PeakExtraMemory)
	if w != nil {
		p.logBase.Store(w.Stats().Bytes)
	} else if err := p.removeSegments(); err != nil {
		p.srv.log.Warn("stale AOF segments not removed", "err", err)
	}
	p.srv.log.Info("checkpoint done", "reason", reason, "seq", res.Record.Seq, "keys", res.Record.Keys,
		"deletes", res.Record.Deletes, "bytes", res.Record.Bytes, "spill_bytes", res.SpillBytes,
		"ms", res.Duration.Milliseconds(), "rss_growth", rssGrowth, "heap_growth", heapGrowth,
		"go_runtime_growth", goGrowth, "buffers", res.PeakExtraMemory)
	return nil
}

// backgroundSave starts a checkpoint in the background; false if one is
// already running.
func (p *persistence) backgroundSave(reason string) bool {
	if !p.saving.CompareAndSwap(false, true) {
		return false
	}
	p.srv.wg.Add(1)
	go func() {
		defer p.srv.wg.Done()
		p.checkpoint(reason)
		if p.saveScheduled.Swap(false) {
			p.backgroundSave("scheduled")
		}
	}()
	return true
}

// measureBase sets the AOF-growth base to the store's logical size: the
// dataset as Redis's base AOF would hold it. Its size on disk is no base:
// data that compresses well would make checkpoints many times more
// frequent than Redis's rewrites (redis-benchmark's values, all alike,
// shrink 24-fold), and each costs the writers its front-runs.
func (p *persistence) measureBase() {
	n, err := p.store.LogicalSize()
	if err != nil {
		p.srv.log.Warn("the store's logical size is unknown; the AOF-growth base is its size on disk", "err", err)
		n = p.store.DiskSize()
	}
	p.aofBaseSize.Store(n)
}

// cron runs the checkpoint schedule: the save points, and AOF growth
// (auto-aof-rewrite-*), which keeps the replayed tail short (invariant 4).
func (p *persistence) cron() {
	set := p.srv.cfg.PersistenceSettings()
	if !p.baseMeasured && p.saveMu.TryLock() {
		// Under saveMu: a replica's full sync may be replacing the store.
		p.measureBase()
		p.baseMeasured = true
		p.saveMu.Unlock()
	}
	p.enforceMaxMemory(set.MaxMemory)
	if p.saving.Load() {
		return
	}
	now := time.Now().Unix()
	if !p.lastOK.Load() && now-p.lastTry.Load() < int64(saveRetryDelay/time.Second) {
		return
	}
	changes := p.srv.ks.Stats.Dirty.Load() - p.dirtyAtSave.Load()
	for _, sp := range set.SavePoints() {
		if changes >= sp[1] && now-p.lastSave.Load() >= sp[0] {
			p.backgroundSave(fmt.Sprintf("%d changes in %d seconds", sp[1], sp[0]))
			return
		}
	}
	// As Redis rewrites its AOF once it has grown by the percentage over
	// the base written by the last rewrite (and is at least the minimum
	// size), a checkpoint runs once the AOF since the last one is that
	// percentage of the store's logical size, and at least the minimum.
	if w := p.log.Load(); w != nil && set.AutoAOFRewritePercentage > 0 {
		size := w.Stats().Bytes - p.logBase.Load()
		if size >= set.AutoAOFRewriteMinSize && size*100 >= int64(set.AutoAOFRewritePercentage)*p.aofBaseSize.Load() {
			p.backgroundSave("AOF growth")
		}
	}
}

// evictionSlotsPerTick bounds the slots one cron tick sweeps for clean keys
// to drop, so a tick stays short.
const evictionSlotsPerTick = 4096

// enforceMaxMemory keeps memory under maxmemory (invariant 7): clean keys,
// least recently used first (by sweeping with a falling idle threshold),
// are dropped from memory; when too few are clean, a checkpoint runs to
// make dirty keys clean. Dropped values are garbage until the collector's
// next cycle, so their bytes count as freed until then, or the sweep would
// drop everything while it waits.
func (p *persistence) enforceMaxMemory(max int64) {
	if max <= 0 {
		return
	}
	metrics.Read(gcCycles)
	if n := gcCycles[0].Value.Uint64(); n != p.evictGC {
		p.evictGC, p.evictPending = n, 0
	}
	used, _ := commands.MemoryUsage()
	over := int64(used) - p.evictPending - max
	if over <= 0 {
		if p.evictIdle < 3600 {
			p.evictIdle++ // slowly back towards dropping only idle data
		}
		return
	}
	target := over + max/10
	_, freed := p.srv.ks.UnloadClean(&p.evictCursor, target, p.evictIdle, evictionSlotsPerTick)
	p.evictPending += freed
	if p.evictPending > max/4 {
		// Much is garbage now: collect it rather than wait for
		// allocation to trigger the collector (an idle server never
		// would), so used memory reflects what was dropped.
		runtime.GC()
		p.evictPending = 0
		metrics.Read(gcCycles)
		p.evictGC = gcCycles[0].Value.Uint64()
	}
	if freed >= target {
		return
	}
	if p.evictIdle > 0 {
		p.evictIdle /= 2
		return
	}
	if p.srv.ks.Persist.DirtyKeys.Load() > 0 && p.backgroundSave("memory pressure") {
		p.srv.log.Info("memory above maxmemory with too few clean keys: checkpointing", "used", used, "maxmemory", max)
	}
}

// gcCycles reads the garbage collector's cycle count (enforceMaxMemory).
var gcCycles = []metrics.Sample{{Name: "/gc/cycles/total:gc-cycles"}}

// warmUp loads cold keys in the background, slot by slot, until every key
// is in memory or the heap reaches budget bytes (0 = no limit). One
// goroutine per CPU (at most 4) loads its share of the slots of every
// database: reading blocks, decompressing and decoding them is CPU work,
// and each slot is loaded under its own lock.
func (p *persistence) warmUp(budget int64) {
	p.warming.Store(true)
	defer p.warming.Store(false)
	start := time.Now()
	ks := p.srv.ks
	defer p.srv.useAllCPUs()()
	if budget > 0 && !p.warmHotKeys(budget) {
		return
	}
	n := min(runtime.NumCPU(), 4) // goroutines: the boost gives them the CPUs
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := range n {
		from, to := i*memtier.NumSlots/n, (i+1)*memtier.NumSlots/n
		wg.Go(func() {
			for db := 0; db < ks.NumDBs() && !stop.Load(); db++ {
				w := ks.NewWarmer(db)
				for s := from; s < to; s++ {
					if stop.Load() || p.srv.ctx.Err() != nil || p.warmStop.Load() || ks.Persist.ColdKeys.Load() == 0 {
						stop.Store(true)
						break
					}
					if budget > 0 && s%64 == 0 {
						if used, _ := commands.MemoryUsage(); int64(used) >= budget {
							if !stop.Swap(true) {
								p.srv.log.Info("warm-up stopped at its memory budget", "budget", budget)
							}
							break
						}
					}
					p.warmedKey.Add(p.warmSlot(w, s))
				}
				if err := w.Close(); err != nil {
					p.srv.log.Warn("warm-up reader not closed", "db", db, "err", err)
				}
			}
		})
	}
	wg.Wait()
	p.srv.log.Info("warm-up done", "keys", p.warmedKey.Load(), "cold_keys", ks.Persist.ColdKeys.Load(),
		"seconds", time.Since(start).Seconds())
}

// stopWarmUp stops the warm-up, if it runs, and waits for it to end.
func (p *persistence) stopWarmUp() {
	p.warmStop.Store(true)
	p.warmWG.Wait()
}

// hotKeysSaved is how many of the most recently used keys a stopping
// server records for the next start's warm-up (memtier.HotKeys).
const hotKeysSaved = 1 << 20

// warmHotKeys loads the keys that were the most recently used when the
// server last stopped, most recent first, until the memory budget is
// reached; it reports whether memory is left for the slot-by-slot pass.
// A warm-up with a budget thus holds what was hot, not the first slots.
func (p *persistence) warmHotKeys(budget int64) bool {
	hot, err := p.store.HotKeys()
	if err != nil {
		p.srv.log.Warn("warm-up without the list of hot keys", "err", err)
		return true
	}
	for i, k := range hot {
		if p.srv.ctx.Err() != nil || p.warmStop.Load() {
			return false
		}
		if i%256 == 0 {
			if used, _ := commands.MemoryUsage(); int64(used) >= budget {
				p.srv.log.Info("warm-up stopped at its memory budget among the hot keys", "budget", budget, "hot_keys_loaded", i)
				return false
			}
		}
		if p.warmKey(k) {
			p.warmedKey.Add(1)
		}
	}
	return true
}

// warmKey loads one key of the hot-key list, logging (not failing on) a
// disk error as warmSlot does.
func (p *persistence) warmKey(k memtier.HotKey) (loaded bool) {
	defer p.logWarmUpDiskError("a key")
	return p.srv.ks.WarmKey(k.DB, []byte(k.Key))
}

// logWarmUpDiskError, deferred, logs a disk error the warm-up met (a
// memtier.DiskError panic) instead of failing: the keys it could not read
// stay cold, and a client reading one gets the error. Other panics go on.
func (p *persistence) logWarmUpDiskError(what string) {
	if v := recover(); v != nil {
		de, ok := v.(*memtier.DiskError)
		if !ok {
			panic(v)
		}
		p.srv.log.Error("warm-up cannot read "+what, "err", de)
	}
}

// warmSlot loads one slot, logging (not failing on) a disk error: the keys
// stay cold and a client reading one gets the error.
func (p *persistence) warmSlot(w *memtier.Warmer, s int) (n int64) {
	defer p.logWarmUpDiskError("a slot")
	return w.WarmSlot(s)
}

// setAppendOnly turns the AOF on or off at run time (CONFIG SET
// appendonly). Turning it on opens a new segment and takes a checkpoint
// whose position is that segment's start, as Redis rewrites the AOF.
func (p *persistence) setAppendOnly(on bool) error {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	cur := p.log.Load()
	switch {
	case on && cur == nil:
		if err := p.aofOp.FS.MkdirAll(p.aofOp.Dir, 0o755); err != nil {
			return err
		}
		w, err := aof.Open(p.aofOp)
		if err != nil {
			return err
		}
		p.log.Store(w)
		p.logBase.Store(0)
		if !p.backgroundSave("appendonly turned on") {
			p.saveScheduled.Store(true)
		}
	case !on && cur != nil:
		p.log.Store(nil)
		if err := cur.Close(); err != nil {
			p.srv.log.Warn("closing the AOF", "err", err)
		}
	}
	return nil
}

// close syncs and closes the AOF and the store, after a final checkpoint
// when asked to.
func (p *persistence) close(save bool) error {
	var errs []error
	if save {
		errs = append(errs, p.checkpoint("shutdown"))
	}
	p.saveMu.Lock() // let a background checkpoint finish
	defer p.saveMu.Unlock()
	if err := p.store.SaveHotKeys(p.srv.ks.HotKeys(hotKeysSaved)); err != nil {
		p.srv.log.Warn("the list of hot keys for the next warm-up is not saved", "err", err)
	}
	p.logMu.Lock()
	if w := p.log.Load(); w != nil {
		errs = append(errs, w.Close())
		p.log.Store(nil)
	}
	p.logMu.Unlock()
	errs = append(errs, p.store.Close())
	return errors.Join(errs...)
}

// info is INFO persistence's figures.
func (p *persistence) info() commands.PersistenceInfo {
	in := commands.PersistenceInfo{
		Enabled:          true,
		Loading:          p.loading.Load(),
		ChangesSinceSave: p.srv.ks.Stats.Dirty.Load() - p.dirtyAtSave.Load(),
		Saving:           p.saving.Load(),
		LastSave:         p.lastSave.Load(),
		LastSaveOK:       p.lastOK.Load(),
		LastSaveSeconds:  -1,
		CurrentSeconds:   -1,
		Saves:            p.saves.Load(),
		DirtyKeys:        p.srv.ks.Persist.DirtyKeys.Load(),
		ColdKeys:         p.srv.ks.Persist.ColdKeys.Load(),
		LastBytes:        p.lastBytes.Load(),
		LastKeys:         p.lastKeys.Load(),
		LastMillis:       p.lastDuration.Load(),
		PeakExtraMemory:  p.peakExtra.Load(),
		PeakBuffers:      p.peakBuffers.Load(),
		Warming:          p.warming.Load(),
		UnloadedKeys:     p.srv.ks.Persist.Unloaded.Load(),
	}
	if p.saves.Load() > 0 || !p.lastOK.Load() {
		in.LastSaveSeconds = (p.lastDuration.Load() + 500) / 1000
	}
	if in.Saving {
		in.CurrentSeconds = (time.Now().UnixMilli() - p.saveStarted.Load()) / 1000
	}
	if w := p.log.Load(); w != nil {
		st := w.Stats()
		in.AOFEnabled = true
		in.AOFWriteOK = st.Err == nil
		in.AOFBaseSize = p.aofBaseSize.Load()
		in.AOFCurrentSize = in.AOFBaseSize + st.Bytes - p.logBase.Load()
		in.AOFMode = st.Mode.String()
	} else {
		in.AOFWriteOK = true
	}
	return in
}

// persistenceSettingsChanged applies CONFIG SET of the persistence
// directives that act at once: appendonly and appendfsync.
func (s *Server) persistenceSettingsChanged(set config.Persistence) error {
	p := s.persist
	if p == nil {
		if set.Enabled() {
			return errors.New("persistence was off at startup (appendonly no, save \"\"): restart with it on")
		}
		return nil
	}
	if w := p.log.Load(); w != nil {
		w.SetSyncMode(syncMode(set.AppendFsync))
	}
	p.aofOp.Sync = syncMode(set.AppendFsync)
	return p.setAppendOnly(set.AppendOnly)
}

// Persistence implements commands.Server.
func (s *Server) Persistence() commands.Persistence {
	if s.persist == nil {
		return nil
	}
	return s.persist
}

// ApplyConfig implements commands.Server.
func (s *Server) ApplyConfig() error {
	h := replicationHost{s}.Settings()
	s.repl.SetBacklogSize(h.BacklogSize, h.BacklogLimit)
	return s.persistenceSettingsChanged(s.cfg.PersistenceSettings())
}

// Save implements commands.Persistence.
func (p *persistence) Save() error { return p.checkpoint("SAVE") }

// BackgroundSave implements commands.Persistence.
func (p *persistence) BackgroundSave(schedule bool) bool {
	if p.backgroundSave("BGSAVE") {
		return true
	}
	if schedule {
		p.saveScheduled.Store(true)
	}
	return false
}

// LastSave implements commands.Persistence.
func (p *persistence) LastSave() int64 { return p.lastSave.Load() }

// Info implements commands.Persistence.
func (p *persistence) Info() commands.PersistenceInfo { return p.info() }
