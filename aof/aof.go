// Package aof is StructD's redo log (DESIGN.md invariant 3): every write
// since the last checkpoint, as the deterministic commands that replay it
// exactly, in RESP so that redis-check-aof reads it and a replica can
// consume it.
//
// # Files
//
// The log is a run of numbered segment files in one directory,
// "appendonly.aof.000001", "appendonly.aof.000002", ... Each segment is a
// sequence of checksummed blocks; each block is a '#' header line (which
// Redis's loader skips as an annotation) followed by whole RESP multibulk
// commands. FORMAT.md documents the bytes.
//
// There is no manifest. The checkpoint record that Pebble commits names the
// position P(C) replay starts from (invariant 4), and that record is the
// only pointer into the log: segments below P(C).Seg are garbage, the segments
// from P(C).Seg to the highest number must all exist. Writers never reuse a
// number, Open always starts a fresh segment after the highest one, and
// TruncateBefore deletes in ascending order, so a crash at any moment leaves
// a consecutive run of segments.
//
// # Positions
//
// A Pos is (segment number, byte offset in that segment). Append returns the
// position just after its command; the log up to a position is durable once
// Wait(pos) returns under appendfsync always. A checkpoint taken at P
// contains every command ending at or before P, and Replay(from P) applies
// exactly the commands that start at or after P.
//
// # Durability
//
// One goroutine (the flusher) owns the open segment: it writes whatever
// commands were appended since its last write as one block, and fsyncs per
// the appendfsync mode. Under always, every writer waiting in Wait is woken by
// the one fsync that covers it (group commit). A failed write or fsync breaks
// the log: from then on Append, Wait and Sync fail with an error wrapping
// ErrBroken, so no caller is ever told a write is safe when it is not.
package aof

import (
	"errors"
	"fmt"
	"strings"

	"github.com/structd/structd/internal/vfs"
)

// Pos is a position in the log: an offset in a segment.
type Pos struct {
	Seg uint64 // segment number, from 1; 0 only in the zero Pos
	Off int64  // byte offset in the segment
}

// Less orders positions by segment, then offset.
func (p Pos) Less(q Pos) bool {
	return p.Seg < q.Seg || p.Seg == q.Seg && p.Off < q.Off
}

// IsZero reports whether p is the zero Pos, the start of an empty log.
func (p Pos) IsZero() bool { return p == Pos{} }

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Seg, p.Off) }

// SyncMode is appendfsync.
type SyncMode int32

const (
	// SyncEverySec writes commands to the kernel promptly and fsyncs once a
	// second: a power loss loses at most about a second of writes, a
	// process crash loses nothing acknowledged. It is Redis's default.
	SyncEverySec SyncMode = iota
	// SyncAlways fsyncs before Wait returns.
	SyncAlways
	// SyncNo writes to the kernel and leaves fsync to the operating system.
	SyncNo
)

func (m SyncMode) String() string {
	switch m {
	case SyncAlways:
		return "always"
	case SyncNo:
		return "no"
	}
	return "everysec"
}

// ParseSyncMode parses an appendfsync value, case-insensitively as Redis.
func ParseSyncMode(s string) (SyncMode, bool) {
	switch strings.ToLower(s) {
	case "always":
		return SyncAlways, true
	case "everysec":
		return SyncEverySec, true
	case "no":
		return SyncNo, true
	}
	return 0, false
}

// Options configure a log. The zero value of each field is its default.
type Options struct {
	// FS is the file system; default vfs.Default.
	FS vfs.FS
	// Dir is the directory of the segments; it must exist.
	Dir string
	// Name is the segments' base name (appendfilename); default
	// "appendonly.aof".
	Name string
	// Sync is appendfsync; default everysec.
	Sync SyncMode
	// SegmentSize is the size after which Append starts a new segment;
	// default 64 MiB.
	SegmentSize int64
	// BlockSize bounds a block's payload, so replay verifies and holds
	// at most about this much at a time (a single bigger command gets a
	// block of its own); default 1 MiB.
	BlockSize int
}

func (o Options) withDefaults() Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.Name == "" {
		o.Name = "appendonly.aof"
	}
	if o.SegmentSize <= 0 {
		o.SegmentSize = 64 << 20
	}
	if o.BlockSize <= 0 {
		o.BlockSize = 1 << 20
	}
	return o
}

var (
	// ErrBroken wraps the error of a failed write or fsync; once the log is
	// broken every later Append, Wait and Sync returns it. The server
	// answers writes with a MISCONF-style error until it reopens the log.
	ErrBroken = errors.New("aof: log is broken by a failed write or fsync")
	// ErrClosed is returned by calls on a closed Writer.
	ErrClosed = errors.New("aof: log is closed")
)

// CorruptionError is damage replay will not skip: a bad checksum, bytes that
// are not a block, a segment missing from the run, or a segment that ends
// mid-block when it is not the last one. Repair cuts the log there.
type CorruptionError struct {
	File   string // segment file name
	Seg    uint64 // its number
	Offset int64  // offset of the damaged block (0 for a missing segment)
	Reason string
}

func (e *CorruptionError) Error() string {
	return fmt.Sprintf("aof: %s is corrupt at offset %d: %s (aof.Repair cuts the log there, moving what follows aside)",
		e.File, e.Offset, e.Reason)
}

// TruncatedTail describes what follows the last whole block of the last
// segment: a partial write (a crash in the middle of a write), or space
// that was never written. Replay cuts it off (as Redis's aof-load-truncated
// yes) and reports it so the caller logs a warning for a partial write.
type TruncatedTail struct {
	File    string
	Offset  int64 // where the last whole block ends: the new size
	Dropped int64 // bytes cut off
	// Unwritten is set when every byte cut off is zero: space the writer
	// reserved under appendfsync always and a crash left unused (or a file
	// the file system extended and a crash left unwritten). No command was
	// lost there.
	Unwritten bool
}

func (t *TruncatedTail) String() string {
	if t.Unwritten {
		return fmt.Sprintf("aof: %s ends with %d bytes never written (zeros): cut at offset %d", t.File, t.Dropped, t.Offset)
	}
	return fmt.Sprintf("aof: %s ends with a partial write: cut %d bytes at offset %d", t.File, t.Dropped, t.Offset)
}
