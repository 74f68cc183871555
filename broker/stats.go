package broker

import (
	"slices"
	"strings"
)

// Stats is a snapshot of the core's counters. Slices are sorted by name so
// two snapshots of the same state are identical.
type Stats struct {
	Connections int `json:"connections"`
	Consumers   int `json:"consumers"`
	Bindings    int `json:"bindings"`
	DedupIDs    int `json:"dedup_ids"` // ids currently remembered
	// DedupEffectiveWindowMs is how far back deduplication reaches now: the
	// configured window, or, when a user's window is at its id limit and
	// evicts ids before they age out, the age of that user's oldest
	// remembered id (the smallest such age). Below the configured window
	// a publisher retrying later than this may be enqueued twice.
	DedupEffectiveWindowMs int64 `json:"dedup_effective_window_ms"`
	// DedupWindowMs is the configured window (0: deduplication is off).
	DedupWindowMs int64 `json:"dedup_window_ms"`
	// DedupUsers has one entry per user with remembered ids.
	DedupUsers []DedupUserStats `json:"dedup_users,omitempty"`
	Duplicates uint64           `json:"duplicates"` // publishes confirmed as duplicates
	Refused    uint64           `json:"refused"`    // publishes refused for any reason
	Exchanges  []ExchangeStats  `json:"exchanges"`
	Queues     []QueueStats     `json:"queues"`

	// The fields below are set only by paged and summary snapshots
	// (StatsSummary, StatsPage); Stats leaves them zero.

	// QueueCount and ExchangeCount count every queue and exchange, listed
	// or not.
	QueueCount    int `json:"queue_count,omitempty"`
	ExchangeCount int `json:"exchange_count,omitempty"`
	// Truncated: Queues or Exchanges stop at the page limit. NextQueue
	// and NextExchange are the names to continue after (empty when that
	// list is complete).
	Truncated    bool   `json:"truncated,omitempty"`
	NextQueue    string `json:"next_queue,omitempty"`
	NextExchange string `json:"next_exchange,omitempty"`
	// NextQueueToken and NextExchangeToken, in a session's reply, stand
	// for a position the client may not see: the scan bound cut the list
	// before any entry it may see, so there is no name to continue after.
	// The client continues with the token instead (docs/protocol.md,
	// "Stats replies"); it is valid on that connection only.
	NextQueueToken    uint64 `json:"next_queue_token,omitempty"`
	NextExchangeToken uint64 `json:"next_exchange_token,omitempty"`
	// MemoryShare, in a session's reply to a user that has a memory share
	// (UserLimits.QueuedBytes), is that share and what the user holds
	// against it (Usage.QueuedBytes); absent otherwise.
	MemoryShare *MemoryShareStats `json:"memory_share,omitempty"`
}

// MemoryShareStats is one user's memory share and its use.
type MemoryShareStats struct {
	User        string `json:"user"`
	QueuedBytes int64  `json:"queued_bytes"`
	Share       int64  `json:"share"`
}

// DedupUserStats describes one user's dedup window.
type DedupUserStats struct {
	User        string `json:"user"`
	IDs         int    `json:"ids"`
	Full        bool   `json:"full"`          // at the per-user id limit: ids leave before they age out
	OldestAgeMs int64  `json:"oldest_age_ms"` // age of the oldest remembered id
}

// ExchangeStats counts one exchange's publishes.
type ExchangeStats struct {
	Name       string `json:"name"`
	Type       string `json:"type"`
	Bindings   int    `json:"bindings"`
	Published  uint64 `json:"published"`  // accepted, not counting duplicates
	Unroutable uint64 `json:"unroutable"` // refused with CodeNoRoute
}

// QueueStats describes one queue. Counters only grow.
type QueueStats struct {
	Name      string `json:"name"`
	Ready     int    `json:"ready"`
	Unacked   int    `json:"unacked"`
	Bytes     int64  `json:"bytes"` // body bytes of ready + unacked
	Consumers int    `json:"consumers"`

	Published    uint64 `json:"published"`      // enqueued by publishes
	Duplicates   uint64 `json:"duplicates"`     // duplicate publishes that routed here
	Delivered    uint64 `json:"delivered"`      // delivery attempts (push and fetch)
	Redelivered  uint64 `json:"redelivered"`    // of which redeliveries
	Acked        uint64 `json:"acked"`          // settled by ack
	DeadLettered uint64 `json:"dead_lettered"`  // moved to the dead-letter queue
	Discarded    uint64 `json:"discarded"`      // dropped: no dead-letter queue or it was full
	Refused      uint64 `json:"refused"`        // publishes refused because this queue was full
	DeadLetterIn uint64 `json:"dead_letter_in"` // received as a dead-letter queue
}

// Stats returns a snapshot of the core's counters with every queue and
// exchange. It is O(queues + exchanges): for tests and small brokers;
// drivers answering clients use StatsSummary and StatsPage.
func (c *Core) Stats() Stats {
	s := c.summary()
	s.Exchanges = make([]ExchangeStats, 0, c.exchangeIndex.len())
	s.Queues = make([]QueueStats, 0, c.queueIndex.len())
	c.EachExchange("", func(e ExchangeStats) bool {
		s.Exchanges = append(s.Exchanges, e)
		return true
	})
	c.EachQueue("", func(q QueueStats) bool {
		s.Queues = append(s.Queues, q)
		return true
	})
	return s
}

// StatsSummary returns the broker-wide counters without the per-queue and
// per-exchange lists, plus QueueCount and ExchangeCount. Its cost does
// not depend on the number of queues, exchanges, consumers or messages
// (only on the users with remembered dedup ids, which the users file
// bounds).
func (c *Core) StatsSummary() Stats {
	s := c.summary()
	s.QueueCount, s.ExchangeCount = c.queueIndex.len(), c.exchangeIndex.len()
	return s
}

// StatsPage is StatsSummary plus, in name order, at most limit queues
// named after queuesAfter and at most limit exchanges named after
// exchangesAfter (empty: from the first). When a list stops at the limit
// with more to come, Truncated is set and NextQueue or NextExchange names
// the cursor for the next page. It costs O(log n + limit).
func (c *Core) StatsPage(queuesAfter, exchangesAfter string, limit int) Stats {
	s := c.StatsSummary()
	s.Queues, s.NextQueue = pageOf(c.EachQueue, queuesAfter, limit, func(q QueueStats) string { return q.Name })
	s.Exchanges, s.NextExchange = pageOf(c.EachExchange, exchangesAfter, limit, func(e ExchangeStats) string { return e.Name })
	s.Truncated = s.NextQueue != "" || s.NextExchange != ""
	return s
}

// pageOf collects at most limit entries after the cursor and returns the
// next cursor if one more entry exists.
func pageOf[T any](each func(string, func(T) bool), after string, limit int, name func(T) string) ([]T, string) {
	page := make([]T, 0, min(limit, 64))
	more := false
	each(after, func(x T) bool {
		if len(page) == limit {
			more = true
			return false
		}
		page = append(page, x)
		return true
	})
	if more {
		return page, name(page[len(page)-1])
	}
	return page, ""
}

// EachQueue calls fn with the stats of every queue named after after
// (all of them when after is empty), in name order, until fn returns
// false. Reaching the first costs O(log queues); each next one O(1)
// amortised.
func (c *Core) EachQueue(after string, fn func(QueueStats) bool) {
	c.queueIndex.ascend(after, func(_ string, q *queue) bool {
		c.work++
		return fn(q.stats())
	})
}

// EachVhostQueue is EachQueue over the queues of one vhost only ("" or
// DefaultVhost: the default one), from the core name after (empty: the
// vhost's first): reaching the first costs O(log queues), each next one
// O(1) amortised, and no other vhost's queue is visited.
func (c *Core) EachVhostQueue(vhost, after string, fn func(QueueStats) bool) {
	if prefix := Qualify(vhost, ""); prefix != "" {
		c.queueIndex.ascend(max(after, prefix), func(name string, q *queue) bool {
			if !strings.HasPrefix(name, prefix) {
				return false
			}
			c.work++
			return fn(q.stats())
		})
		return
	}
	c.defaultQueues.ascend(after, func(_ string, q *queue) bool {
		c.work++
		return fn(q.stats())
	})
}

// EachVhostExchange is EachVhostQueue for exchanges.
func (c *Core) EachVhostExchange(vhost, after string, fn func(ExchangeStats) bool) {
	each := func(_ string, ex *exchange) bool {
		c.work++
		return fn(exchangeStats(ex))
	}
	if prefix := Qualify(vhost, ""); prefix != "" {
		c.exchangeIndex.ascend(max(after, prefix), func(name string, ex *exchange) bool {
			return strings.HasPrefix(name, prefix) && each(name, ex)
		})
		return
	}
	c.defaultExchanges.ascend(after, each)
}

// exchangeStats is one exchange's line of the stats.
func exchangeStats(ex *exchange) ExchangeStats {
	return ExchangeStats{
		Name:       ex.name,
		Type:       ex.typ.String(),
		Bindings:   len(ex.bindings),
		Published:  ex.published,
		Unroutable: ex.unroutable,
	}
}

// EachExchange is EachQueue for exchanges.
func (c *Core) EachExchange(after string, fn func(ExchangeStats) bool) {
	c.exchangeIndex.ascend(after, func(_ string, ex *exchange) bool {
		c.work++
		return fn(ExchangeStats{
			Name:       ex.name,
			Type:       ex.typ.String(),
			Bindings:   len(ex.bindings),
			Published:  ex.published,
			Unroutable: ex.unroutable,
		})
	})
}

// summary fills the broker-wide counters.
func (c *Core) summary() Stats {
	s := Stats{
		Connections: len(c.conns),
		Consumers:   c.nConsumers,
		Bindings:    c.nBindings,
		DedupIDs:    c.dedup.len(),
		Duplicates:  c.duplicates,
		Refused:     c.refused,
	}
	if c.dedup.enabled() {
		s.DedupWindowMs = c.dedup.window.Milliseconds()
		s.DedupEffectiveWindowMs = s.DedupWindowMs
	}
	for _, u := range c.dedup.users {
		w := c.dedup.byUser[u]
		age, ok := w.oldestAge(c.now)
		if !ok {
			continue
		}
		us := DedupUserStats{User: u, IDs: w.len(), Full: w.full(), OldestAgeMs: age.Milliseconds()}
		s.DedupUsers = append(s.DedupUsers, us)
		if us.Full && us.OldestAgeMs < s.DedupEffectiveWindowMs {
			s.DedupEffectiveWindowMs = us.OldestAgeMs
		}
	}
	return s
}

// Queue returns the stats of one queue, and false if it does not exist.
func (c *Core) Queue(name string) (QueueStats, bool) {
	q := c.queues[name]
	if q == nil {
		return QueueStats{}, false
	}
	return q.stats(), true
}

// DeletedQueueCounters returns the summed counters (Published to
// DeadLetterIn) of every queue deleted so far; the other fields are zero.
// Broker-wide totals are these plus the live queues' counters, so they
// never decrease when a queue goes (metrics exporters rely on it). O(1).
func (c *Core) DeletedQueueCounters() QueueStats {
	return countersStats(&c.deleted)
}

func countersStats(k *queueCounters) QueueStats {
	return QueueStats{
		Published:    k.published,
		Duplicates:   k.duplicates,
		Delivered:    k.delivered,
		Redelivered:  k.redelivered,
		Acked:        k.acked,
		DeadLettered: k.deadLettered,
		Discarded:    k.discarded,
		Refused:      k.refused,
		DeadLetterIn: k.deadLetterIn,
	}
}

func (q *queue) stats() QueueStats {
	return QueueStats{
		Name:         q.name,
		Ready:        q.ready.len(),
		Unacked:      q.unacked,
		Bytes:        q.bytes,
		Consumers:    q.consumers.len(),
		Published:    q.c.published,
		Duplicates:   q.c.duplicates,
		Delivered:    q.c.delivered,
		Redelivered:  q.c.redelivered,
		Acked:        q.c.acked,
		DeadLettered: q.c.deadLettered,
		Discarded:    q.c.discarded,
		Refused:      q.c.refused,
		DeadLetterIn: q.c.deadLetterIn,
	}
}

// HeldMessage is one message the core holds.
type HeldMessage struct {
	Queue     string `json:"queue"`
	MessageID string `json:"message_id"`
	Unacked   bool   `json:"unacked"`
	// Conn and Tag name the outstanding delivery of an unacked message.
	Conn          ConnID `json:"conn,omitempty"`
	Tag           uint64 `json:"tag,omitempty"`
	DeliveryCount uint32 `json:"delivery_count"`
	Redelivered   bool   `json:"redelivered"`
}

// Held lists every message the core holds: for each queue (by name), its
// ready messages in queue order, then its unacked ones in enqueue order.
// It is what an in-memory broker loses when its process dies, for the
// simulator's checkers. It allocates; it is not for hot paths.
func (c *Core) Held() []HeldMessage {
	names := make([]string, 0, len(c.queues))
	for name := range c.queues {
		names = append(names, name)
	}
	slices.Sort(names)
	unacked := make(map[*queue][]*message)
	for _, cn := range c.conns {
		for _, m := range cn.appendAll(nil) {
			unacked[m.q] = append(unacked[m.q], m)
		}
	}
	for _, td := range c.closing {
		for _, m := range td.appendLive(nil) {
			unacked[m.q] = append(unacked[m.q], m)
		}
	}
	var out []HeldMessage
	for _, name := range names {
		q := c.queues[name]
		for i := 0; i < q.ready.len(); i++ {
			m := q.ready.at(i)
			out = append(out, HeldMessage{Queue: name, MessageID: m.id, DeliveryCount: m.deliveries, Redelivered: m.redelivered})
		}
		ms := unacked[q]
		slices.SortFunc(ms, func(a, b *message) int {
			switch {
			case a.seq < b.seq:
				return -1
			case a.seq > b.seq:
				return 1
			}
			return 0
		})
		for _, m := range ms {
			out = append(out, HeldMessage{
				Queue: name, MessageID: m.id, Unacked: true,
				Conn: m.owner.id, Tag: m.tag,
				DeliveryCount: m.deliveries, Redelivered: m.redelivered,
			})
		}
	}
	return out
}
