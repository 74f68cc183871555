package broker

import "sort"

// connection is the core's view of one client connection: its consumers and
// the deliveries it has not acked yet.
type connection struct {
	id    ConnID
	owner Owner // whom the connection acts as
	// outLimit bounds the bytes pushed to the connection that its driver
	// has not written yet (0: no bound); outBytes is the driver's last
	// report plus what was delivered since (see Writable).
	outLimit  int64
	outBytes  int64
	lastTag   uint64               // delivery tags are 1, 2, 3, ... and never reused
	consumers map[string]*consumer // by tag
	// chead links the same consumers (consumer.cprev/cnext), so that a
	// teardown can remove them a few at a time (teardown.go).
	chead *consumer
	// closing is set by Close: the connection is out of Core.conns, gets
	// no deliveries, and td releases what it holds in bounded steps.
	closing bool
	td      *teardown
	// parked lists consumers taken out of their room sets while the
	// connection was full; unparkQueued: it is in Core.unparking
	// (outbound.go).
	parked       []*consumer
	unparkQueued bool
	consumerSeq  uint64 // for generated consumer tags
	// held counts this connection's confirms and refusals waiting in
	// Core.held: while it is > 0 every new one queues behind them, so the
	// connection sees its outcomes in publish order.
	held int

	// outstanding lists deliveries in tag order. Entries whose message has
	// since been acked, requeued or dropped are stale and removed lazily;
	// live counts the others.
	outstanding []deliveryRef
	outHead     int
	live        int
}

type deliveryRef struct {
	tag uint64
	m   *message
}

// isLive reports whether the delivery named by r is still outstanding.
func (cn *connection) isLive(r deliveryRef) bool {
	return r.m.state == stateUnacked && r.m.owner == cn && r.m.tag == r.tag
}

func (cn *connection) track(m *message) {
	cn.outstanding = append(cn.outstanding, deliveryRef{m.tag, m})
	cn.live++
}

// find returns the outstanding delivery with this tag, or nil.
func (cn *connection) find(tag uint64) *message {
	refs := cn.outstanding[cn.outHead:]
	i := sort.Search(len(refs), func(i int) bool { return refs[i].tag >= tag })
	if i < len(refs) && refs[i].tag == tag && cn.isLive(refs[i]) {
		return refs[i].m
	}
	return nil
}

// appendUpTo appends every outstanding delivery with a tag <= tag, in tag
// order.
func (cn *connection) appendUpTo(tag uint64, dst []*message) []*message {
	for _, r := range cn.outstanding[cn.outHead:] {
		if r.tag > tag {
			break
		}
		if cn.isLive(r) {
			dst = append(dst, r.m)
		}
	}
	return dst
}

// appendAll appends every outstanding delivery in tag order.
func (cn *connection) appendAll(dst []*message) []*message {
	return cn.appendUpTo(^uint64(0), dst)
}

// released is called when one of the connection's deliveries stopped being
// outstanding. It trims stale entries so the list stays proportional to the
// live deliveries.
func (cn *connection) released() {
	cn.live--
	if cn.live < 0 {
		panic("broker: connection outstanding count below zero")
	}
	for cn.outHead < len(cn.outstanding) && !cn.isLive(cn.outstanding[cn.outHead]) {
		cn.outstanding[cn.outHead] = deliveryRef{}
		cn.outHead++
	}
	n := len(cn.outstanding) - cn.outHead
	switch {
	case n == 0:
		cn.outstanding, cn.outHead = cn.outstanding[:0], 0
	case n-cn.live > cn.live+32:
		// Mostly stale in the middle (acks out of order): compact.
		kept := cn.outstanding[:0]
		for _, r := range cn.outstanding[cn.outHead:] {
			if cn.isLive(r) {
				kept = append(kept, r)
			}
		}
		clear(cn.outstanding[len(kept):])
		cn.outstanding, cn.outHead = kept, 0
	case cn.outHead > 64 && cn.outHead > n:
		copy(cn.outstanding, cn.outstanding[cn.outHead:])
		clear(cn.outstanding[n:])
		cn.outstanding, cn.outHead = cn.outstanding[:n], 0
	}
}
