//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// minValueSize leaves room for a value's index digits and generation byte.
const minValueSize = 16

// dataset is what both servers hold: string keys key:<i> for i < keys,
// each value valueSize bytes: the index as 10 digits, a generation byte
// ('0' as loaded, another letter after each overwrite) and filler drawn
// from a 64-character alphabet by a generator seeded with the index. The
// filler is neither all one byte nor incompressible, so LZF (Redis's RDB)
// and zstd (StructD's store) each get what they would from random text.
type dataset struct {
	keys, valueSize int
}

// fillerAlphabet has 64 characters: 6 bits of entropy per filler byte.
const fillerAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// bytes is the payload size, keys x value size: the "dataset size" the
// memory target is a fraction of.
func (d dataset) bytes() int64 { return int64(d.keys) * int64(d.valueSize) }

// key appends key number i to dst.
func (d dataset) key(dst []byte, i int) []byte {
	return strconv.AppendInt(append(dst, "key:"...), int64(i), 10)
}

// value appends the value of key i at generation gen to dst.
func (d dataset) value(dst []byte, i int, gen byte) []byte {
	start := len(dst)
	dst = fmt.Appendf(dst, "%010d", i)
	dst = append(dst, gen)
	rng := rand.New(rand.NewPCG(uint64(i), 0x5eed))
	for len(dst)-start < d.valueSize {
		r := rng.Uint64()
		for k := 0; k < 10 && len(dst)-start < d.valueSize; k++ {
			dst = append(dst, fillerAlphabet[r&63])
			r >>= 6
		}
	}
	return dst
}

// matches reports whether v is the value of key i at any generation.
func (d dataset) matches(v []byte, i int) bool {
	want := d.value(nil, i, '0')
	return len(v) == len(want) && bytes.Equal(v[:10], want[:10]) && bytes.Equal(v[11:], want[11:])
}

// writeRESP writes SET key:<i> <value> for every key, as a RESP stream for
// redis-cli --pipe, to path.
func (d dataset) writeRESP(ctx context.Context, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	var k, v []byte
	for i := 0; i < d.keys; i++ {
		if i%100000 == 0 && ctx.Err() != nil {
			return ctx.Err()
		}
		k, v = d.key(k[:0], i), d.value(v[:0], i, '0')
		fmt.Fprintf(w, "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(k), k, len(v), v)
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// load sends the RESP stream at path to the server at port with
// redis-cli --pipe and checks that every command succeeded.
func load(ctx context.Context, port int, path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	cmd := exec.CommandContext(ctx, "redis-cli", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "--pipe")
	cmd.Stdin = in
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("redis-cli --pipe on port %d: %w: %s", port, err, out)
	}
	if !strings.Contains(string(out), "errors: 0,") {
		return fmt.Errorf("redis-cli --pipe on port %d reported errors: %s", port, out)
	}
	return nil
}
