package server

import (
	"errors"
	"sort"
	"time"

	"github.com/ciphermq/ciphermq/broker"
)

// Operational figures the driver measures itself (docs/operations.md):
// confirms and refusals by reason, publish→confirm latency and fsync
// latency. They are plain fields guarded by Server.mu, which every place
// that updates them already holds (settle, the reader after Feed, the
// group-commit loop after its fsync): the hot path takes no extra lock and
// makes no allocation. An exporter reads them, with the core's own stats,
// through Metrics and EachQueue; the broker core knows nothing of them.

// LatencyBounds are the upper bounds, in seconds, of the buckets of every
// latency histogram the server keeps (from 50µs to 10s; one more bucket
// holds what is above the last bound).
var LatencyBounds = []float64{
	0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
	0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
}

// Histogram is a snapshot of a latency histogram.
type Histogram struct {
	// Counts[i] counts the observations in (LatencyBounds[i-1],
	// LatencyBounds[i]]; the last entry, past the bounds, those above the
	// last bound. Not cumulative.
	Counts []uint64
	Count  uint64
	Sum    float64 // seconds
}

// histogram accumulates observations. (mu)
type histogram struct {
	counts [18]uint64 // len(LatencyBounds)+1
	count  uint64
	sum    time.Duration
}

func (h *histogram) observe(d time.Duration) {
	d = max(d, 0)
	h.counts[sort.SearchFloat64s(LatencyBounds, d.Seconds())]++
	h.count++
	h.sum += d
}

func (h *histogram) snapshot() Histogram {
	return Histogram{Counts: append([]uint64(nil), h.counts[:]...), Count: h.count, Sum: h.sum.Seconds()}
}

// opsStats are the driver's own counters. (mu)
type opsStats struct {
	confirmed      uint64 // confirms released, duplicates included
	refused        map[string]uint64
	confirmLatency histogram
	deliverLatency histogram
	fsync          histogram

	// Publish→deliver sampling: one read in deliverSampleEvery that
	// carried native publishes has its last publish's message id
	// remembered with the read's time, until that id's first delivery.
	publishReads   uint64
	deliverSamples map[string]time.Time // by message id; at most maxDeliverSamples
}

const (
	// deliverSampleEvery: one read with publishes in this many is sampled.
	deliverSampleEvery = 16
	// maxDeliverSamples bounds the sampled messages awaiting delivery.
	maxDeliverSamples = 1024
	// deliverSampleMaxAge: a sample not delivered by then is dropped
	// unobserved (the histogram covers deliveries within this age).
	deliverSampleMaxAge = time.Minute
)

// sampleDeliver remembers that the publish of message id arrived at now,
// if this read is one sampled. s.mu held.
func (s *Server) sampleDeliver(id []byte, now time.Time) {
	s.ops.publishReads++
	if s.ops.publishReads%deliverSampleEvery != 0 || len(id) == 0 {
		return
	}
	if s.ops.deliverSamples == nil {
		s.ops.deliverSamples = make(map[string]time.Time)
	}
	if len(s.ops.deliverSamples) >= maxDeliverSamples {
		// Rare (1,024 sampled messages undelivered): O(maxDeliverSamples).
		for k, at := range s.ops.deliverSamples {
			if now.Sub(at) >= deliverSampleMaxAge {
				delete(s.ops.deliverSamples, k)
			}
		}
		if len(s.ops.deliverSamples) >= maxDeliverSamples {
			return // full of recent samples: skip this one
		}
	}
	s.ops.deliverSamples[string(id)] = now
}

// observeDeliver times a message's first delivery if its publish was
// sampled. s.mu held.
func (s *Server) observeDeliver(d *broker.Delivery, now time.Time) {
	if d.DeliveryCount != 1 {
		return
	}
	at, ok := s.ops.deliverSamples[d.MessageID]
	if !ok {
		return
	}
	delete(s.ops.deliverSamples, d.MessageID)
	if now.Sub(at) < deliverSampleMaxAge {
		s.ops.deliverLatency.observe(now.Sub(at))
	}
}

// RefuseReason names a refusal code in metrics labels: a small, fixed set
// (the label's cardinality never depends on clients).
func RefuseReason(code broker.Code) string {
	switch code {
	case broker.CodeNoRoute:
		return "no_route"
	case broker.CodeQueueFull:
		return "queue_full"
	case broker.CodeExchangeNotFound:
		return "exchange_not_found"
	case broker.CodeTooLarge:
		return "too_large"
	case broker.CodeInvalidArgument, broker.CodeMalformed:
		return "invalid"
	case broker.CodeAccessRefused:
		return "access_refused"
	case broker.CodeResourceLimit:
		return "resource_limit"
	case broker.CodeUnavailable:
		return "unavailable"
	}
	return "other"
}

// countOutcome counts a confirm or a refusal and times it against the
// publish it answers. s.mu held.
func (s *Server) countOutcome(e *broker.Effect, c *conn, now time.Time) {
	if e.Kind == broker.EffectConfirm {
		s.ops.confirmed++
	} else {
		if s.ops.refused == nil {
			s.ops.refused = make(map[string]uint64)
		}
		code := broker.CodeInternal
		if e.Err != nil {
			code = e.Err.Code
		}
		s.ops.refused[RefuseReason(code)]++
	}
	if c != nil {
		if at, ok := c.pubs.take(e.Seq); ok {
			s.ops.confirmLatency.observe(now.Sub(at))
		}
	}
}

// publishSeqer is implemented by sessions whose publish seqs increase on
// the connection (the native protocol).
type publishSeqer interface {
	LastPublishSeq() uint64
	LastPublishID() []byte
}

// notePublishes records when the publishes of the Feed that just ran
// arrived, and offers the last one to publish→deliver sampling. s.mu held.
func (c *conn) notePublishes(now time.Time) {
	ps, ok := c.sess.(publishSeqer)
	if !ok {
		return
	}
	if seq := ps.LastPublishSeq(); seq > c.pubSeen {
		c.pubSeen = seq
		c.pubs.push(seq, now)
		c.s.sampleDeliver(ps.LastPublishID(), now)
	}
}

// pubRing remembers, per connection, when batches of publishes arrived:
// mark i covers the seqs above mark i-1's up to its own. Fixed size, no
// allocation: when full, the newest mark absorbs the next batch (those
// publishes are then timed from the earlier arrival, at most one read
// earlier). A confirm that overtakes older ones (a durable queue's after
// an in-memory one's) is timed from the oldest mark not below its seq.
type pubRing struct {
	marks   [8]pubMark
	head, n int
}

type pubMark struct {
	seq uint64
	at  time.Time
}

func (r *pubRing) push(seq uint64, at time.Time) {
	if r.n == len(r.marks) {
		r.marks[(r.head+r.n-1)%len(r.marks)].seq = seq
		return
	}
	r.marks[(r.head+r.n)%len(r.marks)] = pubMark{seq, at}
	r.n++
}

// take returns the arrival time of publish seq and forgets the marks it
// has passed.
func (r *pubRing) take(seq uint64) (time.Time, bool) {
	for r.n > 0 && r.marks[r.head].seq < seq {
		r.head = (r.head + 1) % len(r.marks)
		r.n--
	}
	if r.n == 0 {
		return time.Time{}, false
	}
	m := r.marks[r.head]
	if m.seq == seq {
		r.head = (r.head + 1) % len(r.marks)
		r.n--
	}
	return m.at, true
}

// Metrics is what an exporter reads at scrape time (broker/ops): the
// core's broker-wide counters and the driver's own figures. Reading it
// costs O(users with dedup ids + log segments), never O(queues).
type Metrics struct {
	// Stats is the core's StatsSummary (Queues and Exchanges are empty).
	Stats broker.Stats
	// DeletedQueues sums the counters of deleted queues
	// (broker.Core.DeletedQueueCounters).
	DeletedQueues broker.QueueStats

	Memory      int64 // MemoryUsage: the core's estimate plus connection buffers
	MemoryHigh  int64 // the budget's high watermark (0: no budget)
	MemoryLow   int64
	MemoryAlarm bool

	Confirmed      uint64            // confirms released, duplicates included
	Refused        map[string]uint64 // refused publishes by RefuseReason
	ConfirmLatency Histogram         // publish read → confirm released (native protocol)
	DeliverLatency Histogram         // publish read → first delivery handed to the consumer's connection (sampled, native publishes)

	Durable  bool  // a data directory is open
	LogBytes int64 // bytes of the durable log's segments
	Fsync    Histogram
}

// Metrics returns a snapshot for exporters.
func (s *Server) Metrics() Metrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := Metrics{
		Stats:          s.core.StatsSummary(),
		DeletedQueues:  s.core.DeletedQueueCounters(),
		Memory:         s.memUsage(),
		MemoryHigh:     s.mem.high,
		MemoryLow:      s.mem.low,
		MemoryAlarm:    s.mem.alarm,
		Confirmed:      s.ops.confirmed,
		Refused:        make(map[string]uint64, len(s.ops.refused)),
		ConfirmLatency: s.ops.confirmLatency.snapshot(),
		DeliverLatency: s.ops.deliverLatency.snapshot(),
		Fsync:          s.ops.fsync.snapshot(),
	}
	for k, v := range s.ops.refused {
		m.Refused[k] = v
	}
	if s.dur != nil && !s.dur.failed {
		m.Durable = true
		m.LogBytes = s.dur.st.Stats().Bytes
	}
	return m
}

// queuePage is how many queues EachQueue copies per hold of the lock, so
// that listing many queues never stalls publishers for long.
const queuePage = 256

// EachQueue calls fn with every queue's stats in name order until fn
// returns false. It holds the server's lock for at most queuePage queues
// at a time and calls fn without it: a listing of many queues is not an
// atomic snapshot (a queue deleted meanwhile may still be listed once).
func (s *Server) EachQueue(fn func(broker.QueueStats) bool) {
	page := make([]broker.QueueStats, 0, queuePage)
	after := ""
	for {
		page = page[:0]
		s.mu.Lock()
		s.core.EachQueue(after, func(q broker.QueueStats) bool {
			page = append(page, q)
			return len(page) < queuePage
		})
		s.mu.Unlock()
		for _, q := range page {
			if !fn(q) {
				return
			}
		}
		if len(page) < queuePage {
			return
		}
		after = page[len(page)-1].Name
	}
}

// Ready reports whether the broker serves clients: nil once a listener
// accepts connections, an error saying why not before that, while shutting
// down, or after the durable log failed (durable publishes are refused).
func (s *Server) Ready() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return errors.New("shutting down")
	case len(s.listeners) == 0:
		return errors.New("not listening yet")
	case s.dur != nil && s.dur.failed:
		return errors.New("durable storage failed: publishes to durable queues are refused")
	}
	return nil
}
