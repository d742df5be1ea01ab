package commands

import (
	"strconv"

	"github.com/structd/structd/config"
)

// Publish/subscribe. The server keeps the subscriptions and delivers the
// messages (server/pubsub.go); these handlers parse and reply.

func init() {
	psFlags := PubSub | NoScript | Loading | Stale
	cats := []string{"pubsub", "slow"}
	register(
		&Command{Name: "subscribe", Arity: -2, Flags: psFlags, Categories: cats, Handler: cmdSubscribe},
		&Command{Name: "unsubscribe", Arity: -1, Flags: psFlags, Categories: cats, Handler: cmdUnsubscribe},
		&Command{Name: "psubscribe", Arity: -2, Flags: psFlags, Categories: cats, Handler: cmdPSubscribe},
		&Command{Name: "punsubscribe", Arity: -1, Flags: psFlags, Categories: cats, Handler: cmdPUnsubscribe},
		&Command{Name: "ssubscribe", Arity: -2, Flags: psFlags, FirstKey: 1, LastKey: -1, KeyStep: 1,
			Categories: cats, Handler: cmdSSubscribe},
		&Command{Name: "sunsubscribe", Arity: -1, Flags: psFlags, FirstKey: 1, LastKey: -1, KeyStep: 1,
			Categories: cats, Handler: cmdSUnsubscribe},
		&Command{Name: "publish", Arity: 3, Flags: PubSub | Loading | Stale | Fast,
			Categories: []string{"pubsub", "fast"}, Handler: cmdPublish},
		&Command{Name: "spublish", Arity: 3, Flags: PubSub | Loading | Stale | Fast, FirstKey: 1, LastKey: 1, KeyStep: 1,
			Categories: []string{"pubsub", "fast"}, Handler: cmdSPublish},
		&Command{Name: "pubsub", Arity: -2, Categories: []string{"slow"}, Subcommands: map[string]*Command{
			"help":          {Arity: 2, Flags: Loading | Stale, Categories: []string{"slow"}, Handler: cmdPubSubHelp},
			"channels":      {Arity: -2, Flags: PubSub | Loading | Stale, Categories: cats, Handler: cmdPubSubChannels},
			"numsub":        {Arity: -2, Flags: PubSub | Loading | Stale, Categories: cats, Handler: cmdPubSubNumSub},
			"numpat":        {Arity: 2, Flags: PubSub | Loading | Stale, Categories: cats, Handler: cmdPubSubNumPat},
			"shardchannels": {Arity: -2, Flags: PubSub | Loading | Stale, Categories: cats, Handler: cmdPubSubShardChannels},
			"shardnumsub":   {Arity: -2, Flags: PubSub | Loading | Stale, Categories: cats, Handler: cmdPubSubShardNumSub},
		}},
	)
	onReset(func(c *Ctx) {
		if c.Session.Subscriptions > 0 {
			c.Conn.Unsubscribe(UnsubscribeAllSilently, nil)
		}
	})
}

// SubKind is the kind of a subscription.
type SubKind uint8

// The subscription kinds.
const (
	SubChannel SubKind = iota // SUBSCRIBE
	SubPattern                // PSUBSCRIBE
	SubShard                  // SSUBSCRIBE
	// UnsubscribeAllSilently, given to Conn.Unsubscribe, ends every
	// subscription of every kind without a reply (RESET).
	UnsubscribeAllSilently
)

// PubSubHub is the server's message hub. server.Server implements it.
type PubSubHub interface {
	// Publish delivers message to the subscribers of channel (and, for
	// SubChannel, of the patterns matching it) and returns how many
	// deliveries it made. from is the publishing connection (nil for the
	// server): a message to itself joins its replies in order.
	Publish(from Conn, kind SubKind, channel, message []byte) int
	// ActiveChannels lists the channels (SubChannel or SubShard) with at
	// least one subscriber, matching pattern if it is not nil.
	ActiveChannels(kind SubKind, pattern []byte) [][]byte
	// NumSub is the number of subscribers of a channel.
	NumSub(kind SubKind, channel []byte) int
	// NumPat is the number of distinct patterns subscribed to.
	NumPat() int
	// NotifyKeyspaceEvent publishes a keyspace notification for a change
	// of class to key in database db; flags are the current
	// notify-keyspace-events flags (not zero).
	NotifyKeyspaceEvent(from Conn, flags int, class int, event string, key []byte, db int)
}

func hub(c *Ctx) PubSubHub { return c.Server.(PubSubHub) }

func cmdSubscribe(c *Ctx)  { c.Conn.Subscribe(SubChannel, c.Args[1:]) }
func cmdPSubscribe(c *Ctx) { c.Conn.Subscribe(SubPattern, c.Args[1:]) }

// cmdSSubscribe refuses to run inside EXEC, as Redis refuses it to a
// client that cannot block (SUBSCRIBE and PSUBSCRIBE are allowed there
// for backward compatibility).
func cmdSSubscribe(c *Ctx) {
	if c.InExec {
		c.W.Error("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")
		return
	}
	c.Conn.Subscribe(SubShard, c.Args[1:])
}

func cmdUnsubscribe(c *Ctx)  { c.Conn.Unsubscribe(SubChannel, c.Args[1:]) }
func cmdPUnsubscribe(c *Ctx) { c.Conn.Unsubscribe(SubPattern, c.Args[1:]) }
func cmdSUnsubscribe(c *Ctx) { c.Conn.Unsubscribe(SubShard, c.Args[1:]) }

func cmdPublish(c *Ctx)  { c.W.Int(int64(hub(c).Publish(c.Conn, SubChannel, c.Args[1], c.Args[2]))) }
func cmdSPublish(c *Ctx) { c.W.Int(int64(hub(c).Publish(c.Conn, SubShard, c.Args[1], c.Args[2]))) }

func cmdPubSubChannels(c *Ctx)      { pubsubChannels(c, SubChannel) }
func cmdPubSubShardChannels(c *Ctx) { pubsubChannels(c, SubShard) }

// pubsubChannels is PUBSUB CHANNELS|SHARDCHANNELS [pattern].
func pubsubChannels(c *Ctx, kind SubKind) {
	if len(c.Args) > 3 {
		c.W.Error("ERR unknown subcommand or wrong number of arguments for '" + c.Arg(1) + "'. Try PUBSUB HELP.")
		return
	}
	var pattern []byte
	if len(c.Args) == 3 {
		pattern = c.Args[2]
	}
	chans := hub(c).ActiveChannels(kind, pattern)
	c.W.Array(len(chans))
	for _, ch := range chans {
		c.W.Bulk(ch)
	}
}

func cmdPubSubNumSub(c *Ctx)      { pubsubNumSub(c, SubChannel) }
func cmdPubSubShardNumSub(c *Ctx) { pubsubNumSub(c, SubShard) }

// pubsubNumSub is PUBSUB NUMSUB|SHARDNUMSUB [channel ...]: channel and
// subscriber count pairs in a flat array, in RESP3 too (as Redis 7.0).
func pubsubNumSub(c *Ctx, kind SubKind) {
	h := hub(c)
	c.W.Array(2 * (len(c.Args) - 2))
	for _, ch := range c.Args[2:] {
		c.W.Bulk(ch)
		c.W.Int(int64(h.NumSub(kind, ch)))
	}
}

func cmdPubSubNumPat(c *Ctx) { c.W.Int(int64(hub(c).NumPat())) }

func cmdPubSubHelp(c *Ctx) {
	lines := []string{
		"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
		"CHANNELS [<pattern>]",
		"    Return the currently active channels matching a <pattern> (default: '*').",
		"NUMPAT",
		"    Return number of subscriptions to patterns.",
		"NUMSUB [<channel> ...]",
		"    Return the number of subscribers for the specified channels, excluding",
		"    pattern subscriptions(default: no channels).",
		"SHARDCHANNELS [<pattern>]",
		"    Return the currently active shard level channels matching a <pattern> (default: '*').",
		"SHARDNUMSUB [<shardchannel> ...]",
		"    Return the number of subscribers for the specified shard level channel(s)",
		"HELP",
		"    Prints this help.",
	}
	c.W.Array(len(lines))
	for _, l := range lines {
		c.W.Simple(l)
	}
}

// notifyKeyspaceEvent publishes a keyspace notification if
// notify-keyspace-events asks for it. Disabled (the default), it costs one
// atomic load.
func notifyKeyspaceEvent(c *Ctx, class EventClass, event string, key []byte, db int) {
	if c.Server == nil {
		return
	}
	flags := c.Server.Config().Limits().KeyspaceEvents
	if flags == 0 || flags&classFlag(class) == 0 {
		return
	}
	if ps, ok := c.Server.(PubSubHub); ok {
		ps.NotifyKeyspaceEvent(c.Conn, flags, classFlag(class), event, key, db)
	}
}

// classFlag maps an event class to its notify-keyspace-events flag.
func classFlag(class EventClass) int {
	switch class {
	case EventGeneric:
		return config.NotifyGeneric
	case EventString:
		return config.NotifyString
	case EventList:
		return config.NotifyList
	case EventSet:
		return config.NotifySet
	case EventHash:
		return config.NotifyHash
	case EventZSet:
		return config.NotifyZSet
	case EventStream:
		return config.NotifyStream
	}
	return 0
}

// KeyspaceChannel and KeyeventChannel are the notification channels:
// __keyspace@<db>__:<key> and __keyevent@<db>__:<event>.
func KeyspaceChannel(dst []byte, db int, key []byte) []byte {
	dst = append(dst, "__keyspace@"...)
	dst = strconv.AppendInt(dst, int64(db), 10)
	dst = append(dst, "__:"...)
	return append(dst, key...)
}

// KeyeventChannel: see KeyspaceChannel.
func KeyeventChannel(dst []byte, db int, event string) []byte {
	dst = append(dst, "__keyevent@"...)
	dst = strconv.AppendInt(dst, int64(db), 10)
	dst = append(dst, "__:"...)
	return append(dst, event...)
}

// pingSubscribed is PING from a RESP2 client in subscribed mode: Redis
// answers ["pong", message] so the reply cannot be taken for a message.
func pingSubscribed(c *Ctx) {
	if len(c.Args) > 2 {
		c.W.Error(WrongArity("ping"))
		return
	}
	c.W.Array(2)
	c.W.BulkString("pong")
	if len(c.Args) == 2 {
		c.W.Bulk(c.Args[1])
	} else {
		c.W.BulkString("")
	}
}
