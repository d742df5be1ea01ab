package config

import "fmt"

// CollectionLimits are the thresholds past which a collection leaves its
// compact encoding (listpack, intset) for the full one, as Redis 7.0's
// hash-max-listpack-*, set-max-intset-entries, zset-max-listpack-* and
// list-max-listpack-size directives set them. Commands read them from the
// Limits snapshot at each write, so CONFIG SET applies to the next change
// (an already converted value never converts back, as in Redis).
type CollectionLimits struct {
	HashMaxListpackEntries int
	HashMaxListpackValue   int64 // bytes; a memory value ("1kb")
	SetMaxIntsetEntries    int
	ZSetMaxListpackEntries int
	ZSetMaxListpackValue   int64 // bytes; a memory value
	// ListMaxListpackSize is the quicklist node fill: positive is a count
	// of entries, -1..-5 a size class (4 KB .. 64 KB).
	ListMaxListpackSize int
}

// DefaultCollectionLimits are Redis 7.0's defaults.
var DefaultCollectionLimits = CollectionLimits{
	HashMaxListpackEntries: 512,
	HashMaxListpackValue:   64,
	SetMaxIntsetEntries:    512,
	ZSetMaxListpackEntries: 128,
	ZSetMaxListpackValue:   64,
	ListMaxListpackSize:    -2,
}

// maxSizeT is the upper bound Redis gives its size_t directives (LONG_MAX).
const maxSizeT = 1<<63 - 1

func init() {
	// Each directive answers to its Redis 7.0 name and its pre-7.0 ziplist
	// alias; both names reach the same field.
	for _, name := range []string{"hash-max-listpack-entries", "hash-max-ziplist-entries"} {
		intDirective(name, func(c *Config) *int { return &c.Collections.HashMaxListpackEntries }, 0, maxSizeT, false)
	}
	for _, name := range []string{"hash-max-listpack-value", "hash-max-ziplist-value"} {
		memDirective(name, func(c *Config) *int64 { return &c.Collections.HashMaxListpackValue }, 0, false)
	}
	intDirective("set-max-intset-entries", func(c *Config) *int { return &c.Collections.SetMaxIntsetEntries }, 0, maxSizeT, false)
	for _, name := range []string{"zset-max-listpack-entries", "zset-max-ziplist-entries"} {
		intDirective(name, func(c *Config) *int { return &c.Collections.ZSetMaxListpackEntries }, 0, maxSizeT, false)
	}
	for _, name := range []string{"zset-max-listpack-value", "zset-max-ziplist-value"} {
		memDirective(name, func(c *Config) *int64 { return &c.Collections.ZSetMaxListpackValue }, 0, false)
	}
	for _, name := range []string{"list-max-listpack-size", "list-max-ziplist-size"} {
		intDirective(name, func(c *Config) *int { return &c.Collections.ListMaxListpackSize }, -1<<31, 1<<31-1, false)
	}
	for _, kind := range []string{"hash-max-%s-entries", "hash-max-%s-value", "zset-max-%s-entries", "zset-max-%s-value", "list-max-%s-size"} {
		markAlias(fmt.Sprintf(kind, "ziplist"), fmt.Sprintf(kind, "listpack"))
	}
}
