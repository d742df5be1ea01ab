package disktier

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/dict"
	"github.com/klauspost/compress/zstd"
	"github.com/structd/structd/memtier"
	"github.com/structd/structd/memtier/types"
)

// benchValues is the corpus of the compression benchmark: half 256-byte
// strings of mixed text (words, numbers, punctuation, like cached page
// fragments or JSON), half small hashes (a user record of 8 fields) in
// their inline encoding.
func benchValues(n int) [][]byte {
	r := rand.New(rand.NewPCG(1, 2))
	syll := []string{"ka", "to", "ri", "en", "on", "st", "re", "ma", "lo", "de", "qu", "an", "is", "ul", "ph", "er"}
	words := make([]string, 2000)
	for i := range words {
		var b strings.Builder
		for j := 0; j < 1+r.IntN(4); j++ {
			b.WriteString(syll[r.IntN(len(syll))])
		}
		words[i] = b.String()
	}
	word := func() string { return words[int(r.ExpFloat64()*200)%len(words)] }
	out := make([][]byte, n)
	for i := range out {
		if i%2 == 0 {
			var b strings.Builder
			for b.Len() < 256 {
				switch r.IntN(10) {
				case 0:
					fmt.Fprintf(&b, "%d", r.IntN(100000))
				case 1:
					b.WriteString(`{"id":`)
				default:
					b.WriteString(word())
				}
				b.WriteByte(" ,. :\n"[r.IntN(6)])
			}
			out[i] = []byte(b.String()[:256])
			continue
		}
		o := hashOf(types.DefaultHashLimits,
			"name", word()+" "+word(), "email", word()+"@"+word()+".com", "age", fmt.Sprint(18+r.IntN(60)),
			"city", word(), "score", fmt.Sprint(r.Float64()*1000), "created", fmt.Sprint(1700000000+r.IntN(1e7)),
			"plan", []string{"free", "pro", "team"}[r.IntN(3)], "visits", fmt.Sprint(r.IntN(5000)))
		m, _ := metaOf(o, 0)
		out[i] = append(appendMeta(nil, m), inline(o)...)
	}
	return out
}

// valueCodec is value-level zstd with klauspost's pure Go codecs, pooled:
// one encoder and one decoder per goroutine at a time, never rebuilt per
// value; dict, when set, is a dictionary trained on a sample of the values.
type valueCodec struct{ enc, dec sync.Pool }

func newValueCodec(dict []byte) *valueCodec {
	c := &valueCodec{}
	c.enc.New = func() any {
		opts := []zstd.EOption{zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1)}
		if dict != nil {
			opts = append(opts, zstd.WithEncoderDict(dict))
		}
		e, err := zstd.NewWriter(nil, opts...)
		if err != nil {
			panic(err)
		}
		return e
	}
	c.dec.New = func() any {
		opts := []zstd.DOption{zstd.WithDecoderConcurrency(1)}
		if dict != nil {
			opts = append(opts, zstd.WithDecoderDicts(dict))
		}
		d, err := zstd.NewReader(nil, opts...)
		if err != nil {
			panic(err)
		}
		return d
	}
	return c
}

func (c *valueCodec) compress(dst, v []byte) []byte {
	e := c.enc.Get().(*zstd.Encoder)
	dst = e.EncodeAll(v, dst)
	c.enc.Put(e)
	return dst
}

func (c *valueCodec) decompress(dst, v []byte) ([]byte, error) {
	d := c.dec.Get().(*zstd.Decoder)
	dst, err := d.DecodeAll(v, dst)
	c.dec.Put(d)
	return dst, err
}

// BenchmarkCompression compares where zstd runs, over 200k values written
// as a checkpoint would (sorted SSTs, ingested) and read back by random
// point Gets through a block cache far smaller than the data, so most
// reads decompress a block:
//
//	go test ./disktier -run '^$' -bench Compression -benchtime 200000x
//
// It reports disk bytes per value, write throughput of the SST path, and
// the read cost per Get (ns/op). With cgo on, Pebble's zstd is the C
// library (DataDog/zstd); value-zstd is klauspost's pure Go encoder at its
// default level with pooled codecs, under Pebble with no block
// compression; value-zstd-dict adds a 16 KB dictionary trained with
// klauspost's dict.BuildZstdDict on the first 5000 values.
func BenchmarkCompression(b *testing.B) {
	const n = 200_000
	values := benchValues(n)
	raw := 0
	for _, v := range values {
		raw += len(v)
	}
	d, err := dict.BuildZstdDict(values[:5000], dict.Options{MaxDictSize: 16 << 10, HashBytes: 6, ZstdDictID: 1})
	if err != nil {
		b.Fatal(err)
	}
	for _, v := range []struct {
		name  string
		block Compression
		value *valueCodec
	}{
		{"pebble-zstd1", CompressionZstd1, nil},
		{"pebble-zstd3", CompressionZstd3, nil},
		{"pebble-snappy", CompressionSnappy, nil},
		{"pebble-minlz", CompressionMinLZ, nil},
		{"none", CompressionNone, nil},
		{"value-zstd", CompressionNone, newValueCodec(nil)},
		{"value-zstd-dict", CompressionNone, newValueCodec(d)},
	} {
		b.Run(v.name, func(b *testing.B) {
			dir := b.TempDir()
			s, err := Open(filepath.Join(dir, "db"), Options{Compression: v.block, CacheSize: 4 << 20})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			keys := make([][]byte, n)
			for i := range keys {
				keys[i] = append(appendKeyBase(nil, 0, i%memtier.NumSlots, fmt.Appendf(nil, "key:%08d", i/memtier.NumSlots)), kindMeta)
			}
			order := make([]int, n)
			for i := range order {
				order[i] = i
			}
			// Record order: slot-major, as keys were built.
			sortIdx(order, keys)
			start := time.Now()
			path := filepath.Join(dir, "bench.sst")
			w, err := NewSSTWriter(s.fs, path, s.SSTOptions())
			if err != nil {
				b.Fatal(err)
			}
			var buf []byte
			for _, i := range order {
				val := values[i]
				if v.value != nil {
					buf = v.value.compress(buf[:0], val)
					val = buf
				}
				if err := w.Set(keys[i], val); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				b.Fatal(err)
			}
			st, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.IngestCheckpoint([]string{path}); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			r := rand.New(rand.NewPCG(3, 4))
			var dec []byte
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := r.IntN(n)
				got, closer, err := s.db.Get(keys[j])
				if err != nil {
					b.Fatal(err)
				}
				if v.value != nil {
					dec, err = v.value.decompress(dec[:0], got)
					if err != nil {
						b.Fatal(err)
					}
					got = dec
				}
				if len(got) != len(values[j]) {
					b.Fatalf("value %d: %d bytes, want %d", j, len(got), len(values[j]))
				}
				closer.Close()
			}
			b.StopTimer()
			b.ReportMetric(float64(st.Size())/n, "disk-B/value")
			b.ReportMetric(float64(raw)/n, "raw-B/value")
			b.ReportMetric(float64(raw)/1e6/elapsed.Seconds(), "write-MB/s")
		})
	}
}

// sortIdx sorts idx by keys[idx].
func sortIdx(idx []int, keys [][]byte) {
	sortSlice(idx, func(a, b int) bool { return string(keys[a]) < string(keys[b]) })
}

// BenchmarkLayout measures, for hashes of growing size, the full read
// (Load) of each layout and the bytes a one-field change writes, to place
// InlineMax:
//
//	go test ./disktier -run '^$' -bench Layout
func BenchmarkLayout(b *testing.B) {
	defer func() { inlineMax = InlineMax }()
	for _, fields := range []int{8, 32, 128, 512, 2048} {
		o := hashOf(types.Limits{}, pairsOf(fields)...)
		for _, layout := range []string{"inline", "subkeys"} {
			b.Run(fmt.Sprintf("fields=%d/%s", fields, layout), func(b *testing.B) {
				inlineMax = 1 << 30
				if layout == "subkeys" {
					inlineMax = -1
				}
				s, _ := openTest(b)
				bt := s.NewBatch()
				if err := bt.Put(0, []byte("h"), o, 0); err != nil {
					b.Fatal(err)
				}
				if err := bt.Commit(); err != nil {
					b.Fatal(err)
				}
				if err := s.db.Flush(); err != nil {
					b.Fatal(err)
				}
				payload := len(inline(o))
				bt = s.NewBatch()
				if err := bt.PutFields(0, []byte("h"), o, 0, [][]byte{[]byte("field:1")}); err != nil {
					b.Fatal(err)
				}
				update := bt.Size()
				bt.Close()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if _, _, err := s.Load(0, []byte("h")); err != nil {
						b.Fatal(err)
					}
				}
				b.StopTimer()
				b.ReportMetric(float64(payload), "payload-B")
				b.ReportMetric(float64(update), "update-B")
			})
		}
	}
}

func sortSlice(x []int, less func(a, b int) bool) {
	slices.SortFunc(x, func(a, b int) int {
		if less(a, b) {
			return -1
		}
		if less(b, a) {
			return 1
		}
		return 0
	})
}

// BenchmarkLoadCompact measures Load of the largest compact encodings at
// Redis's default limits (a 512-field listpack hash, a 128-member listpack
// zset, a 512-member intset), which are rebuilt element by element.
//
//	go test ./disktier -run '^$' -bench LoadCompact
func BenchmarkLoadCompact(b *testing.B) {
	zs := make([]any, 0, 256)
	for i := 0; i < 128; i++ {
		zs = append(zs, fmt.Sprintf("member:%d", i), float64(i*3%128))
	}
	ints := make([]string, 512)
	for i := range ints {
		ints[i] = fmt.Sprint(i * 1000)
	}
	for name, o := range map[string]*memtier.Object{
		"hash-listpack-512": hashOf(types.DefaultHashLimits, pairsOf(512)...),
		"zset-listpack-128": zsetOf(types.DefaultZSetLimits, zs...),
		"set-intset-512":    setOf(512, ints...),
	} {
		b.Run(name, func(b *testing.B) {
			s, _ := openTest(b)
			bt := s.NewBatch()
			if err := bt.Put(0, []byte("k"), o, 0); err != nil {
				b.Fatal(err)
			}
			if err := bt.Commit(); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				got, _, err := s.Load(0, []byte("k"))
				if err != nil || got.EncodingName() != o.EncodingName() {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBlockSize writes 100k strings of 256 bytes (random text from
// a 64-letter alphabet, as bench/persistence's values) through one batch,
// flushes them to SSTs, and reads every slot back as the warm-up does, for
// Pebble's default block size and bigger ones. The write-and-flush and
// the read are timed apart; a cold key's fault-in reads one block.
//
//	go test ./disktier -run '^$' -bench BlockSize -benchtime 3x
//
// Measured here (2 CPUs, busy machine), ns per key write+flush / read:
// 4 KB 7170 / 1119, 16 KB 5597 / 620, 32 KB 4925 / 555, 64 KB 6781 / 762.
// The same at the server level (1M keys, SAVE then a restart with
// warm-up, CPU ticks of the process): 4 KB 265-298 / 132-135, 16 KB
// 234-239 / 108-113, 32 KB 206-217 / 95-101. 32 KB is the default.
func BenchmarkBlockSize(b *testing.B) {
	const keys = 100_000
	r := rand.New(rand.NewPCG(3, 4))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	values := make([][]byte, keys)
	for i := range values {
		v := make([]byte, 256)
		for j := range v {
			v[j] = alphabet[r.IntN(len(alphabet))]
		}
		values[i] = v
	}
	for _, size := range []int{4 << 10, 16 << 10, 32 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("%dKB", size>>10), func(b *testing.B) {
			var write, read time.Duration
			for range b.N {
				s, err := Open(b.TempDir(), Options{BlockSize: size})
				if err != nil {
					b.Fatal(err)
				}
				t0 := time.Now()
				bt := s.NewBatch()
				for i, v := range values {
					if err := bt.Put(0, fmt.Appendf(nil, "key:%d", i), memtier.NewString(v), 0); err != nil {
						b.Fatal(err)
					}
				}
				if err := bt.Commit(); err != nil {
					b.Fatal(err)
				}
				if err := s.Pebble().Flush(); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				n := 0
				sr := s.NewSlotReader(0)
				for slot := range memtier.NumSlots {
					if err := sr.Load(slot, func([]byte, *memtier.Object, int64) bool { n++; return true }); err != nil {
						b.Fatal(err)
					}
				}
				sr.Close()
				read += time.Since(t1)
				write += t1.Sub(t0)
				if n != keys {
					b.Fatalf("read %d keys back, want %d", n, keys)
				}
				s.Close()
			}
			b.ReportMetric(float64(write.Nanoseconds())/float64(b.N*keys), "write-ns/key")
			b.ReportMetric(float64(read.Nanoseconds())/float64(b.N*keys), "read-ns/key")
		})
	}
}
