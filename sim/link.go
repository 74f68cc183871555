package sim

import (
	"encoding/binary"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/faults"
)

// LinkMode says how a link carries bytes.
type LinkMode uint8

const (
	// LinkTCP delivers bytes in order, split into random segments (so the
	// receiver's framing is exercised), until the connection breaks; what was
	// in flight when it broke is lost.
	LinkTCP LinkMode = iota + 1
	// LinkDatagram carries each frame as its own datagram: dropped,
	// duplicated and reordered individually. The connection handshake
	// (preamble, Hello, HelloOK) is delivered reliably, as a real datagram
	// transport retries its handshake until it completes.
	LinkDatagram
)

// String names the mode in traces and configs.
func (m LinkMode) String() string {
	switch m {
	case LinkTCP:
		return "tcp"
	case LinkDatagram:
		return "datagram"
	}
	return "link-mode(?)"
}

// LinkFaults are the per-link fault probabilities and timings. The zero
// value is a perfect, instant link.
type LinkFaults struct {
	// DelayMin and DelayMax bound the base one-way latency of each segment
	// or datagram; Extra (the fault plan's delay distribution) is added.
	DelayMin, DelayMax time.Duration
	Extra              faults.Delay
	// Drop, Duplicate and Reorder apply to each datagram (datagram mode only).
	// A reordered datagram gets an extra delay of up to ReorderDelay, so later
	// ones overtake it.
	Drop, Duplicate, Reorder float64
	ReorderDelay             time.Duration
	// Break is the probability that a send breaks the connection (both modes).
	Break float64
	// DetectMin and DetectMax bound how long each end takes to learn that a
	// connection broke (each end draws its own delay).
	DetectMin, DetectMax time.Duration
	// Split is the probability that a TCP write is cut into several segments.
	Split float64
}

// direction of travel on a connection.
type direction uint8

const (
	up   direction = iota // client → broker
	down                  // broker → client
)

func (d direction) String() string {
	if d == up {
		return "up"
	}
	return "down"
}

// endpoint is a node's side of connections: the world hands it bytes and
// tells it when a connection broke.
type endpoint interface {
	name() string
	onBytes(c *Conn, b []byte)
	onBroken(c *Conn)
}

// Link is the network path between one client node and the broker. Its
// partition state is set by the schedule; one-way partitions block one
// direction only.
type Link struct {
	Name   string
	Mode   LinkMode
	Faults LinkFaults
	// blocked[up] blocks client → broker, blocked[down] broker → client.
	blocked [2]bool
	// plan is the fault plan's view of this link (timed disconnects).
	plan faults.LinkFaults
}

// partitioned reports whether either direction is blocked now.
func (l *Link) partitioned() bool { return l.blocked[up] || l.blocked[down] }

// Conn is one connection over a link. A Conn is never reused: a reconnect
// makes a new one, so bytes of a dead connection can never reach a new one.
type Conn struct {
	ID broker.ConnID
	// inc is the broker incarnation that accepted the connection.
	inc    uint64
	link   *Link
	client endpoint
	server endpoint
	// broken: nothing more can be sent (closed by a side or by the
	// network); lost: what was in flight is lost too (a network break).
	broken bool
	lost   bool
	// lastArrival keeps TCP segments in order per direction.
	lastArrival [2]VTime
	// handshook[d] is set once the first datagram in direction d went
	// through (datagram mode delivers the handshake reliably).
	handshook [2]bool
	// gone[side] means that side closed, crashed or was told of the
	// break: nothing is delivered or reported to it any more.
	gone [2]bool
}

// network moves bytes between endpoints over links.
type network struct {
	w       *World
	nextID  broker.ConnID
	sent    uint64
	dropped uint64
	duped   uint64
	breaks  uint64
}

// dial opens a connection from client to server over l. After a round trip
// it either calls onOpen with the new connection or, if the link is
// partitioned in either direction (a handshake needs both), onFail.
func (n *network) dial(l *Link, client, server endpoint, onOpen func(*Conn), onFail func()) {
	w := n.w
	rtt := n.delay(l) + n.delay(l)
	w.sched.at(w.sched.now.Add(rtt), func() {
		if l.partitioned() {
			w.trace.begin(w.sched.now, client.name()).word("dial-failed").str("link", l.Name).end()
			onFail()
			return
		}
		n.nextID++
		c := &Conn{ID: n.nextID, link: l, client: client, server: server}
		w.trace.begin(w.sched.now, client.name()).word("connected").num("conn", uint64(c.ID)).end()
		onOpen(c)
	})
}

// delay draws one one-way delay of link l.
func (n *network) delay(l *Link) time.Duration {
	d := n.w.rng.between(l.Faults.DelayMin, l.Faults.DelayMax)
	if !l.Faults.Extra.IsZero() {
		d += l.Faults.Extra.Sample(n.w.rng.r).Duration()
	}
	return d
}

// send carries b (whole frames) from one end of c to the other. b is copied.
func (n *network) send(c *Conn, d direction, b []byte) {
	if c.broken || len(b) == 0 {
		return
	}
	w := n.w
	l := c.link
	if w.rng.chance(l.Faults.Break) {
		n.breakConn(c, "fault")
		return
	}
	if l.Mode == LinkDatagram {
		n.sendDatagrams(c, d, b)
		return
	}
	if l.blocked[d] {
		// TCP cannot get data through: retransmissions fail until the
		// connection is declared dead.
		n.breakConn(c, "partition")
		return
	}
	// TCP: in order, possibly split into segments at random cut points.
	for len(b) > 0 {
		seg := b
		if len(b) > 1 && w.rng.chance(l.Faults.Split) {
			seg = b[:1+w.rng.intn(len(b)-1)]
		}
		b = b[len(seg):]
		arrive := w.sched.now.Add(n.delay(l))
		if arrive < c.lastArrival[d] {
			arrive = c.lastArrival[d]
		}
		c.lastArrival[d] = arrive
		n.schedule(c, d, arrive, append([]byte(nil), seg...))
	}
}

// sendDatagrams cuts b into frames and sends each as a datagram.
func (n *network) sendDatagrams(c *Conn, d direction, b []byte) {
	w := n.w
	f := c.link.Faults
	for len(b) > 0 {
		k := datagramLen(b, !c.handshook[d] && d == up)
		dg := b[:k]
		b = b[k:]
		reliable := !c.handshook[d]
		c.handshook[d] = true
		if !reliable {
			if c.link.blocked[d] || w.rng.chance(f.Drop) {
				n.dropped++
				w.trace.begin(w.sched.now, "net").word("drop").num("conn", uint64(c.ID)).word(d.String()).
					num("len", uint64(len(dg))).end()
				continue
			}
		}
		copies := 1
		if !reliable && w.rng.chance(f.Duplicate) {
			copies = 2
			n.duped++
			w.trace.begin(w.sched.now, "net").word("dup").num("conn", uint64(c.ID)).word(d.String()).
				num("len", uint64(len(dg))).end()
		}
		for i := 0; i < copies; i++ {
			delay := n.delay(c.link)
			if !reliable && w.rng.chance(f.Reorder) {
				delay += w.rng.between(0, f.ReorderDelay)
			}
			arrive := w.sched.now.Add(delay)
			// The handshake stays ahead of everything sent after it
			// (a datagram transport does not deliver before it is set up).
			if arrive < c.lastArrival[d] {
				arrive = c.lastArrival[d]
			}
			if reliable {
				c.lastArrival[d] = arrive
			}
			n.schedule(c, d, arrive, append([]byte(nil), dg...))
		}
	}
}

// datagramLen returns the length of the first datagram in b: one native
// frame (uint32 length prefix + body), with the 8-byte preamble glued to the
// client's first frame. Bytes that do not parse as a frame go out whole, so
// the receiver's decoder sees (and rejects) them.
func datagramLen(b []byte, withPreamble bool) int {
	off := 0
	if withPreamble {
		off = 8
	}
	if len(b) < off+4 {
		return len(b)
	}
	l := int(binary.BigEndian.Uint32(b[off:]))
	if l <= 0 || off+4+l > len(b) {
		return len(b)
	}
	n := off + 4 + l
	if withPreamble {
		// An Auth frame right after the Hello is part of the handshake
		// (authenticated runs), delivered reliably with it.
		if t, _, k, err := wire.SplitFrame(b[n:], 0); err == nil && k > 0 && t == wire.FrameAuth {
			n += k
		}
	}
	return n
}

// schedule delivers seg at arrive unless it was lost meanwhile.
func (n *network) schedule(c *Conn, d direction, arrive VTime, seg []byte) {
	n.sent++
	n.w.sched.at(arrive, func() {
		if c.lost || c.gone[receiverOf(d)] {
			return // in flight when the network broke, or nobody to read it
		}
		if c.link.Mode == LinkTCP && c.link.blocked[d] {
			n.breakConn(c, "partition")
			return
		}
		if d == up {
			c.server.onBytes(c, seg)
		} else {
			c.client.onBytes(c, seg)
		}
	})
}

// Sides of a connection, as indexes of Conn.gone.
const (
	sideClient = 0
	sideBroker = 1
)

// receiverOf is the side that reads what travels in direction d.
func receiverOf(d direction) int {
	if d == up {
		return sideBroker
	}
	return sideClient
}

// breakConn is a network failure: c breaks now, whatever is in flight is
// lost, and each end that is still alive learns it after its own delay.
func (n *network) breakConn(c *Conn, why string) {
	if c.lost {
		return
	}
	c.lost = true
	if !c.broken {
		c.broken = true
		n.breaks++
	}
	w := n.w
	w.trace.begin(w.sched.now, "net").word("break").num("conn", uint64(c.ID)).str("why", why).end()
	n.notify(c, sideClient, w.sched.now)
	n.notify(c, sideBroker, w.sched.now)
}

// notify tells side of c, after a detection delay from the instant from,
// that the connection is gone (unless that side is gone itself).
func (n *network) notify(c *Conn, side int, from VTime) {
	if c.gone[side] {
		return
	}
	w := n.w
	f := c.link.Faults
	w.sched.at(from.Add(w.rng.between(f.DetectMin, f.DetectMax)), func() {
		if c.gone[side] {
			return
		}
		c.gone[side] = true
		if side == sideClient {
			c.client.onBroken(c)
		} else {
			c.server.onBroken(c)
		}
	})
}

// closeFrom is an orderly close by one side, or that side's crash. What the
// closing side already sent is on the wire (the links model no send buffer)
// and still arrives, whether the process exited or the machine lost power;
// what travels towards it is discarded; the other side learns of the close
// after the last byte in flight, plus a delay. Nothing new can be sent on c.
func (n *network) closeFrom(c *Conn, side int, why string) {
	if c.gone[side] {
		return
	}
	c.gone[side] = true
	if c.broken {
		return // the network had already broken it; the peer is being told
	}
	c.broken = true
	w := n.w
	w.trace.begin(w.sched.now, "net").word("close").num("conn", uint64(c.ID)).str("why", why).end()
	other, d := sideBroker, up
	if side == sideBroker {
		other, d = sideClient, down
	}
	n.notify(c, other, max(w.sched.now, c.lastArrival[d]))
}
