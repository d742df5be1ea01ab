package aof

import (
	"errors"
	"fmt"
	"slices"
)

// Repair makes a damaged log replayable from position from, as
// redis-check-aof --fix does, without destroying anything: it cuts the log
// at the first corruption (the *CorruptionError Replay or Check reports),
// moving the bytes of that segment from the damaged block on into
// "<segment>.broken" and renaming every later segment to
// "<segment>.broken", then syncs. A partial tail is cut as Replay cuts it.
// The returned report is a Check of the repaired log, with Cut set when
// something was cut.
//
// Commands after the cut are not replayed: whoever repairs decides, with
// the .broken files in hand, whether they matter. `structd check-aof --fix`
// is meant to call this; the server never repairs on its own.
func Repair(opts Options, from Pos) (Report, error) {
	o := opts.withDefaults()
	rep, err := scan(o, from, nil, true)
	var ce *CorruptionError
	if !errors.As(err, &ce) {
		return rep, err
	}
	cut := &Cut{At: Pos{Seg: ce.Seg, Off: ce.Offset}, Reason: ce.Reason}
	segs, err := o.listSegments()
	if err != nil {
		return rep, err
	}
	names, err := o.FS.List(o.Dir)
	if err != nil {
		return rep, fmt.Errorf("aof: list %s: %w", o.Dir, err)
	}
	for _, n := range segs {
		switch {
		case n == ce.Seg:
			aside, err := o.cutSegment(n, ce.Offset, &names)
			if err != nil {
				return rep, err
			}
			if aside != "" {
				cut.MovedAside = append(cut.MovedAside, aside)
			}
		case n > ce.Seg:
			aside := asideName(SegmentName(o.Name, n), &names)
			if err := o.FS.Rename(o.segmentPath(n), o.path(aside)); err != nil {
				return rep, fmt.Errorf("aof: move %s aside: %w", SegmentName(o.Name, n), err)
			}
			cut.MovedAside = append(cut.MovedAside, aside)
		}
	}
	if err := o.FS.SyncDir(o.Dir); err != nil {
		return rep, fmt.Errorf("aof: sync directory %s: %w", o.Dir, err)
	}
	rep, err = scan(o, from, nil, false)
	rep.Cut = cut
	return rep, err
}

// cutSegment copies bytes [off, end) of segment n into a .broken file, then
// truncates the segment at off, both durably. It returns the .broken name,
// or "" if nothing followed off.
func (o *Options) cutSegment(n uint64, off int64, names *[]string) (string, error) {
	seg := SegmentName(o.Name, n)
	f, err := o.FS.OpenReadWrite(o.segmentPath(n))
	if err != nil {
		return "", fmt.Errorf("aof: repair: %w", err)
	}
	defer f.Close()
	size, err := f.Size()
	if err != nil {
		return "", fmt.Errorf("aof: repair: stat %s: %w", seg, err)
	}
	if size <= off {
		return "", nil
	}
	tail := make([]byte, size-off)
	if _, err := f.ReadAt(tail, off); err != nil {
		return "", fmt.Errorf("aof: repair: read %s: %w", seg, err)
	}
	aside := asideName(seg, names)
	af, err := o.FS.Create(o.path(aside))
	if err != nil {
		return "", fmt.Errorf("aof: repair: %w", err)
	}
	_, err = af.Write(tail)
	if err == nil {
		err = af.Sync()
	}
	if cerr := af.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("aof: repair: save the tail of %s: %w", seg, err)
	}
	if err := f.Truncate(off); err != nil {
		return "", fmt.Errorf("aof: repair: truncate %s: %w", seg, err)
	}
	if err := f.Sync(); err != nil {
		return "", fmt.Errorf("aof: repair: fsync %s: %w", seg, err)
	}
	return aside, nil
}

// asideName returns "<file>.broken", or "<file>.broken.2", ... if taken, and
// records the name as taken.
func asideName(file string, names *[]string) string {
	name := file + ".broken"
	for i := 2; slices.Contains(*names, name); i++ {
		name = fmt.Sprintf("%s.broken.%d", file, i)
	}
	*names = append(*names, name)
	return name
}
