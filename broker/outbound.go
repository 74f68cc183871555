package broker

import "time"

// A consumer that does not read must not make the broker hold everything
// its prefetch allows in an output buffer: deliveries to a connection stop
// while the bytes pushed to it and not yet written by its driver are at
// its outbound bound, whatever the consumers' prefetch. The driver reports
// what it still has to write (Writable); the core adds every delivery's
// size in between, so a single dispatch cannot overshoot the bound by
// more than one message. A consumer held back this way keeps its
// messages ready for the queue's other consumers; if its peer never reads,
// the driver's write timeout closes the connection and its unacked
// deliveries requeue.

// deliveryOverhead approximates a delivery frame's bytes beyond the body
// (tags, names, ids, framing).
const deliveryOverhead = 64

func (cn *connection) outFull() bool { return cn.outLimit > 0 && cn.outBytes >= cn.outLimit }

// A crossing of the bound costs O(1) whatever the number of consumers on
// the connection (issue #11). The queues' room sets (roomset.go) do not
// follow the connection's state; instead:
//
//   - becoming full changes nothing at once. A dispatch that meets one of
//     the connection's consumers in its queue's room set parks it: takes
//     it out of the set (O(log n)) and lists it in connection.parked. The
//     round-robin choice is the one the eager removal made, since a parked
//     consumer is skipped from the same cursor.
//   - becoming writable queues an unpark job that puts the parked
//     consumers back and dispatches their queues, Config.TeardownStep
//     consumers per core call, now and in the following Ticks. If the
//     connection fills again first, the job stops; the rest stay parked.
//
// Amortisation: a consumer is parked at most once per full episode of its
// connection (it leaves the set, and only the unpark job puts it back),
// and each park is paid for by the unpark that preceded it (or by the
// Consume that inserted it first); each unpark is one step of a job that
// runs within a per-call budget. A dispatch parks at most TeardownStep
// consumers, then leaves its queue behind for the next Tick. So every
// call does O(budget x log n) room work, and the total is O(log n) per
// consumer per crossing, what the eager update cost, moved off the
// crossing itself.

// park takes cs out of its queue's room set while its connection is full.
func (c *Core) park(cs *consumer) {
	c.work++
	cs.parked = true
	c.syncRoom(cs)
	cs.conn.parked = append(cs.conn.parked, cs)
}

// becameWritable queues cn's unpark job (if it has parked consumers) and
// runs one budget of unpark work.
func (c *Core) becameWritable(cn *connection) {
	if len(cn.parked) > 0 && !cn.unparkQueued {
		cn.unparkQueued = true
		c.unparking = append(c.unparking, cn)
	}
	c.runUnparks()
}

// runUnparks spends up to one step budget putting parked consumers of
// writable connections back into their room sets, oldest job first, then
// dispatches their queues.
func (c *Core) runUnparks() {
	if len(c.unparking) == 0 {
		return
	}
	c.beginTouch()
	budget := c.cfg.TeardownStep
	for len(c.unparking) > 0 && budget > 0 {
		cn := c.unparking[0]
		for len(cn.parked) > 0 && budget > 0 && !cn.outFull() && !cn.closing {
			last := len(cn.parked) - 1
			cs := cn.parked[last]
			cn.parked[last] = nil
			cn.parked = cn.parked[:last]
			c.step(&budget)
			cs.parked = false
			if cs.active {
				c.syncRoom(cs)
				c.touch(cs.q)
			}
		}
		if len(cn.parked) > 0 && budget == 0 && !cn.outFull() && !cn.closing {
			break // more next call
		}
		// Done, or full (or closing) again: the rest stay parked.
		if len(cn.parked) == 0 {
			cn.parked = nil
		}
		cn.unparkQueued = false
		c.unparking[0] = nil
		c.unparking = c.unparking[1:]
	}
	if len(c.unparking) == 0 {
		c.unparking = nil
	}
	c.dispatchTouched()
}

// SetOutboundLimit bounds the unwritten bytes pushed to conn (0: none).
func (c *Core) SetOutboundLimit(conn ConnID, limit int64) {
	if cn := c.conns[conn]; cn != nil {
		c.skips = 0
		wasFull := cn.outFull()
		cn.outLimit = max(limit, 0)
		if wasFull && !cn.outFull() {
			c.becameWritable(cn)
		}
	}
}

// Writable reports that conn's driver still has pending bytes to write.
// When that takes the connection below its outbound bound, its parked
// consumers get their room back and their queues are dispatched, one step
// budget per call (see above).
func (c *Core) Writable(conn ConnID, pending int64, now time.Time) {
	cn := c.conns[conn]
	if cn == nil {
		return
	}
	c.advance(now)
	wasFull := cn.outFull()
	cn.outBytes = max(pending, 0)
	if wasFull && !cn.outFull() {
		c.becameWritable(cn)
	}
}
