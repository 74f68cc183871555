package check

import (
	"cmp"
	"fmt"
	"slices"
)

// checkOrder checks I5 on each ordered queue, per publisher, in the style of
// Maelstrom's kafka checker. Exactly this is checked, for queue q and
// publisher p, over the processed events of q in history order:
//
//   - Only the first processing of each copy counts, and only if it was not
//     a redelivery: a redelivered message may legitimately arrive late, and
//     repeated processing is already reported as duplicated.
//   - nonmonotonic: a counted message of p is processed after a counted
//     message of p with a higher publisher sequence index (the pair is
//     reported once, against the highest index seen so far).
//   - skipped: a counted message b of p is processed while a confirmed
//     message a of p routed to q, with a lower sequence index, has not been
//     processed from q yet, and a is then either processed later without the
//     redelivered flag, or never processed at all. Excused: a processed later
//     as a redelivery, a legitimately lost at a broker restart or dead-lettered, and, when a is
//     never processed, a SafetyOnly history or an exempt queue (a may still
//     come). Each a is reported at most once, against the first b that
//     jumped it.
//
// Unconfirmed messages never cause a skip (their publisher may not have
// sent them yet), but they do count for nonmonotonic once processed. An
// ordered queue processed by more than one receiver breaks the single-consumer
// premise of I5 and is reported as malformed.
func (c *checker) checkOrder() {
	if len(c.opts.OrderedQueues) == 0 {
		return
	}
	c.byPublisher = map[string][]*message{}
	for _, id := range c.msgOrder {
		m := c.msgs[id]
		c.byPublisher[m.publisher] = append(c.byPublisher[m.publisher], m)
	}
	for _, q := range dedupe(c.opts.OrderedQueues) {
		c.checkQueueOrder(q)
	}
}

type counted struct {
	id    string
	seq   uint64
	index int
}

func (c *checker) checkQueueOrder(q string) {
	var consumers []string
	byPub := map[string][]counted{}
	var pubs []string
	seen := map[string]bool{}
	for i, e := range c.events {
		if e.Kind != KindProcessed || e.Queue != q {
			continue
		}
		if !slices.Contains(consumers, e.Receiver) {
			consumers = append(consumers, e.Receiver)
		}
		if seen[e.MessageID] {
			continue
		}
		seen[e.MessageID] = true
		m := c.msgs[e.MessageID]
		if e.Redelivered || m == nil || !m.attempted {
			continue
		}
		if _, ok := byPub[m.publisher]; !ok {
			pubs = append(pubs, m.publisher)
		}
		byPub[m.publisher] = append(byPub[m.publisher], counted{id: e.MessageID, seq: m.seq, index: i})
	}
	if len(consumers) > 1 {
		c.r.Malformed = append(c.r.Malformed, Anomaly{Kind: Malformed, Queue: q,
			Detail: fmt.Sprintf("ordered queue processed by %d receivers %v: order is promised for a single consumer only", len(consumers), consumers)})
		return
	}
	for _, p := range pubs {
		c.checkNonmonotonic(q, p, byPub[p])
	}
	for _, p := range pubs {
		c.checkSkips(q, p, byPub[p])
	}
}

func (c *checker) checkNonmonotonic(q, p string, list []counted) {
	var high counted
	for i, b := range list {
		if i > 0 && b.seq < high.seq {
			c.r.Nonmonotonic = append(c.r.Nonmonotonic, Anomaly{Kind: Nonmonotonic, MessageID: b.id, Queue: q,
				Publisher: p, Other: high.id,
				Detail: fmt.Sprintf("seq %d processed after seq %d (%s)", b.seq, high.seq, high.id)})
		}
		if i == 0 || b.seq > high.seq {
			high = b
		}
	}
}

func (c *checker) checkSkips(q, p string, list []counted) {
	var owed []*message
	for _, m := range c.byPublisher[p] {
		if m.attempted && m.confirmed() && slices.Contains(m.queues, q) {
			owed = append(owed, m)
		}
	}
	slices.SortStableFunc(owed, func(a, b *message) int { return cmp.Compare(a.seq, b.seq) })
	exempt := set(c.opts.ExemptQueues)
	next := 0
	for _, b := range list {
		for ; next < len(owed) && owed[next].seq < b.seq; next++ {
			a := owed[next]
			k := QueueMessage{Queue: q, MessageID: a.id}
			ps := c.procs[k]
			if len(ps) > 0 && ps[0].index < b.index {
				continue // processed in time
			}
			detail := ""
			switch {
			case len(ps) > 0:
				if slices.ContainsFunc(ps, func(x processing) bool { return x.redelivered }) {
					continue
				}
				detail = fmt.Sprintf("seq %d processed only after seq %d (%s), not as a redelivery", a.seq, b.seq, b.id)
			case c.heldAtRestart[k], c.deadLetterReason(k) != "", c.opts.SafetyOnly, exempt[q]:
				continue
			default:
				detail = fmt.Sprintf("seq %d never processed, seq %d (%s) was", a.seq, b.seq, b.id)
			}
			c.r.Skipped = append(c.r.Skipped, Anomaly{Kind: Skipped, MessageID: a.id, Queue: q, Publisher: p,
				Other: b.id, Detail: detail})
		}
	}
}
