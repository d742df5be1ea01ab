package config

import (
	"errors"
	"strconv"
	"strings"
)

// Keyspace-notification flags, as Redis's NOTIFY_* bits: the classes a
// notify-keyspace-events string selects.
const (
	NotifyKeyspace = 1 << iota // K: __keyspace@<db>__:<key> channels
	NotifyKeyevent             // E: __keyevent@<db>__:<event> channels
	NotifyGeneric              // g
	NotifyString               // $
	NotifyList                 // l
	NotifySet                  // s
	NotifyHash                 // h
	NotifyZSet                 // z
	NotifyExpired              // x
	NotifyEvicted              // e
	NotifyStream               // t
	NotifyKeyMiss              // m (not part of A)
	NotifyLoaded               // module-only, no character
	NotifyModule               // d
	NotifyNew                  // n (not part of A)

	// NotifyAll is what A stands for.
	NotifyAll = NotifyGeneric | NotifyString | NotifyList | NotifySet | NotifyHash |
		NotifyZSet | NotifyExpired | NotifyEvicted | NotifyStream | NotifyModule
)

// notifyChars maps the class characters to flags, in the order Redis's
// keyspaceEventsFlagsToString writes them (after A or the classes: K E m).
var notifyChars = []struct {
	c    byte
	flag int
}{
	{'g', NotifyGeneric}, {'$', NotifyString}, {'l', NotifyList}, {'s', NotifySet},
	{'h', NotifyHash}, {'z', NotifyZSet}, {'x', NotifyExpired}, {'e', NotifyEvicted},
	{'t', NotifyStream}, {'d', NotifyModule}, {'n', NotifyNew},
}

// ParseKeyspaceEvents parses a notify-keyspace-events value, as Redis's
// keyspaceEventsStringToFlags.
func ParseKeyspaceEvents(s string) (int, error) {
	flags := 0
	for i := 0; i < len(s); i++ {
		switch ch := s[i]; ch {
		case 'A':
			flags |= NotifyAll
		case 'K':
			flags |= NotifyKeyspace
		case 'E':
			flags |= NotifyKeyevent
		case 'm':
			flags |= NotifyKeyMiss
		default:
			found := false
			for _, nc := range notifyChars {
				if nc.c == ch {
					flags |= nc.flag
					found = true
				}
			}
			if !found {
				return 0, errors.New("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.")
			}
		}
	}
	return flags, nil
}

// KeyspaceEventsString is the canonical form of flags CONFIG GET shows, as
// Redis's keyspaceEventsFlagsToString.
func KeyspaceEventsString(flags int) string {
	var b []byte
	if flags&NotifyAll == NotifyAll {
		b = append(b, 'A') // Redis writes no n after A
	} else {
		for _, nc := range notifyChars {
			if flags&nc.flag != 0 {
				b = append(b, nc.c)
			}
		}
	}
	if flags&NotifyKeyspace != 0 {
		b = append(b, 'K')
	}
	if flags&NotifyKeyevent != 0 {
		b = append(b, 'E')
	}
	if flags&NotifyKeyMiss != 0 {
		b = append(b, 'm')
	}
	return string(b)
}

// The client classes of client-output-buffer-limit.
const (
	ClientNormal = iota
	ClientReplica
	ClientPubSub
)

// classNames are the class names CONFIG GET writes, by class.
var classNames = [...]string{"normal", "slave", "pubsub"}

// OutputBufferLimit is one class of client-output-buffer-limit: a client
// whose pending output exceeds Hard bytes, or stays above Soft bytes for
// SoftSeconds, is disconnected. Zero disables a limit.
type OutputBufferLimit struct {
	Hard, Soft  int64
	SoftSeconds int64
}

// DefaultOutputBufferLimits are Redis 7.0's defaults.
var DefaultOutputBufferLimits = [3]OutputBufferLimit{
	ClientNormal:  {},
	ClientReplica: {Hard: 256 << 20, Soft: 64 << 20, SoftSeconds: 60},
	ClientPubSub:  {Hard: 32 << 20, Soft: 8 << 20, SoftSeconds: 60},
}

func init() {
	define(&directive{
		name: "notify-keyspace-events",
		get:  func(c *Config) string { return KeyspaceEventsString(c.NotifyKeyspaceEvents) },
		set: func(c *Config, args []string) error {
			v, err := one(args)
			if err != nil {
				return err
			}
			flags, err := ParseKeyspaceEvents(v)
			if err != nil {
				return err
			}
			c.NotifyKeyspaceEvents = flags
			return nil
		},
	})
	// client-output-buffer-limit <class> <hard> <soft> <soft seconds> ...
	// changes only the classes it names, as in Redis.
	define(&directive{
		name: "client-output-buffer-limit", multiArg: true,
		get: func(c *Config) string {
			parts := make([]string, 0, 12)
			for class, l := range c.OutputBufferLimits {
				parts = append(parts, classNames[class], strconv.FormatInt(l.Hard, 10),
					strconv.FormatInt(l.Soft, 10), strconv.FormatInt(l.SoftSeconds, 10))
			}
			return strings.Join(parts, " ")
		},
		set: func(c *Config, args []string) error {
			if len(args) == 1 {
				// One quoted word, as --client-output-buffer-limit
				// "pubsub 32mb 8mb 60" gives it: split it, as Redis
				// does for its multi-argument directives.
				args = strings.Fields(args[0])
			}
			if len(args)%4 != 0 {
				return errors.New("Wrong number of arguments in buffer limit configuration.")
			}
			limits := c.OutputBufferLimits
			for i := 0; i < len(args); i += 4 {
				class := -1
				switch strings.ToLower(args[i]) {
				case "normal":
					class = ClientNormal
				case "replica", "slave":
					class = ClientReplica
				case "pubsub":
					class = ClientPubSub
				default:
					return errors.New("Invalid client class specified in buffer limit configuration.")
				}
				hard, err1 := ParseMemory(args[i+1])
				soft, err2 := ParseMemory(args[i+2])
				secs, err3 := strconv.ParseInt(args[i+3], 10, 64)
				if err1 != nil || err2 != nil || err3 != nil || secs < 0 {
					return errors.New("Error in hard, soft or soft_seconds setting in buffer limit configuration.")
				}
				limits[class] = OutputBufferLimit{Hard: hard, Soft: soft, SoftSeconds: secs}
			}
			c.OutputBufferLimits = limits
			return nil
		},
	})
}
