package check

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// Options tell the checker what the run promised. The zero value checks
// everything with no queue durable, none ordered and nobody exempt.
type Options struct {
	// DurableQueues get no exemption at broker restarts: what they held
	// must still be processed.
	DurableQueues []string `json:"durable_queues,omitempty"`
	// OrderedQueues have a single consumer and a configuration that promises
	// publish order (I5); only they are order-checked.
	OrderedQueues []string `json:"ordered_queues,omitempty"`
	// SafetyOnly: the history stops before the liveness bound, so copies not
	// yet processed and publishes not yet resolved may still be in flight.
	// Lost, pending and never-processed skips are then not judged.
	SafetyOnly bool `json:"safety_only,omitempty"`
	// ExemptPublishers are outside the liveness core (cut off for ever):
	// their unresolved publishes are not liveness violations.
	ExemptPublishers []string `json:"exempt_publishers,omitempty"`
	// ExemptQueues are consumed only by receivers outside the liveness core:
	// their unprocessed copies are "stranded", not lost.
	ExemptQueues []string `json:"exempt_queues,omitempty"`
}

// message is what the checker knows of one message ID.
type message struct {
	id        string
	publisher string
	seq       uint64
	digest    Digest
	queues    []string
	attempted bool
	outcome   Outcome // OutcomeUnknown until resolved
	code      uint16
	firstAt   time.Duration
	abandoned string // reason, when the publisher gave up
}

func (m *message) confirmed() bool {
	return m.outcome == OutcomeConfirmed || m.outcome == OutcomeConfirmedDuplicate
}

// processing is one processed event of a copy, with its place in history.
type processing struct {
	index       int
	receiver    string
	digest      Digest
	redelivered bool
}

// checker holds the indexes built from one history.
type checker struct {
	opts     Options
	r        Report
	msgs     map[string]*message
	msgOrder []string
	procs    map[QueueMessage][]processing
	// procOrder lists copies in the order of their first processing.
	procOrder []QueueMessage
	// heldAtRestart: copies in non-durable queues when the broker restarted.
	heldAtRestart map[QueueMessage]bool
	// deadLettered: copies dead-lettered (reason), and ids all of whose
	// unprocessed copies were.
	deadLettered    map[QueueMessage]string
	deadLetteredAll map[string]string
	events          []Event
	// byPublisher lists each publisher's messages in first-attempt order
	// (built for the order checks).
	byPublisher map[string][]*message
}

// Check judges a history and returns the report. It never fails: a history
// it cannot make sense of is reported as malformed.
func Check(h History, opts Options) Report {
	c := &checker{
		opts:            opts,
		msgs:            map[string]*message{},
		procs:           map[QueueMessage][]processing{},
		heldAtRestart:   map[QueueMessage]bool{},
		deadLettered:    map[QueueMessage]string{},
		deadLetteredAll: map[string]string{},
		events:          h.Events,
	}
	c.index()
	c.checkCopies()
	c.checkOrder()
	c.checkPending()
	return c.r
}

func (c *checker) malformed(i int, e Event, format string, args ...any) {
	c.r.Malformed = append(c.r.Malformed, Anomaly{
		Kind: Malformed, MessageID: e.MessageID, Queue: e.Queue, Publisher: e.Publisher,
		Detail: fmt.Sprintf("event %d (%s): %s", i, e.Kind, fmt.Sprintf(format, args...)),
	})
}

// index reads the events once, building per-message and per-copy indexes and
// reporting events that contradict each other.
func (c *checker) index() {
	durable := set(c.opts.DurableQueues)
	for i, e := range c.events {
		switch e.Kind {
		case KindPublish:
			c.indexAttempt(i, e)
		case KindOutcome:
			c.indexOutcome(i, e)
		case KindProcessed:
			if e.MessageID == "" || e.Queue == "" || e.Receiver == "" {
				c.malformed(i, e, "a processed event needs id, queue and receiver")
				continue
			}
			c.r.Counts.Processed++
			if e.Redelivered {
				c.r.Counts.Redelivered++
			}
			k := QueueMessage{Queue: e.Queue, MessageID: e.MessageID}
			if _, seen := c.procs[k]; !seen {
				c.procOrder = append(c.procOrder, k)
			}
			c.procs[k] = append(c.procs[k], processing{index: i, receiver: e.Receiver, digest: e.Digest, redelivered: e.Redelivered})
		case KindBrokerRestart:
			c.r.Counts.BrokerRestarts++
			for _, q := range e.Held {
				if !durable[q.Queue] {
					c.heldAtRestart[q] = true
				}
			}
		case KindReceiverCrash:
			c.r.Counts.ReceiverCrashes++
		case KindPublisherCrash:
			c.r.Counts.PublisherCrashes++
		case KindAbandoned:
			m, ok := c.msgs[e.MessageID]
			if !ok || !m.attempted {
				c.malformed(i, e, "abandoned a message never attempted: record the publish first")
				continue
			}
			m.abandoned = cmp.Or(e.Reason, "given up")
		case KindDeadLettered:
			if e.MessageID == "" {
				c.malformed(i, e, "a dead-lettered event needs an id")
				continue
			}
			why := cmp.Or(e.Reason, "dead-lettered")
			if e.Queue == "" {
				c.deadLetteredAll[e.MessageID] = why
			} else {
				c.deadLettered[QueueMessage{Queue: e.Queue, MessageID: e.MessageID}] = why
			}
		case KindReceiverRestart, KindPublisherRestart:
		default:
			c.malformed(i, e, "unknown event kind")
		}
	}
}

func (c *checker) indexAttempt(i int, e Event) {
	if e.MessageID == "" || e.Publisher == "" {
		c.malformed(i, e, "a publish event needs id and publisher")
		return
	}
	m, ok := c.msgs[e.MessageID]
	if !ok {
		m = &message{id: e.MessageID, outcome: OutcomeUnknown}
		c.msgs[e.MessageID] = m
		c.msgOrder = append(c.msgOrder, e.MessageID)
	}
	if m.attempted {
		// A retry may be recorded again, but it must be the same message.
		if m.publisher != e.Publisher || m.seq != e.Seq || m.digest != e.Digest || !slices.Equal(m.queues, dedupe(e.Queues)) {
			c.malformed(i, e, "message id reused by a different publish (publisher %q seq %d first): ids must be unique", m.publisher, m.seq)
		}
		return
	}
	m.attempted, m.publisher, m.seq, m.digest, m.firstAt = true, e.Publisher, e.Seq, e.Digest, e.At
	m.queues = dedupe(e.Queues)
}

func (c *checker) indexOutcome(i int, e Event) {
	m, ok := c.msgs[e.MessageID]
	if !ok || !m.attempted {
		c.malformed(i, e, "outcome for a message never attempted: record the publish first")
		return
	}
	if e.Publisher != "" && e.Publisher != m.publisher {
		c.malformed(i, e, "outcome from publisher %q for a message of %q", e.Publisher, m.publisher)
		return
	}
	switch e.Outcome {
	case OutcomeUnknown:
	case OutcomeConfirmed, OutcomeConfirmedDuplicate:
		// A confirm after a refusal is a successful republish; only the
		// first confirm kind is kept.
		if !m.confirmed() {
			m.outcome = e.Outcome
		}
	case OutcomeRefused, OutcomeIndeterminate:
		if m.confirmed() {
			// The broker took responsibility, then disowned the message.
			c.malformed(i, e, "%s (code %d) after the broker confirmed it", e.Outcome, e.Code)
			return
		}
		if m.outcome == OutcomeIndeterminate {
			// Once an attempt may have been stored, a later definite-looking
			// refusal cannot undo it.
			return
		}
		m.outcome, m.code = e.Outcome, e.Code
	default:
		c.malformed(i, e, "unknown outcome %q", e.Outcome)
	}
}

// checkCopies judges every copy: lost, recovered, unexpected, duplicated,
// corrupted, ok.
func (c *checker) checkCopies() {
	exemptQ := set(c.opts.ExemptQueues)
	for _, id := range c.msgOrder {
		m := c.msgs[id]
		if !m.attempted {
			continue
		}
		c.r.Counts.Attempted++
		c.r.Counts.Copies += len(m.queues)
		switch m.outcome {
		case OutcomeConfirmed:
			c.r.Counts.Confirmed++
		case OutcomeConfirmedDuplicate:
			c.r.Counts.ConfirmedDuplicate++
		case OutcomeRefused:
			c.r.Counts.Refused++
			if c.r.RefusedByCode == nil {
				c.r.RefusedByCode = map[uint16]int{}
			}
			c.r.RefusedByCode[m.code]++
		case OutcomeIndeterminate:
			c.r.Counts.Indeterminate++
			c.r.Indeterminate = append(c.r.Indeterminate, Anomaly{Kind: IndeterminatePublish, MessageID: id,
				Publisher: m.publisher, Detail: fmt.Sprintf("refused (code %d) after more than one send", m.code)})
		default:
			c.r.Counts.Unknown++
		}
		if !m.confirmed() {
			continue
		}
		c.r.Counts.ConfirmedCopies += len(m.queues)
		for _, q := range m.queues {
			k := QueueMessage{Queue: q, MessageID: id}
			ps := c.procs[k]
			switch {
			case len(ps) > 0:
				if len(ps) == 1 && (m.digest.IsZero() || ps[0].digest == m.digest) {
					c.r.Counts.OK++
				}
			case c.deadLetterReason(k) != "":
				c.r.DeadLettered = append(c.r.DeadLettered, Anomaly{Kind: DeadLetteredCopy, MessageID: id, Queue: q,
					Publisher: m.publisher, Detail: c.deadLetterReason(k)})
			case c.heldAtRestart[k]:
				c.r.LegitimatelyLost = append(c.r.LegitimatelyLost, Anomaly{Kind: LegitimatelyLost, MessageID: id, Queue: q,
					Publisher: m.publisher, Detail: "in a non-durable queue when the broker restarted"})
			case c.opts.SafetyOnly:
			case exemptQ[q]:
				c.r.Stranded = append(c.r.Stranded, Anomaly{Kind: Stranded, MessageID: id, Queue: q,
					Publisher: m.publisher, Detail: "queue consumed only outside the liveness core"})
			default:
				c.r.Lost = append(c.r.Lost, Anomaly{Kind: Lost, MessageID: id, Queue: q, Publisher: m.publisher,
					Detail: fmt.Sprintf("%s, never processed", m.outcome)})
			}
		}
	}
	for _, k := range c.procOrder {
		ps := c.procs[k]
		m := c.msgs[k.MessageID]
		base := Anomaly{MessageID: k.MessageID, Queue: k.Queue}
		if m != nil {
			base.Publisher = m.publisher
		}
		switch {
		case m == nil || !m.attempted:
			c.add(&c.r.Unexpected, base, Unexpected, "processed but never published")
			continue
		case m.outcome == OutcomeRefused:
			c.add(&c.r.Unexpected, base, Unexpected, fmt.Sprintf("processed but refused (code %d)", m.code))
			continue
		case !slices.Contains(m.queues, k.Queue):
			c.add(&c.r.Unexpected, base, Unexpected, fmt.Sprintf("processed from a queue it was not routed to %v", m.queues))
			continue
		}
		switch m.outcome {
		case OutcomeUnknown:
			c.add(&c.r.Recovered, base, Recovered, "outcome unknown to the publisher, processed")
		case OutcomeIndeterminate:
			c.add(&c.r.Recovered, base, Recovered, fmt.Sprintf("refused (code %d) after more than one send, processed: an earlier attempt was stored", m.code))
		}
		if len(ps) > 1 {
			c.add(&c.r.Duplicated, base, Duplicated, fmt.Sprintf("processed %d times (receivers %s)", len(ps), receivers(ps)))
		}
		if !m.digest.IsZero() {
			for _, p := range ps {
				if p.digest != m.digest {
					c.add(&c.r.Corrupted, base, Corrupted, fmt.Sprintf("receiver %s processed plaintext %s, sealed %s", p.receiver, p.digest, m.digest))
					break
				}
			}
		}
	}
}

func (c *checker) add(list *[]Anomaly, base Anomaly, kind AnomalyKind, detail string) {
	base.Kind, base.Detail = kind, detail
	*list = append(*list, base)
}

// checkPending reports publishes never resolved (I4), apart from those
// their publisher abandoned.
func (c *checker) checkPending() {
	exempt := set(c.opts.ExemptPublishers)
	for _, id := range c.msgOrder {
		m := c.msgs[id]
		if !m.attempted || m.outcome != OutcomeUnknown {
			continue
		}
		if m.abandoned != "" {
			c.r.Counts.Abandoned++
			c.r.Abandoned = append(c.r.Abandoned, Anomaly{Kind: AbandonedPublish, MessageID: id, Publisher: m.publisher,
				Detail: m.abandoned})
			continue
		}
		if c.opts.SafetyOnly {
			continue
		}
		a := Anomaly{Kind: Pending, MessageID: id, Publisher: m.publisher,
			Detail: fmt.Sprintf("attempted at %v, never resolved", m.firstAt)}
		if exempt[m.publisher] {
			a.Kind, a.Detail = Stranded, "unresolved, publisher outside the liveness core"
			c.r.Stranded = append(c.r.Stranded, a)
			continue
		}
		c.r.Pending = append(c.r.Pending, a)
	}
}

// deadLetterReason returns why copy k was dead-lettered, or "".
func (c *checker) deadLetterReason(k QueueMessage) string {
	if why, ok := c.deadLettered[k]; ok {
		return why
	}
	return c.deadLetteredAll[k.MessageID]
}

func receivers(ps []processing) string {
	var names []string
	for _, p := range ps {
		if !slices.Contains(names, p.receiver) {
			names = append(names, p.receiver)
		}
	}
	return fmt.Sprint(names)
}

func set(xs []string) map[string]bool {
	s := make(map[string]bool, len(xs))
	for _, x := range xs {
		s[x] = true
	}
	return s
}

// dedupe drops repeated queue names, keeping the first occurrence.
func dedupe(qs []string) []string {
	out := make([]string, 0, len(qs))
	for _, q := range qs {
		if !slices.Contains(out, q) {
			out = append(out, q)
		}
	}
	return out
}
