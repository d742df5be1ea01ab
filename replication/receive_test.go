package replication

import (
	"bufio"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// receive runs receiveFiles on what a master sends.
func receive(t *testing.T, sent string) (string, error) {
	t.Helper()
	a, b := net.Pipe()
	defer a.Close()
	go func() {
		b.Write([]byte(sent))
		b.Close()
	}()
	dir := t.TempDir()
	l := &link{m: &Manager{log: slog.Default()}}
	return dir, l.receiveFiles(a, bufio.NewReader(a), dir, 5*time.Second)
}

func TestReceiveFiles(t *testing.T) {
	dir, err := receive(t, "\n\n*4\r\n$6\r\nMANIFEST\r\n$5\r\nhello\r\n$3\r\na.x\r\n$0\r\n\r\n")
	if err == nil {
		t.Fatal("a name whose length is wrong was accepted")
	}
	dir, err = receive(t, "\n*4\r\n$8\r\nMANIFEST\r\n$5\r\nhello\r\n$3\r\na.x\r\n$0\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "MANIFEST")); string(b) != "hello" {
		t.Fatalf("MANIFEST holds %q", b)
	}
	if st, err := os.Stat(filepath.Join(dir, "a.x")); err != nil || st.Size() != 0 {
		t.Fatalf("empty file: %v", err)
	}
}

// A damaged or hostile transfer fails with an error, creating nothing
// outside the directory and allocating nothing it announces.
func TestReceiveFilesRefusesBadInput(t *testing.T) {
	for _, sent := range []string{
		"$123\r\nREDIS0011",                           // an RDB
		"*3\r\n",                                      // odd count
		"*-2\r\n",                                     // negative count
		"*99999999999\r\n",                            // huge count
		"*2\r\n$5\r\n../xx\r\n$1\r\na\r\n",            // path traversal
		"*2\r\n$1\r\n/\r\n$1\r\na\r\n",                // separator
		"*2\r\n$9999\r\nname\r\n",                     // name too long
		"*2\r\n$4\r\nname\r\n$999999999999999999\r\n", // huge file
		"*2\r\n$4\r\nname\r\n$10\r\nshort",            // cut short
		"*2\r\n$4\r\nname\r\n$1\r\naXX",               // no CRLF
		"*2\r\n$4\r\nname\r\n:1\r\n",                  // not a bulk
		"-ERR checkpoint for the full synchronization failed\r\n",
		"*2\r\n" + strings.Repeat("9", 100), // header never ends
	} {
		dir, err := receive(t, sent)
		if err == nil {
			t.Errorf("%q accepted", sent)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "xx")); err == nil {
			t.Errorf("%q: a file created outside the directory", sent)
		}
	}
}
