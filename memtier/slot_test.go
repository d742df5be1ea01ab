package memtier

import (
	"testing"

	"github.com/structd/structd/internal/crc16"
)

func TestSlotOfHashTags(t *testing.T) {
	whole := func(s string) int { return int(crc16.Checksum([]byte(s)) % NumSlots) }
	cases := []struct {
		key  string
		want int
	}{
		{"foo", 12182},
		{"123456789", 0x31C3},
		{"{user1000}.following", whole("user1000")},
		{"{user1000}.followers", whole("user1000")},
		{"foo{}{bar}", whole("foo{}{bar}")}, // empty tag: whole key
		{"{}", whole("{}")},                 // empty tag: whole key
		{"{", whole("{")},                   // no closing brace
		{"}{", whole("}{")},                 // closing before opening
		{"{a}{b}", whole("a")},              // first tag only
		{"a{}{b}", whole("a{}{b}")},         // first tag empty: whole key
		{"foo{{bar}}zap", whole("{bar")},    // tag runs to the first '}'
		{"foo{bar}{zap}", whole("bar")},     // first tag only
		{"", 0},
	}
	for _, c := range cases {
		if got := SlotOf([]byte(c.key)); got != c.want {
			t.Errorf("SlotOf(%q) = %d, want %d", c.key, got, c.want)
		}
	}
}

func BenchmarkSlotOf(b *testing.B) {
	key := []byte("key:000000012345")
	for b.Loop() {
		SlotOf(key)
	}
}
