package replication

import (
	"bytes"
	"testing"

	"github.com/structd/structd/aof"
)

func readAll(t *testing.T, r *Reader, n int) []byte {
	t.Helper()
	done := make(chan struct{})
	close(done)
	var out []byte
	buf := make([]byte, 7) // small, so reads cross chunks
	for len(out) < n {
		k, err := r.Read(buf, done)
		if err != nil {
			t.Fatal(err)
		}
		if k == 0 {
			t.Fatalf("read %d bytes of %d", len(out), n)
		}
		out = append(out, buf[:k]...)
	}
	return out
}

func TestBacklogOffsetsAndHistory(t *testing.T) {
	b := NewBacklog(100, 40000, 0)
	if b.Offset() != 100 || !b.Covers(101) || b.Covers(100) || b.Covers(102) {
		t.Fatalf("empty backlog at 100: offset %d", b.Offset())
	}
	var stream []byte
	for i := 0; len(stream) < 100000; i++ {
		p := bytes.Repeat([]byte{byte('a' + i%26)}, 1+i%3000)
		stream = append(stream, p...)
		if got := b.Append(p); got != 100+int64(len(stream)) {
			t.Fatalf("Append returned %d, want %d", got, 100+len(stream))
		}
	}
	st := b.Stats()
	if st.HistLen < 40000 || st.HistLen > 40000+int64(len(stream))/2 {
		t.Fatalf("history %d bytes for a size of 40000", st.HistLen)
	}
	if st.FirstByte != b.Offset()-st.HistLen+1 {
		t.Fatalf("first byte %d, offset %d, histlen %d", st.FirstByte, b.Offset(), st.HistLen)
	}
	if b.Covers(st.FirstByte-1) || !b.Covers(st.FirstByte) || !b.Covers(b.Offset()+1) {
		t.Fatal("Covers disagrees with the history kept")
	}
	// Every position kept reads back the stream's bytes from there.
	for _, from := range []int64{st.FirstByte, st.FirstByte + 1, st.FirstByte + 16<<10, b.Offset()} {
		r, err := b.NewReader(from)
		if err != nil {
			t.Fatal(err)
		}
		want := stream[from-101:]
		if got := readAll(t, r, len(want)); !bytes.Equal(got, want) {
			t.Fatalf("from %d: bytes differ", from)
		}
		r.Close()
	}
	if _, err := b.NewReader(st.FirstByte - 1); err == nil {
		t.Fatal("a reader before the history was created")
	}
}

func TestBacklogKeepsWhatAReaderNeedsUpToTheLimit(t *testing.T) {
	b := NewBacklog(0, 1000, 50000)
	r := b.NewReaderAtEnd()
	chunk := bytes.Repeat([]byte("x"), 1000)
	for range 40 {
		b.Append(chunk)
	}
	// 40000 bytes are pending for r: within size+limit, all kept.
	if got := readAll(t, r, 40000); len(got) != 40000 {
		t.Fatal("pending bytes lost")
	}
	if st := b.Stats(); st.HistLen > 1000+chunkSize+1000 {
		t.Fatalf("history %d kept after the reader caught up", st.HistLen)
	}
	// A reader that falls past the limit is dropped.
	for range 100 {
		b.Append(chunk)
	}
	done := make(chan struct{})
	close(done)
	if _, err := r.Read(make([]byte, 10), done); err != ErrReaderDropped {
		t.Fatalf("reader 100000 bytes behind with a 51000 limit: err %v", err)
	}
}

func TestBacklogMoveToAndWake(t *testing.T) {
	b := NewBacklog(0, 1<<20, 0)
	r := b.NewReaderAtEnd()
	b.Append([]byte("before-point"))
	if err := r.MoveTo(13); err != nil {
		t.Fatal(err)
	}
	if err := r.MoveTo(5); err == nil {
		t.Fatal("seek backwards accepted")
	}
	got := make(chan []byte)
	go func() {
		buf := make([]byte, 64)
		n, _ := r.Read(buf, nil)
		got <- buf[:n]
	}()
	b.Append([]byte("after"))
	if g := <-got; string(g) != "after" {
		t.Fatalf("woken reader read %q", g)
	}
	b.Resize(10, 0)
	if st := b.Stats(); st.Size != 10 {
		t.Fatalf("size %d after Resize", st.Size)
	}
}

func TestEncoderSelectsAndWraps(t *testing.T) {
	var e encoder
	e.db = -1
	e.encode([]aof.Command{{DB: 2, Args: [][]byte{[]byte("SET"), []byte("k"), []byte("v")}}})
	e.encode([]aof.Command{{DB: 2, Args: [][]byte{[]byte("DEL"), []byte("k")}}, {DB: 0, Args: [][]byte{[]byte("INCR"), []byte("n")}}})
	want := "*2\r\n$6\r\nSELECT\r\n$1\r\n2\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n" +
		"*1\r\n$5\r\nMULTI\r\n*2\r\n$3\r\nDEL\r\n$1\r\nk\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n*1\r\n$4\r\nEXEC\r\n"
	if got := string(e.buf.Buf); got != want {
		t.Fatalf("stream:\n%q\nwant\n%q", got, want)
	}
}
