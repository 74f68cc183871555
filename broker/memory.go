package broker

import "fmt"

// Memory accounting: a running estimate of the heap the core holds for
// clients, kept in O(1) per change so that a driver can compare it with a
// budget after every call (Core.MemoryUsage). It counts:
//
//   - every message copy in a queue (ready or unacked): its id, routing key
//     and body bytes, a quarter more for allocator rounding, plus
//     MessageOverhead. A publish routed to several queues
//     shares one buffer between its copies, but each copy counts it: the
//     estimate errs high for fanout, never low;
//   - each distinct shared Prefix once, however many messages use it (a
//     reference count per prefix, kept in a map keyed by the pointer);
//   - every id remembered by the dedup windows, DedupEntryOverhead each;
//   - topology: exchanges, queues, bindings, consumers and connections, a
//     constant each (names included, at their 255-byte maximum).
//
// The constants were measured with TestMemoryPerQueuedMessage and
// TestMemoryUsageMatchesHeap (docs/performance.md, "Memory budget").
const (
	// MessageOverhead is the heap a queued message copy costs beyond its
	// id, key and body bytes: the message record (160 bytes), its slot in
	// the queue's ring (which doubles as it grows), the connection's
	// outstanding record while unacked, and allocator rounding of the body
	// buffer. Measured: 731 heap bytes per queued 512-byte message with an
	// 11-byte id and key (~200 bytes of overhead).
	MessageOverhead = 224
	// DedupEntryOverhead is the heap one remembered message id costs: a
	// 16-byte key in the open-addressed id set at its load factor and a
	// 24-byte FIFO entry (measured: ~71 bytes).
	DedupEntryOverhead = 80
	// Topology objects, names included.
	QueueOverhead      = 2048
	ExchangeOverhead   = 1024
	BindingOverhead    = 512
	ConsumerOverhead   = 512
	ConnectionOverhead = 512
)

// memAccount is the core's running memory estimate.
type memAccount struct {
	copies      int64 // message copies held (ready + unacked)
	copyBytes   int64 // their id, key and body bytes, prefix excluded
	prefixBytes int64 // bytes of the distinct prefixes held
	prefixes    map[*Prefix]int64
}

// copyCost is what one message copy's bytes count, prefix excluded: its
// id, key and body plus a quarter for the allocator's rounding of that
// buffer to its size class (up to ~18% measured for 4 KiB bodies, 12.5%
// for large ones).
func copyCost(m *message) int64 {
	n := int64(len(m.id) + len(m.routingKey) + len(m.body))
	return n + n/4
}

// memHold accounts a message copy entering a queue.
func (c *Core) memHold(m *message) {
	a := &c.mem
	a.copies++
	cost := copyCost(m)
	a.copyBytes += cost
	if m.publisher != "" {
		c.use(m.publisher).QueuedBytes += cost + MessageOverhead
	}
	if p := m.prefix; p != nil {
		if a.prefixes == nil {
			a.prefixes = make(map[*Prefix]int64)
		}
		n := a.prefixes[p]
		if n == 0 {
			a.prefixBytes += int64(p.Len())
		}
		a.prefixes[p] = n + 1
	}
}

// memRelease accounts a message copy leaving the core.
func (c *Core) memRelease(m *message) {
	a := &c.mem
	a.copies--
	cost := copyCost(m)
	a.copyBytes -= cost
	if m.publisher != "" {
		c.unuse(m.publisher, func(u *Usage) { u.QueuedBytes -= cost + MessageOverhead })
	}
	if a.copies < 0 || a.copyBytes < 0 {
		panic("broker: memory accounting below zero")
	}
	if p := m.prefix; p != nil {
		n := a.prefixes[p] - 1
		switch {
		case n < 0:
			panic("broker: releasing a prefix the memory accounting does not hold")
		case n == 0:
			delete(a.prefixes, p)
			a.prefixBytes -= int64(p.Len())
		default:
			a.prefixes[p] = n
		}
	}
}

// MemoryUsage estimates, in bytes, the heap the core holds for clients:
// messages, shared prefixes, dedup entries and topology (see the constants
// above). O(1): a driver may call it after every command.
func (c *Core) MemoryUsage() int64 {
	a := &c.mem
	return a.copyBytes + a.copies*MessageOverhead + a.prefixBytes +
		c.dedup.total*DedupEntryOverhead +
		int64(len(c.queues))*QueueOverhead + int64(len(c.exchanges))*ExchangeOverhead +
		int64(c.nBindings)*BindingOverhead + int64(c.nConsumers)*ConsumerOverhead +
		int64(len(c.conns))*ConnectionOverhead
}

// MemoryBreakdown is MemoryUsage by part, for stats and tests.
type MemoryBreakdown struct {
	Messages     int64 `json:"messages"`      // message copies held
	MessageBytes int64 `json:"message_bytes"` // their ids, keys, bodies and overhead
	PrefixBytes  int64 `json:"prefix_bytes"`  // distinct shared prefixes
	DedupBytes   int64 `json:"dedup_bytes"`
	Topology     int64 `json:"topology_bytes"`
	Total        int64 `json:"total"`
}

// Memory returns the parts of MemoryUsage.
func (c *Core) Memory() MemoryBreakdown {
	a := &c.mem
	b := MemoryBreakdown{
		Messages:     a.copies,
		MessageBytes: a.copyBytes + a.copies*MessageOverhead,
		PrefixBytes:  a.prefixBytes,
		DedupBytes:   c.dedup.total * DedupEntryOverhead,
		Total:        c.MemoryUsage(),
	}
	b.Topology = b.Total - b.MessageBytes - b.PrefixBytes - b.DedupBytes
	return b
}

// checkMemory recounts the message and prefix accounting from the queues
// and connections (for CheckInvariants).
func (c *Core) checkMemory() error {
	var copies, bytes, prefixBytes int64
	seen := make(map[*Prefix]int64)
	count := func(m *message) {
		copies++
		bytes += copyCost(m)
		if m.prefix != nil {
			if seen[m.prefix] == 0 {
				prefixBytes += int64(m.prefix.Len())
			}
			seen[m.prefix]++
		}
	}
	for _, q := range c.queues {
		for i := 0; i < q.ready.len(); i++ {
			count(q.ready.at(i))
		}
	}
	for _, cn := range c.conns {
		for _, m := range cn.appendAll(nil) {
			count(m)
		}
	}
	for _, td := range c.closing {
		for _, m := range td.appendLive(nil) {
			count(m)
		}
	}
	a := &c.mem
	if copies != a.copies || bytes != a.copyBytes || prefixBytes != a.prefixBytes {
		return fmt.Errorf("memory accounting: %d copies, %d bytes, %d prefix bytes; recount: %d, %d, %d",
			a.copies, a.copyBytes, a.prefixBytes, copies, bytes, prefixBytes)
	}
	if len(seen) != len(a.prefixes) {
		return fmt.Errorf("memory accounting: %d distinct prefixes, recount %d", len(a.prefixes), len(seen))
	}
	for p, n := range seen {
		if a.prefixes[p] != n {
			return fmt.Errorf("memory accounting: a prefix of %d bytes counted %d times, recount %d", p.Len(), a.prefixes[p], n)
		}
	}
	if ids := int64(c.dedup.len()); ids != c.dedup.total {
		return fmt.Errorf("memory accounting: %d dedup ids, the windows hold %d", c.dedup.total, ids)
	}
	return nil
}
