package config

import (
	"errors"
	"strconv"
	"strings"
)

// Persistence is how the dataset is kept on disk: the redo log (AOF) and
// the checkpoint schedule. Persistence is on by default: the data lives in
// Pebble under Dir, the AOF covers what changed since the last checkpoint,
// and checkpoints run on Redis's default save schedule. appendonly no
// keeps checkpoints only (as RDB snapshots); appendonly no with save ""
// is a pure in-memory cache that opens nothing on disk.
type Persistence struct {
	AppendOnly     bool   // appendonly
	AppendFsync    string // appendfsync: always, everysec, no
	AppendFilename string // appendfilename: the segments' base name
	AppendDirname  string // appenddirname: the segments' directory under dir
	// Save is the checkpoint schedule, "seconds changes ..." pairs ("" =
	// none): a checkpoint runs once both have passed since the last one.
	Save string
	// StopWritesOnBgsaveError refuses writes with MISCONF while the last
	// checkpoint failed (stop-writes-on-bgsave-error).
	StopWritesOnBgsaveError bool
	// AutoAOFRewritePercentage and AutoAOFRewriteMinSize trigger a
	// checkpoint (which shortens the AOF, as Redis's rewrite does) when the
	// AOF since the last one has grown by that percentage of its size
	// after it and is at least that big (0 percent = never).
	AutoAOFRewritePercentage int
	AutoAOFRewriteMinSize    int64
	// Warmup loads cold keys into memory in the background after a
	// restart, up to WarmupMaxMemory bytes of values (0 = no limit).
	Warmup          bool
	WarmupMaxMemory int64
	// MaxMemory is the memory budget (maxmemory, 0 = none). With
	// persistence on, clean keys beyond it are dropped from memory (they
	// stay on disk) and a checkpoint runs when dirty keys fill it; as a
	// pure cache, writes that may grow memory are refused with OOM, as
	// Redis's noeviction policy does.
	MaxMemory int64
}

// DefaultPersistence is StructD's default: AOF on (everysec) and Redis's
// default save schedule.
var DefaultPersistence = Persistence{
	AppendOnly:               true,
	AppendFsync:              "everysec",
	AppendFilename:           "appendonly.aof",
	AppendDirname:            "appendonlydir",
	Save:                     "3600 1 300 100 60 10000",
	StopWritesOnBgsaveError:  true,
	AutoAOFRewritePercentage: 100,
	AutoAOFRewriteMinSize:    64 << 20,
}

// Enabled reports whether anything is kept on disk.
func (p *Persistence) Enabled() bool { return p.AppendOnly || p.Save != "" }

// SavePoints parses Save into (seconds, changes) pairs.
func (p *Persistence) SavePoints() [][2]int64 {
	f := strings.Fields(p.Save)
	var pts [][2]int64
	for i := 0; i+1 < len(f); i += 2 {
		sec, _ := strconv.ParseInt(f[i], 10, 64)
		ch, _ := strconv.ParseInt(f[i+1], 10, 64)
		pts = append(pts, [2]int64{sec, ch})
	}
	return pts
}

func init() {
	boolDirective("appendonly", func(c *Config) *bool { return &c.Persistence.AppendOnly })
	enumDirective("appendfsync", func(c *Config) *string { return &c.Persistence.AppendFsync }, "everysec", "always", "no")
	fileName := func(v string) error {
		if v == "" || strings.ContainsAny(v, "/\\") {
			return errors.New("appendfilename can't be a path, just a filename")
		}
		return nil
	}
	define(&directive{
		name: "appendfilename", immutable: true,
		get: func(c *Config) string { return c.Persistence.AppendFilename },
		set: func(c *Config, args []string) error {
			v, err := one(args)
			if err == nil {
				err = fileName(v)
			}
			if err != nil {
				return err
			}
			c.Persistence.AppendFilename = v
			return nil
		},
	})
	define(&directive{
		name: "appenddirname", immutable: true,
		get: func(c *Config) string { return c.Persistence.AppendDirname },
		set: func(c *Config, args []string) error {
			v, err := one(args)
			if err != nil {
				return err
			}
			if v == "" || strings.ContainsAny(v, "/\\") {
				return errors.New("appenddirname can't be a path, just a dirname")
			}
			c.Persistence.AppendDirname = v
			return nil
		},
	})
	define(&directive{
		name: "save", multiArg: true,
		get: func(c *Config) string { return c.Persistence.Save },
		set: func(c *Config, args []string) error {
			if len(args) == 1 {
				// save "3600 1 300 100" (one quoted word), as Redis 7
				// accepts on the command line and in a config file.
				if args = strings.Fields(args[0]); len(args) == 0 {
					c.Persistence.Save = ""
					return nil
				}
			}
			if len(args) == 0 || len(args)%2 != 0 {
				return errors.New("Invalid save parameters")
			}
			for _, a := range args {
				if n, err := strconv.Atoi(a); err != nil || n < 1 {
					return errors.New("Invalid save parameters")
				}
			}
			c.Persistence.Save = strings.Join(args, " ")
			return nil
		},
	})
	boolDirective("stop-writes-on-bgsave-error", func(c *Config) *bool { return &c.Persistence.StopWritesOnBgsaveError })
	intDirective("auto-aof-rewrite-percentage", func(c *Config) *int { return &c.Persistence.AutoAOFRewritePercentage }, 0, 1<<31-1, false)
	memDirective("auto-aof-rewrite-min-size", func(c *Config) *int64 { return &c.Persistence.AutoAOFRewriteMinSize }, 0, false)
	boolDirective("warmup", func(c *Config) *bool { return &c.Persistence.Warmup })
	memDirective("maxmemory", func(c *Config) *int64 { return &c.Persistence.MaxMemory }, 0, false)
	memDirective("warmup-max-memory", func(c *Config) *int64 { return &c.Persistence.WarmupMaxMemory }, 0, false)
}

// PersistenceSettings returns a copy of the persistence settings.
func (c *Config) PersistenceSettings() Persistence {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.Persistence
}
