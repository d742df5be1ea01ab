package types

import (
	"runtime"
	"strconv"
	"testing"
)

const benchN = 1_000_000

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// measure builds a value with build (which adds benchN elements, or benchN
// small values), reporting live heap bytes per element (or value) under
// unit and the time per element (or value).
func measure(b *testing.B, unit string, build func() any) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		before := heapInUse()
		b.StartTimer()
		v := build()
		b.StopTimer()
		after := heapInUse()
		b.ReportMetric(float64(after-before)/benchN, unit)
		runtime.KeepAlive(v)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchN), "ns/"+unit[len("bytes/"):])
}

func elem(prefix string, i int) []byte { return strconv.AppendInt([]byte(prefix), int64(i), 10) }

func BenchmarkListRPush1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/elem", func() any {
		l := NewList()
		for i := 0; i < benchN; i++ {
			l.Push(elem("elem:", i), false, DefaultListFill)
		}
		return l
	})
}

func BenchmarkHashSet1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/elem", func() any {
		h := NewHash()
		for i := 0; i < benchN; i++ {
			h.Set(elem("field:", i), elem("value:", i), DefaultHashLimits)
		}
		return h
	})
}

func BenchmarkSetAddStrings1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/elem", func() any {
		s := NewSet()
		for i := 0; i < benchN; i++ {
			s.Add(elem("member:", i), DefaultSetMaxIntset)
		}
		return s
	})
}

func BenchmarkSetAddInts1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/elem", func() any {
		s := NewSet()
		for i := 0; i < benchN; i++ {
			s.Add(elem("", i), DefaultSetMaxIntset)
		}
		return s
	})
}

func BenchmarkZSetAdd1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/elem", func() any {
		z := NewZSet()
		for i := 0; i < benchN; i++ {
			z.Add(elem("member:", i), float64(i*7919%benchN), 0, DefaultZSetLimits)
		}
		return z
	})
}

// The small-collection benchmarks build benchN values of 5 elements each
// (the compact encodings) and report payload bytes per value.
func BenchmarkSmallHashes1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/value", func() any {
		all := make([]*Hash, benchN)
		for i := range all {
			h := NewHash()
			for j := 0; j < 5; j++ {
				h.Set(elem("field:", j), elem("value:", i), DefaultHashLimits)
			}
			all[i] = h
		}
		return all
	})
}

func BenchmarkSmallZSets1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/value", func() any {
		all := make([]*ZSet, benchN)
		for i := range all {
			z := NewZSet()
			for j := 0; j < 5; j++ {
				z.Add(elem("member:", j), float64(i+j), 0, DefaultZSetLimits)
			}
			all[i] = z
		}
		return all
	})
}

func BenchmarkSmallSets1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/value", func() any {
		all := make([]*Set, benchN)
		for i := range all {
			s := NewSet()
			for j := 0; j < 5; j++ {
				s.Add(elem("", i+j), DefaultSetMaxIntset)
			}
			all[i] = s
		}
		return all
	})
}

func BenchmarkSmallLists1M(b *testing.B) {
	b.StopTimer()
	measure(b, "bytes/value", func() any {
		all := make([]*List, benchN)
		for i := range all {
			l := NewList()
			for j := 0; j < 5; j++ {
				l.Push(elem("elem:", i+j), false, DefaultListFill)
			}
			all[i] = l
		}
		return all
	})
}

func BenchmarkZSetRank(b *testing.B) {
	z := NewZSet()
	for i := 0; i < benchN; i++ {
		z.Add(elem("member:", i), float64(i), 0, DefaultZSetLimits)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, _, ok := z.Rank(elem("member:", i%benchN), false); !ok {
			b.Fatal("missing")
		}
	}
}

func BenchmarkListPushPop(b *testing.B) {
	l := NewList()
	v := []byte("element")
	for i := 0; i < b.N; i++ {
		l.Push(v, true, DefaultListFill)
		if i%2 == 1 {
			l.Pop(false)
		}
	}
}
