package disktier

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// Options configure a Store. The zero value gives every default.
type Options struct {
	// CacheSize is the block cache in bytes, shared by all reads.
	// Default 64 MB. Pebble's own default (8 MB) gives no hits on a
	// dataset of any size.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes. Checkpoints ingest
	// SSTs and bypass it; it only buffers Batch writes (FLUSHDB outside a
	// checkpoint, tools). Default 32 MB.
	MemTableSize uint64
	// CompactionConcurrency is the most compactions run at once.
	// Default: a quarter of the CPUs, at least 1 and at most 4, so
	// compactions never starve the command goroutines.
	CompactionConcurrency int
	// Compression is the block compression of every level; see FORMAT.md
	// for the measurement that chose it. Default CompressionZstd1.
	Compression Compression
	// BlockSize is the target size of an SST data block before
	// compression. Default 32 KB (Pebble's is 4 KB): bigger blocks make
	// zstd's per-block cost smaller for checkpoints and warm-up, which
	// write and read whole slots, at the cost of reading 32 KB to fault
	// in one cold key (BenchmarkBlockSize, FORMAT.md).
	BlockSize int
	// Logger receives Pebble's events at Info (flushes, compactions, ingests)
	// and errors at Error. Default: slog.Default() at Debug for info, so
	// Pebble stays quiet unless the process enables debug logging.
	Logger *slog.Logger
	// FS is the file system Pebble runs on. Default vfs.Default; tests pass
	// vfs.NewMem() or a fault-injecting FS.
	FS vfs.FS
}

// Compression names a block compression.
type Compression uint8

// The block compressions.
const (
	// CompressionZstd1 is zstd level 1 for data blocks and MinLZ for the
	// others, storing a block uncompressed when zstd saves under 5%
	// (Pebble's "Balanced" profile). With cgo (the default here) zstd is
	// the C library through DataDog/zstd.
	CompressionZstd1  Compression = iota
	CompressionZstd3              // zstd level 3 for every block
	CompressionSnappy             // Snappy, Pebble's own default
	CompressionMinLZ              // MinLZ (fastest level)
	CompressionNone               // no compression
)

func (c Compression) profile() *sstable.CompressionProfile {
	switch c {
	case CompressionZstd3:
		return sstable.ZstdCompression
	case CompressionSnappy:
		return sstable.SnappyCompression
	case CompressionMinLZ:
		return sstable.MinLZCompression
	case CompressionNone:
		return sstable.NoCompression
	}
	return sstable.BalancedCompression
}

// Defaults.
const (
	DefaultCacheSize    = 64 << 20
	DefaultMemTableSize = 32 << 20
	DefaultBlockSize    = 32 << 10
)

func (o *Options) withDefaults() Options {
	d := *o
	if d.BlockSize <= 0 {
		d.BlockSize = DefaultBlockSize
	}
	if d.CacheSize <= 0 {
		d.CacheSize = DefaultCacheSize
	}
	if d.MemTableSize == 0 {
		d.MemTableSize = DefaultMemTableSize
	}
	if d.CompactionConcurrency <= 0 {
		d.CompactionConcurrency = min(max(runtime.NumCPU()/4, 1), 4)
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.FS == nil {
		d.FS = vfs.Default
	}
	return d
}

// Store is the disk tier: one Pebble database in a directory holding every
// key of every database as of the last checkpoint (invariant 1). Reads are
// safe from any goroutine. Writes come from one owner at a time: the
// checkpoint (Checkpoint, IngestCheckpoint) or a Batch, never both at once,
// since both read the state they change to keep the key counts right.
type Store struct {
	db   *pebble.DB
	po   *pebble.Options
	fs   vfs.FS
	dir  string
	opts Options
	// closed makes Close idempotent (Pebble panics on a second Close).
	closed bool
	// changes counts the commits that changed the store (ingestions,
	// batches), incremented once each has returned: a SlotReader whose
	// iterator predates a change reopens it.
	changes atomic.Uint64
}

// Open opens (creating if needed) the store in dir.
func Open(dir string, o Options) (*Store, error) {
	o = o.withDefaults()
	cache := pebble.NewCache(o.CacheSize)
	defer cache.Unref() // Pebble holds its own reference
	conc := o.CompactionConcurrency
	po := &pebble.Options{
		FS:                         o.FS,
		Cache:                      cache,
		MemTableSize:               o.MemTableSize,
		FormatMajorVersion:         pebble.FormatNewest,
		CompactionConcurrencyRange: func() (int, int) { return 1, conc },
		Logger:                     slogLogger{o.Logger},
		// Pebble's default reaction to a failed block checksum is Fatalf;
		// ours is to log it and let the read return its error, so one
		// bad block fails the reads that touch it, not the process.
		EventListener: &pebble.EventListener{
			DataCorruption: func(info pebble.DataCorruptionInfo) {
				o.Logger.Error("disktier: on-disk corruption", "path", info.Path, "err", info.Details.Error())
			},
		},
	}
	profile := o.Compression.profile()
	for i := range po.Levels {
		po.Levels[i].Compression = func() *sstable.CompressionProfile { return profile }
		po.Levels[i].BlockSize = o.BlockSize
	}
	po.EnsureDefaults()
	db, err := pebble.Open(dir, po)
	if err != nil {
		return nil, fmt.Errorf("disktier: open %s: %w", dir, err)
	}
	return &Store{db: db, po: po, fs: o.FS, dir: dir, opts: o}, nil
}

// Close closes the store; closing again does nothing. Batches and
// checkpoints must be finished first.
func (s *Store) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("disktier: close %s: %w", s.dir, err)
	}
	return nil
}

// Pebble returns the underlying database, for metrics and tools.
func (s *Store) Pebble() *pebble.DB { return s.db }

// DiskSize is the space the store's files take on disk, in bytes: the
// dataset as of the last checkpoint (and Pebble's own files).
func (s *Store) DiskSize() int64 { return int64(s.db.Metrics().DiskSpaceUsage()) }

// LogicalSize is the size of the tables' keys and values before
// compression, as their properties record it: the dataset's size as a
// Redis base AOF or RDB of it would be, where DiskSize can be many times
// smaller for data that compresses well. It reads every table's
// properties (cached once a table is open): call it off the command path.
// A virtual table (none is made today: nothing excises) counts its size on
// disk, a lower bound.
func (s *Store) LogicalSize() (int64, error) {
	levels, err := s.db.SSTables(pebble.WithProperties())
	if err != nil {
		return 0, err
	}
	var n int64
	for _, tables := range levels {
		for _, t := range tables {
			if t.Virtual || t.Properties == nil {
				n += int64(t.Size)
				continue
			}
			n += int64(t.Properties.RawKeySize + t.Properties.RawValueSize)
		}
	}
	return n, nil
}

// slogLogger is Pebble's Logger over slog: Pebble's chatty Infof (every
// flush and compaction) goes to Debug, errors to Error. Fatalf logs and
// panics, as Pebble's contract requires (it never returns).
type slogLogger struct{ l *slog.Logger }

func (l slogLogger) Infof(format string, args ...any) {
	if !l.l.Enabled(context.Background(), slog.LevelDebug) {
		return
	}
	l.l.Debug(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l slogLogger) Errorf(format string, args ...any) {
	l.l.Error(fmt.Sprintf(format, args...), "component", "pebble")
}

func (l slogLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	l.l.Error(msg, "component", "pebble")
	panic("disktier: pebble: " + msg)
}
