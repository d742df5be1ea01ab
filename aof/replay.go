package aof

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/structd/structd/internal/vfs"
)

// ReplayFunc applies one logged command to database db. args alias a buffer
// that is reused for the next command: copy what you keep.
type ReplayFunc func(db int, args [][]byte) error

// Report is what Replay, Check and Repair found.
type Report struct {
	From     Pos // where replay started
	End      Pos // end of the last whole block: the end of the valid log
	Segments int // segments read
	Commands int // commands from From on, SELECTs excluded
	// Truncated is set when the last segment ended with a partial write.
	// Replay and Repair cut it off; Check only reports it.
	Truncated *TruncatedTail
	// Cut is set when Repair cut the log at corruption.
	Cut *Cut
}

// Cut is what Repair did: the log now ends at At, and the bytes and
// segments after it were moved aside, never deleted.
type Cut struct {
	At         Pos
	Reason     string
	MovedAside []string // file names holding what was cut
}

// Replay reads the log from position from (the zero Pos: from the first
// segment) and calls fn for every command that starts at or after it, in
// order, with the database the command ran in. The writer's SELECT records
// set that database and are not passed to fn.
//
// A partial write at the end of the last segment (a crash mid-write) is cut
// off the file, durably, and reported in Report.Truncated: the caller logs
// it as a warning, as Redis does with aof-load-truncated yes. Any other
// damage stops replay with a *CorruptionError naming the file and offset;
// Repair cuts the log there. An error from fn stops replay and is returned
// wrapped with the file and offset of the command.
//
// Replay must run before Open appends to the directory: a partial tail left
// in place would become corruption in the middle of the log.
func Replay(opts Options, from Pos, fn ReplayFunc) (Report, error) {
	return scan(opts.withDefaults(), from, fn, true)
}

// Check verifies the log from position from without changing anything, as
// redis-check-aof does: it returns the first *CorruptionError, and reports a
// partial tail in Report.Truncated without cutting it.
func Check(opts Options, from Pos) (Report, error) {
	return scan(opts.withDefaults(), from, nil, false)
}

// scanner holds the buffers reused across blocks and segments.
type scanner struct {
	o       Options
	from    Pos
	fn      ReplayFunc
	fixTail bool
	db      int
	buf     []byte
	args    [][]byte
	rep     Report
}

func scan(o Options, from Pos, fn ReplayFunc, fixTail bool) (Report, error) {
	s := &scanner{o: o, from: from, fn: fn, fixTail: fixTail}
	s.rep.From = from
	segs, err := o.listSegments()
	if err != nil {
		return s.rep, err
	}
	first := max(from.Seg, 1)
	var run []uint64
	for _, n := range segs {
		if n >= first {
			run = append(run, n)
		}
	}
	if len(run) == 0 && !from.IsZero() {
		return s.rep, s.missing(first, "the replay start's segment is missing")
	}
	for i, n := range run {
		if want := first + uint64(i); n != want {
			return s.rep, s.missing(want, "segment missing from the run")
		}
	}
	for i, n := range run {
		if err := s.segment(n, i == len(run)-1); err != nil {
			return s.rep, err
		}
	}
	return s.rep, nil
}

func (s *scanner) missing(n uint64, reason string) error {
	return &CorruptionError{File: SegmentName(s.o.Name, n), Seg: n, Reason: reason}
}

// segment verifies and replays segment n.
func (s *scanner) segment(n uint64, last bool) error {
	name := SegmentName(s.o.Name, n)
	f, err := s.o.FS.Open(s.o.segmentPath(n))
	if err != nil {
		return fmt.Errorf("aof: open %s: %w", name, err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return fmt.Errorf("aof: stat %s: %w", name, err)
	}
	s.rep.Segments++
	start := int64(0)
	if n == s.from.Seg {
		start = s.from.Off
	}
	corrupt := func(off int64, format string, args ...any) error {
		return &CorruptionError{File: name, Seg: n, Offset: off, Reason: fmt.Sprintf(format, args...)}
	}
	startFound := start == 0
	off := int64(0)
	var torn, unwritten bool
	for off < size {
		if off == start {
			startFound = true
		}
		if size-off < int64(headerLen) {
			torn = true
			break
		}
		hdr, err := s.read(f, name, off, headerLen)
		if err != nil {
			return err
		}
		marker, length, sum, ok := parseHeader(hdr)
		if !ok {
			zero, err := allZero(f, off, size)
			if err != nil {
				return fmt.Errorf("aof: read %s: %w", name, err)
			}
			if zero { // space reserved or extended but never written
				torn, unwritten = true, true
				break
			}
			return corrupt(off, "bad block header %q", hdr)
		}
		if length > size-off-int64(headerLen) {
			torn = true
			break
		}
		payload, err := s.read(f, name, off+int64(headerLen), int(length))
		if err != nil {
			return err
		}
		if got := payloadSum(marker, payload); got != sum {
			blockEnd := off + int64(headerLen) + length
			if last {
				cut, err := tornAtPage(f, off, blockEnd, size)
				if err != nil {
					return fmt.Errorf("aof: read %s: %w", name, err)
				}
				if cut {
					torn = true
					break
				}
			}
			return corrupt(off, "checksum mismatch (block of %d bytes: header says %016x, data has %016x)", length, sum, got)
		}
		pos := off + int64(headerLen)
		for p := payload; len(p) > 0; {
			args, used, err := parseCommand(p, s.args)
			if err != nil {
				return corrupt(pos, "checksum good but not a RESP command: %v", err)
			}
			s.args = args
			cmdStart := pos
			pos += int64(used)
			p = p[used:]
			if db, ok := isSelect(args); ok {
				s.db = db
			} else if cmdStart >= start {
				s.rep.Commands++
				if s.fn != nil {
					if err := s.fn(s.db, args); err != nil {
						return fmt.Errorf("aof: replay %s at offset %d: %w", name, cmdStart, err)
					}
				}
			}
			if pos == start {
				startFound = true
			}
		}
		off = pos
	}
	if off == start {
		startFound = true
	}
	if torn {
		if !last {
			return corrupt(off, "segment ends in the middle of a block but is not the last one")
		}
		s.rep.Truncated = &TruncatedTail{File: name, Offset: off, Dropped: size - off, Unwritten: unwritten}
		if s.fixTail {
			if err := s.truncate(n, off); err != nil {
				return err
			}
		}
	}
	if !startFound {
		return fmt.Errorf("aof: replay start %v is not a command boundary of %s (valid up to offset %d)", s.from, name, off)
	}
	s.rep.End = Pos{Seg: n, Off: off}
	return nil
}

// read returns n bytes at off in a reused buffer.
func (s *scanner) read(f vfs.File, name string, off int64, n int) ([]byte, error) {
	if cap(s.buf) < n {
		s.buf = make([]byte, n)
	}
	b := s.buf[:n]
	if _, err := f.ReadAt(b, off); err != nil {
		return nil, fmt.Errorf("aof: read %s at offset %d: %w", name, off, err)
	}
	return b, nil
}

// truncate cuts segment n to size, durably.
func (s *scanner) truncate(n uint64, size int64) error {
	path := s.o.segmentPath(n)
	f, err := s.o.FS.OpenReadWrite(path)
	if err != nil {
		return fmt.Errorf("aof: cut partial tail: %w", err)
	}
	err = f.Truncate(size)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("aof: cut partial tail of %s at %d: %w", path, size, err)
	}
	return nil
}

// tornAtPage reports whether the block [start, end) of the last segment,
// whose checksum does not match, is a write a crash cut short: a process
// killed in write(2) leaves the pages copied so far, so the block's bytes
// from a page boundary inside it on, and everything after it to the end of
// the file (reserved space, zeros), were never written. Damage anywhere
// else leaves non-zero bytes there.
func tornAtPage(f vfs.File, start, end, size int64) (bool, error) {
	page := int64(os.Getpagesize())
	for b := (start/page + 1) * page; b < end; b += page {
		zero, err := allZero(f, b, size)
		if err != nil || zero {
			return zero, err
		}
	}
	return false, nil
}

// allZero reports whether bytes [off, size) of f are all zero.
func allZero(f vfs.File, off, size int64) (bool, error) {
	buf := make([]byte, 32*1024)
	for off < size {
		n := int(min(int64(len(buf)), size-off))
		if _, err := f.ReadAt(buf[:n], off); err != nil && !errors.Is(err, io.EOF) {
			return false, err
		}
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		off += int64(n)
	}
	return true, nil
}
