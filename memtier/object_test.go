package memtier

import (
	"testing"
	"unsafe"

	"github.com/structd/structd/memtier/types"
)

// TestObjectSize pins the per-key cost the layout comment promises.
func TestObjectSize(t *testing.T) {
	if got := unsafe.Sizeof(Object{}); got != 24 {
		t.Fatalf("Object is %d bytes, want 24", got)
	}
}

func TestObjectPayloads(t *testing.T) {
	o := NewString([]byte("hello"))
	if string(o.Bytes()) != "hello" || cap(o.Bytes()) < 5 || o.Payload() != nil {
		t.Fatalf("string payload: %q cap %d", o.Bytes(), cap(o.Bytes()))
	}
	o.SetBytes(append(o.Bytes(), " world"...))
	if string(o.Bytes()) != "hello world" {
		t.Fatalf("after append: %q", o.Bytes())
	}
	empty := NewString(nil)
	if len(empty.Bytes()) != 0 {
		t.Fatalf("empty string: %q", empty.Bytes())
	}
	h := types.NewHash()
	c := NewCollection(h)
	if c.Type != TypeHash || c.Payload().(*types.Hash) != h {
		t.Fatalf("collection: type %v payload %v", c.Type, c.Payload())
	}
	if c.Clone().Payload().(*types.Hash) == h {
		t.Fatal("Clone shares the collection")
	}
}
