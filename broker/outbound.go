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

// SetOutboundLimit bounds the unwritten bytes pushed to conn (0: none).
func (c *Core) SetOutboundLimit(conn ConnID, limit int64) {
	if cn := c.conns[conn]; cn != nil {
		wasFull := cn.outFull()
		cn.outLimit = max(limit, 0)
		if wasFull != cn.outFull() {
			c.syncConnRoom(cn)
		}
	}
}

// Writable reports that conn's driver still has pending bytes to write.
// When that takes the connection below its outbound bound, its consumers
// get what their queues hold (O(consumers of the connection), once per
// transition).
func (c *Core) Writable(conn ConnID, pending int64, now time.Time) {
	cn := c.conns[conn]
	if cn == nil {
		return
	}
	c.advance(now)
	wasFull := cn.outFull()
	cn.outBytes = max(pending, 0)
	if wasFull == cn.outFull() {
		return
	}
	c.syncConnRoom(cn)
	if !wasFull {
		return // it became full: no dispatch
	}
	c.beginTouch()
	for _, cs := range cn.consumers {
		c.touch(cs.q)
	}
	c.dispatchTouched()
}
