package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"

	"github.com/structd/structd/aof"
	"github.com/structd/structd/disktier"
)

// checkAOF is `structd check-aof [--fix] [--appenddirname d] [--appendfilename f] <dir>`,
// StructD's redis-check-aof: it verifies the AOF of the data directory dir
// (the server must be stopped) from the position of the last checkpoint,
// where replay starts, and prints what it found. With --fix it cuts the log
// at the first corruption, moving every byte it cuts to ".broken" files
// (aof.Repair; aof/FORMAT.md describes the procedure). Exit status: 0 when
// the log is whole (after a fix), 1 otherwise.
func checkAOF(args []string, out io.Writer) int {
	fs := flag.NewFlagSet("check-aof", flag.ContinueOnError)
	fs.SetOutput(out)
	fix := fs.Bool("fix", false, "cut the log at the first corruption, keeping what is cut in .broken files")
	dirname := fs.String("appenddirname", "appendonlydir", "the AOF directory under dir")
	filename := fs.String("appendfilename", "appendonly.aof", "the AOF segments' base name")
	if err := fs.Parse(args); err != nil {
		return 1
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(out, "usage: structd check-aof [--fix] <dir>")
		return 1
	}
	dir := fs.Arg(0)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	store, err := disktier.Open(filepath.Join(dir, "store"), disktier.Options{Logger: quiet})
	if err != nil {
		fmt.Fprintln(out, "cannot open the store:", err)
		return 1
	}
	rec, _, err := store.Record()
	store.Close()
	if err != nil {
		fmt.Fprintln(out, "cannot read the checkpoint record:", err)
		return 1
	}
	opts := aof.Options{Dir: filepath.Join(dir, *dirname), Name: *filename}
	from := aof.Pos{Seg: rec.AOFSegment, Off: int64(rec.AOFOffset)}
	fmt.Fprintf(out, "checkpoint %d, replay starts at %s\n", rec.Seq, from)
	check := aof.Check
	if *fix {
		check = aof.Repair
	}
	rep, err := check(opts, from)
	var ce *aof.CorruptionError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(out, "AOF is not valid: %v\nrun again with --fix to cut the log at %s offset %d (the cut bytes are kept in .broken files)\n", err, ce.File, ce.Offset)
		return 1
	case err != nil:
		fmt.Fprintln(out, "cannot check the AOF:", err)
		return 1
	}
	if rep.Cut != nil {
		fmt.Fprintf(out, "cut the log at %s (%s); moved aside: %v\n", rep.Cut.At, rep.Cut.Reason, rep.Cut.MovedAside)
	}
	if t := rep.Truncated; t != nil && t.Unwritten {
		fmt.Fprintf(out, "the last segment ends with unused reserved space (%s): the server trims it on start\n", t)
	} else if t != nil {
		fmt.Fprintf(out, "the last segment ends with a partial write (%s): the server cuts it on start\n", t)
	}
	fmt.Fprintf(out, "AOF is valid: %d commands in %d segments, ending at %s\n", rep.Commands, rep.Segments, rep.End)
	return 0
}
