package server

import (
	"sort"
	"sync"

	"github.com/structd/structd/commands"
	"github.com/structd/structd/config"
	"github.com/structd/structd/internal/glob"
	"github.com/structd/structd/internal/resp"
	"github.com/structd/structd/memtier"
)

// pubsubHub holds every subscription, after Redis's pubsub_channels,
// pubsub_patterns and pubsub_shard_channels. Publishers hold mu shared
// while they append a message to each subscriber's output; subscribing
// holds it exclusively while it registers the client and queues the
// confirmation, so a message on a channel always follows the reply that
// confirmed the subscription. Lock order: hub, then a client's output.
type pubsubHub struct {
	mu       sync.RWMutex
	channels map[string]map[*client]struct{}
	shard    map[string]map[*client]struct{}
	patterns map[string]map[*client]struct{}
}

func (h *pubsubHub) table(kind commands.SubKind) map[string]map[*client]struct{} {
	switch kind {
	case commands.SubPattern:
		if h.patterns == nil {
			h.patterns = map[string]map[*client]struct{}{}
		}
		return h.patterns
	case commands.SubShard:
		if h.shard == nil {
			h.shard = map[string]map[*client]struct{}{}
		}
		return h.shard
	}
	if h.channels == nil {
		h.channels = map[string]map[*client]struct{}{}
	}
	return h.channels
}

// subscriptions are one client's subscriptions, in subscription order
// (Redis lists patterns in that order when unsubscribing from all). Owned
// by the client's goroutine, changed under the hub lock.
type subscriptions struct {
	names [3][]string
	sets  [3]map[string]struct{}
}

func (s *subscriptions) has(kind commands.SubKind, name string) bool {
	_, ok := s.sets[kind][name]
	return ok
}

func (s *subscriptions) add(kind commands.SubKind, name string) {
	if s.sets[kind] == nil {
		s.sets[kind] = map[string]struct{}{}
	}
	s.sets[kind][name] = struct{}{}
	s.names[kind] = append(s.names[kind], name)
}

func (s *subscriptions) remove(kind commands.SubKind, name string) {
	delete(s.sets[kind], name)
	for i, n := range s.names[kind] {
		if n == name {
			s.names[kind] = append(s.names[kind][:i], s.names[kind][i+1:]...)
			break
		}
	}
}

// count is the number the confirmation replies carry: channels and
// patterns together, shard channels apart (Redis's subscriptionCount).
func (s *subscriptions) count(kind commands.SubKind) int {
	if kind == commands.SubShard {
		return len(s.names[commands.SubShard])
	}
	return len(s.names[commands.SubChannel]) + len(s.names[commands.SubPattern])
}

func (s *subscriptions) total() int {
	return len(s.names[0]) + len(s.names[1]) + len(s.names[2])
}

var subscribeWords = [3]string{"subscribe", "psubscribe", "ssubscribe"}
var unsubscribeWords = [3]string{"unsubscribe", "punsubscribe", "sunsubscribe"}

// Subscribe implements commands.Conn.
func (cl *client) Subscribe(kind commands.SubKind, names [][]byte) {
	cl.startAsyncOutput()
	cl.publish() // publishers read the protocol from the published state
	h := &cl.srv.pubsub
	h.mu.Lock()
	t := h.table(kind)
	for _, n := range names {
		name := string(n)
		if !cl.subs.has(kind, name) {
			cl.subs.add(kind, name)
			set := t[name]
			if set == nil {
				set = map[*client]struct{}{}
				t[name] = set
			}
			set[cl] = struct{}{}
		}
		cl.writer.Push(3)
		cl.writer.BulkString(subscribeWords[kind])
		cl.writer.Bulk(n)
		cl.writer.Int(int64(cl.subs.count(kind)))
	}
	cl.subsChanged()
	// Queue the confirmations (and any reply before them) while no
	// publisher can deliver on the new channels.
	cl.flushAsync()
	h.mu.Unlock()
}

// Unsubscribe implements commands.Conn.
func (cl *client) Unsubscribe(kind commands.SubKind, names [][]byte) {
	h := &cl.srv.pubsub
	h.mu.Lock()
	defer h.mu.Unlock()
	if kind == commands.UnsubscribeAllSilently {
		for k := commands.SubChannel; k <= commands.SubShard; k++ {
			for _, name := range append([]string(nil), cl.subs.names[k]...) {
				cl.unsubscribeLocked(k, name)
			}
		}
		cl.subsChanged()
		return
	}
	if len(names) == 0 {
		all := append([]string(nil), cl.subs.names[kind]...)
		if len(all) == 0 {
			cl.writer.Push(3)
			cl.writer.BulkString(unsubscribeWords[kind])
			cl.writer.Null()
			cl.writer.Int(int64(cl.subs.count(kind)))
		}
		for _, name := range all {
			cl.unsubscribeLocked(kind, name)
			cl.writer.Push(3)
			cl.writer.BulkString(unsubscribeWords[kind])
			cl.writer.BulkString(name)
			cl.writer.Int(int64(cl.subs.count(kind)))
		}
	} else {
		for _, n := range names {
			if cl.subs.has(kind, string(n)) {
				cl.unsubscribeLocked(kind, string(n))
			}
			cl.writer.Push(3)
			cl.writer.BulkString(unsubscribeWords[kind])
			cl.writer.Bulk(n)
			cl.writer.Int(int64(cl.subs.count(kind)))
		}
	}
	cl.subsChanged()
}

// unsubscribeLocked removes one subscription; the caller holds the hub.
func (cl *client) unsubscribeLocked(kind commands.SubKind, name string) {
	cl.subs.remove(kind, name)
	t := cl.srv.pubsub.table(kind)
	if set := t[name]; set != nil {
		delete(set, cl)
		if len(set) == 0 {
			delete(t, name)
		}
	}
}

// subsChanged publishes the subscription counts after a change.
func (cl *client) subsChanged() {
	n := cl.subs.total()
	cl.session.Subscriptions = n
	cl.subCount.Store(int64(n))
	cl.pubSubs.Store(uint64(len(cl.subs.names[0])) | uint64(len(cl.subs.names[1]))<<21 | uint64(len(cl.subs.names[2]))<<42)
}

// unsubscribeAll drops every subscription of a departing client.
func (cl *client) unsubscribeAll() {
	if cl.subCount.Load() == 0 {
		return
	}
	cl.Unsubscribe(commands.UnsubscribeAllSilently, nil)
}

// flushAsync moves the replies written so far to the pending output, once
// the writes they acknowledge are as durable as appendfsync asks. Only the
// client's goroutine calls it, once it has an asyncOutput.
func (cl *client) flushAsync() {
	if !cl.ctx.LogPos.IsZero() && !cl.awaitDurable() {
		cl.kill() // a write it ran cannot be made durable: no reply
		return
	}
	if o := cl.out.Load(); o != nil && len(cl.writer.Buf) > 0 {
		o.enqueue(cl, cl.writer.Buf)
		cl.writer.Reset()
	}
}

// message is one published message, encoded lazily once per protocol.
type message struct {
	kind             commands.SubKind
	channel, payload []byte
	pattern          string
	enc              [2][]byte // RESP2, RESP3
}

func (m *message) bytes(proto int) []byte {
	i := 0
	if proto == 3 {
		i = 1
	}
	if m.enc[i] == nil {
		w := resp.Writer{Proto: proto}
		switch {
		case m.pattern != "":
			w.Push(4)
			w.BulkString("pmessage")
			w.BulkString(m.pattern)
		case m.kind == commands.SubShard:
			w.Push(3)
			w.BulkString("smessage")
		default:
			w.Push(3)
			w.BulkString("message")
		}
		w.Bulk(m.channel)
		w.Bulk(m.payload)
		m.enc[i] = w.Buf
	}
	return m.enc[i]
}

// Publish implements commands.PubSubHub: the channel's subscribers, then for
// a normal channel every client of every matching pattern, each delivery
// counted, as Redis's pubsubPublishMessage.
func (s *Server) Publish(from commands.Conn, kind commands.SubKind, channel, payload []byte) int {
	h := &s.pubsub
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	t := h.channels
	if kind == commands.SubShard {
		t = h.shard
	}
	if set := t[string(channel)]; len(set) > 0 {
		m := message{kind: kind, channel: channel, payload: payload}
		for cl := range set {
			if cl.deliver(from, m.bytes(cl.protoOf())) {
				n++
			}
		}
	}
	if kind != commands.SubChannel {
		return n
	}
	for pat, set := range h.patterns {
		if !glob.Match(pat, channel) {
			continue
		}
		m := message{kind: kind, channel: channel, payload: payload, pattern: pat}
		for cl := range set {
			if cl.deliver(from, m.bytes(cl.protoOf())) {
				n++
			}
		}
	}
	return n
}

// protoOf is the protocol a subscriber speaks, as it last published it.
func (cl *client) protoOf() int { return int(uint8(cl.pubState.Load() >> 32)) }

// deliver queues a message on a subscriber's output and reports whether
// it did: a client being disconnected (killed, or past its output limit)
// still in the hub until its goroutine leaves receives nothing, as Redis
// frees such a client before the next command. A message the client
// publishes to itself (or a keyspace event its own command causes) goes
// into its reply buffer, after the replies before it, as in Redis.
func (cl *client) deliver(from commands.Conn, b []byte) bool {
	if from == commands.Conn(cl) {
		cl.writer.Raw(b)
		return true
	}
	select {
	case <-cl.killed:
		return false
	default:
	}
	if o := cl.out.Load(); o != nil {
		o.enqueue(cl, b)
		return true
	}
	return false
}

// ActiveChannels implements commands.PubSubHub.
func (s *Server) ActiveChannels(kind commands.SubKind, pattern []byte) [][]byte {
	h := &s.pubsub
	h.mu.RLock()
	t := h.channels
	if kind == commands.SubShard {
		t = h.shard
	}
	out := make([][]byte, 0, len(t))
	for name := range t {
		if pattern == nil || glob.Match(pattern, name) {
			out = append(out, []byte(name))
		}
	}
	h.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return string(out[i]) < string(out[j]) })
	return out
}

// NumSub implements commands.PubSubHub.
func (s *Server) NumSub(kind commands.SubKind, channel []byte) int {
	h := &s.pubsub
	h.mu.RLock()
	defer h.mu.RUnlock()
	if kind == commands.SubShard {
		return len(h.shard[string(channel)])
	}
	return len(h.channels[string(channel)])
}

// NumPat implements commands.PubSubHub.
func (s *Server) NumPat() int {
	h := &s.pubsub
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.patterns)
}

// NotifyKeyspaceEvent implements commands.PubSubHub: Redis's
// notifyKeyspaceEvent, publishing event on __keyspace@<db>__:<key> (K)
// and key on __keyevent@<db>__:<event> (E).
func (s *Server) NotifyKeyspaceEvent(from commands.Conn, flags, class int, event string, key []byte, db int) {
	if flags&class == 0 {
		return
	}
	if flags&config.NotifyKeyspace != 0 {
		var buf [64]byte
		s.Publish(from, commands.SubChannel, commands.KeyspaceChannel(buf[:0], db, key), []byte(event))
	}
	if flags&config.NotifyKeyevent != 0 {
		var buf [64]byte
		s.Publish(from, commands.SubChannel, commands.KeyeventChannel(buf[:0], db, event), key)
	}
}

// keyMissed is the keyspace's OnKeyMiss hook: the "keymiss" event.
func (s *Server) keyMissed(db *memtier.DB, key []byte) {
	if flags := s.cfg.Limits().KeyspaceEvents; flags&config.NotifyKeyMiss != 0 {
		s.NotifyKeyspaceEvent(nil, flags, config.NotifyKeyMiss, "keymiss", key, db.ID())
	}
}

// keyAdded is the keyspace's OnNewKey hook: the "new" event.
func (s *Server) keyAdded(db *memtier.DB, key []byte) {
	if flags := s.cfg.Limits().KeyspaceEvents; flags&config.NotifyNew != 0 {
		s.NotifyKeyspaceEvent(nil, flags, config.NotifyNew, "new", key, db.ID())
	}
}

// keyExpired is the keyspace's OnExpired hook: the "expired" event.
func (s *Server) keyExpired(db *memtier.DB, key string) {
	if s.persist != nil {
		s.persist.logExpired(db, key)
	}
	s.repl.Feed([]commands.Effect{{DB: db.ID(), Args: [][]byte{[]byte("DEL"), []byte(key)}}})
	flags := s.cfg.Limits().KeyspaceEvents
	if flags&config.NotifyExpired == 0 {
		return
	}
	s.NotifyKeyspaceEvent(nil, flags, config.NotifyExpired, "expired", []byte(key), db.ID())
}

var (
	_ commands.PubSubHub = (*Server)(nil)
	_ commands.Conn      = (*client)(nil)
)

// pubsubCounts is INFO's pubsub_channels, pubsub_patterns and
// pubsubshard_channels.
func (s *Server) pubsubCounts() (channels, patterns, shard int) {
	h := &s.pubsub
	h.mu.RLock()
	defer h.mu.RUnlock()
	return len(h.channels), len(h.patterns), len(h.shard)
}
