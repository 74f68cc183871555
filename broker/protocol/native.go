package protocol

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// nativeState is where a native connection is in its life.
type nativeState uint8

const (
	awaitPreamble nativeState = iota
	awaitHello
	awaitAuth // a Hello with FeatureAuth: the Auth frame comes next
	verifying // a PLAIN password is with the driver (TakePasswordCheck)
	open
)

// Native is one connection speaking the native binary protocol
// (docs/protocol.md). It handles every complete frame of a Feed before the
// driver flushes, so a pipelined batch of requests gets one write of replies.
type Native struct {
	core Core
	conn broker.ConnID
	cfg  Config
	log  *slog.Logger
	peer Peer
	g    guard // set once authenticated

	state nativeState
	auth  pendingAuth
	out   []byte

	// Confirms of consecutive publish seqs collapse into one range, flushed
	// before any other publish outcome and whenever Output is read. With
	// FeatureConfirmDurability (durability true) a range holds confirms of
	// one durability only.
	rangeActive  bool
	rangeFirst   uint64
	rangeLast    uint64
	rangeDurable bool
	durability   bool
	// reasons: the connection negotiated FeatureRejectReasons (the client
	// may give a reject reason; deliveries of dead-lettered copies say why).
	reasons bool
	// statsCursor: the client negotiated FeatureStatsCursor.
	statsCursor bool

	// lastSeq is the greatest publish seq handled; stalePublishes counts
	// publish frames ignored because their seq was not above it.
	lastSeq        uint64
	stalePublishes uint64
	// lastID is the message id of the publish of lastSeq (a reused copy),
	// for the driver's publish→deliver sampling.
	lastID []byte

	heartbeat time.Duration // negotiated; 0 = off
	openedAt  time.Time
	lastRecv  time.Time
	lastSend  time.Time
	statsJSON func() ([]byte, error)

	// Shared prefixes (docs/protocol.md §5a), when negotiated: the client's
	// definitions for PublishRef, and ours for DeliverRef.
	prefixes    bool
	frameLimit  int // negotiated max frame size
	inPrefixes  wire.InboundPrefixes[*broker.Prefix]
	outPrefixes wire.OutboundPrefixes[*broker.Prefix]
	scratch     nativeScratch
	closed      bool
	closeWhy    string
	detached    bool
	mem         memAlarm // the broker's memory alarm (alarm.go)
}

// nativeScratch holds decode targets reused across frames so that the hot
// path (publish, ack) allocates nothing per frame.
type nativeScratch struct {
	publish    wire.Publish
	publishRef wire.PublishRef
	deliverRef wire.DeliverRef
	corePub    broker.Publish
	ack        wire.Ack
	deliver    wire.Deliver
	strs       []byte // backing bytes of deliver's string fields
}

var _ Session = (*Native)(nil)

// NewNative opens a native session for conn on core at now, for a peer on
// loopback without TLS. The driver feeds it every byte of the connection,
// preamble included. cfg is completed with WithDefaults.
func NewNative(core Core, conn broker.ConnID, cfg Config, now time.Time) *Native {
	return NewNativeFrom(core, conn, cfg, Peer{Loopback: true}, now)
}

// LastPublishSeq returns the greatest publish seq this session has handled
// (0: none yet). Seqs increase on a connection, so a driver that reads it
// after each Feed learns which publishes that Feed carried, to time their
// confirms (broker/server measures publish→confirm latency this way).
func (n *Native) LastPublishSeq() uint64 { return n.lastSeq }

// LastPublishID returns the message id of the publish of LastPublishSeq
// (nil: none yet). The bytes are the session's and change at the next
// Feed: copy what must outlive it. broker/server samples publish→deliver
// latency with it.
func (n *Native) LastPublishID() []byte { return n.lastID }

// NewNativeFrom is NewNative for a peer the driver describes. The
// connection reaches the core (Open) once it is authenticated.
func NewNativeFrom(core Core, conn broker.ConnID, cfg Config, peer Peer, now time.Time) *Native {
	cfg = cfg.WithDefaults()
	return &Native{
		core:     core,
		conn:     conn,
		cfg:      cfg,
		peer:     peer,
		log:      cfg.Logger.With("conn", uint64(conn), "protocol", "native"),
		openedAt: now,
		lastRecv: now,
		lastSend: now,
	}
}

// Protocol implements Session.
func (n *Native) Protocol() wire.Protocol { return wire.ProtocolNative }

// Feed implements Session.
func (n *Native) Feed(in []byte, now time.Time) (int, error) {
	if len(in) > 0 {
		n.lastRecv = now
	}
	off := 0
	for !n.closed {
		if n.state == awaitPreamble {
			if len(in)-off < wire.PreambleSize {
				break
			}
			if err := wire.CheckPreamble(in[off : off+wire.PreambleSize]); err != nil {
				return len(in), n.badPreamble(err)
			}
			off += wire.PreambleSize
			n.state = awaitHello
			continue
		}
		typ, payload, size, err := wire.SplitFrame(in[off:], n.cfg.MaxFrameSize)
		if err != nil {
			return len(in), n.fail(0, broker.Code(wire.ErrorCode(err)), err)
		}
		if size == 0 {
			break
		}
		if n.state == open && n.mem.holds(typ) {
			// The memory alarm pauses this publisher: keep the publish
			// for later and serve what follows it (alarm.go).
			if !n.mem.hold(in[off : off+size]) {
				break // the hold is full: the driver stops reading
			}
			off += size
			continue
		}
		off += size
		if err := n.handleFrame(typ, payload, now); err != nil {
			return len(in), err
		}
		if len(n.out) > n.cfg.MaxOutput {
			break // flow control: the driver feeds the rest once it drained
		}
	}
	if n.closed {
		return len(in), nil
	}
	return off, nil
}

// EndOfInput implements Session. A partial frame in rest is dropped: the
// peer can no longer complete it.
func (n *Native) EndOfInput(rest []byte, _ time.Time) {
	if n.closed {
		return
	}
	n.closed = true
	n.closeWhy = "peer closed the connection"
	if len(rest) > 0 {
		n.closeWhy = fmt.Sprintf("peer closed the connection inside a frame (%d bytes pending)", len(rest))
	}
}

// badPreamble answers a preamble of another version with ours (so the client
// learns what we speak) and anything else with nothing; then it closes.
func (n *Native) badPreamble(err error) error {
	if errors.Is(err, wire.ErrUnsupportedVersion) {
		n.out = wire.AppendPreamble(n.out)
	}
	n.closed = true
	n.closeWhy = err.Error()
	n.log.Warn("native connection: bad preamble", "err", err)
	return err
}

// fail sends an Error frame with ReqID 0 and closes the session. It returns
// err so callers can pass it on.
func (n *Native) fail(reqID uint64, code broker.Code, err error) error {
	n.flushRange()
	n.out = wire.AppendError(n.out, &wire.Error{ReqID: reqID, Code: uint16(code), Message: err.Error() + "; closing the connection"})
	n.closed = true
	n.closeWhy = err.Error()
	n.log.Warn("native connection: fatal error", "code", uint16(code), "err", err)
	return err
}

// HandleEffect implements Session.
func (n *Native) HandleEffect(e broker.Effect, now time.Time) {
	if n.closed {
		return
	}
	switch e.Kind {
	case broker.EffectConfirm:
		durable := n.durability && e.Durable
		if e.Duplicate {
			n.flushRange()
			n.out = wire.AppendConfirmDup(n.out, &wire.ConfirmDup{Seq: e.Seq, Durable: durable})
			break
		}
		if n.rangeActive && e.Seq == n.rangeLast+1 && durable == n.rangeDurable {
			n.rangeLast = e.Seq
			break
		}
		n.flushRange()
		n.rangeActive, n.rangeFirst, n.rangeLast, n.rangeDurable = true, e.Seq, e.Seq, durable
	case broker.EffectRefuse:
		n.flushRange()
		nack := wire.Nack{Seq: e.Seq, Code: uint16(broker.CodeInternal), Reason: "publish refused"}
		if e.Err != nil {
			nack.Code, nack.Reason = uint16(e.Err.Code), e.Err.Msg
		}
		n.out = wire.AppendNack(n.out, &nack)
	case broker.EffectDeliver:
		n.appendDeliver(&e.Delivery)
	case broker.EffectCancelled:
		reason := "consumer cancelled by the server"
		if e.Err != nil {
			reason = e.Err.Msg
		}
		n.out = wire.AppendCancelled(n.out, &wire.Cancelled{ConsumerTag: e.Delivery.ConsumerTag, Reason: reason})
	}
	n.lastSend = now
}

// deliverFrame fills the reused Deliver frame from a delivery. The string
// fields are copied into one reused buffer instead of five []byte
// conversions, so a delivery costs no allocation here.
func (n *Native) deliverFrame(d *broker.Delivery) *wire.Deliver {
	queue, exchange := n.g.local(d.Queue), n.g.local(d.Exchange)
	b := n.scratch.strs[:0]
	b = append(b, d.ConsumerTag...)
	b = append(b, queue...)
	b = append(b, exchange...)
	b = append(b, d.RoutingKey...)
	b = append(b, d.MessageID...)
	n.scratch.strs = b
	cut := func(s string) []byte {
		f := b[:len(s):len(s)]
		b = b[len(s):]
		return f
	}
	f := &n.scratch.deliver
	*f = wire.Deliver{
		ConsumerTag:   cut(d.ConsumerTag),
		DeliveryTag:   d.Tag,
		DeliveryCount: uint64(d.DeliveryCount),
		Queue:         cut(queue),
		Exchange:      cut(exchange),
		RoutingKey:    cut(d.RoutingKey),
		MessageID:     cut(d.MessageID),
		Body:          d.Body,
	}
	if d.Redelivered {
		f.Flags |= wire.FlagRedelivered
	}
	if n.reasons {
		f.Reason = d.DeadLetterReason
	}
	return f
}

// appendDeliver writes one delivery: as DeliverRef (after defining its
// prefix if it is not live) when the connection negotiated shared prefixes
// and the prefix fits a frame, else as a plain Deliver of the whole body.
func (n *Native) appendDeliver(d *broker.Delivery) {
	f := n.deliverFrame(d)
	p := d.Prefix
	if p == nil {
		n.out = wire.AppendDeliver(n.out, f)
		return
	}
	if !n.prefixes || p.Len() > wire.MaxPrefixSize || wire.PrefixFrameSize(p.Len()) > n.frameLimit {
		n.out = wire.AppendDeliverJoined(n.out, f, p.Bytes())
		return
	}
	id, live := n.outPrefixes.Lookup(p)
	if !live {
		if n.cfg.MutationPrefixIDReuse {
			id = n.outPrefixes.ReuseLast(p)
		} else {
			id = n.outPrefixes.Define(p)
		}
		n.out = wire.AppendPrefix(n.out, &wire.Prefix{ID: id, Bytes: p.Bytes()})
	}
	if n.cfg.MutationPrefixRefWrong && id > 1 && n.outPrefixes.Last()-(id-1) < wire.PrefixWindow {
		id-- // another live prefix: the consumer cannot tell
	}
	r := &n.scratch.deliverRef
	r.Deliver, r.PrefixID = *f, id
	n.out = wire.AppendDeliverRef(n.out, r)
}

// PrefixStats reports how many prefix definitions this session sent and how
// many of them were pushed out of the window by newer ones.
func (n *Native) PrefixStats() (defined, evicted uint64) {
	return n.outPrefixes.Last(), n.outPrefixes.Evictions
}

// flushRange writes the pending confirm range, if any.
func (n *Native) flushRange() {
	if n.rangeActive {
		n.out = wire.AppendConfirm(n.out, &wire.Confirm{First: n.rangeFirst, Last: n.rangeLast, Durable: n.rangeDurable})
		n.rangeActive = false
	}
}

// Output implements Session.
func (n *Native) Output() []byte {
	n.flushRange()
	return n.out
}

// Wrote implements Session.
func (n *Native) Wrote(k int, now time.Time) {
	if k <= 0 {
		return
	}
	n.out = dropWritten(n.out, k)
	n.lastSend = now
	if n.state == open && !n.detached {
		n.core.Writable(n.conn, int64(len(n.out)), now)
	}
}

// Tick implements Session: handshake deadline, heartbeat send and peer
// silence.
func (n *Native) Tick(now time.Time) {
	if n.closed {
		return
	}
	if n.state != open {
		if n.cfg.HandshakeTimeout > 0 && !now.Before(n.openedAt.Add(n.cfg.HandshakeTimeout)) {
			what := "no Hello"
			switch n.state {
			case awaitAuth:
				what = "no Auth after Hello"
			case verifying:
				what = "password verification not finished"
			}
			_ = n.fail(0, broker.CodeTimeout, fmt.Errorf("%s within the handshake timeout of %v", what, n.cfg.HandshakeTimeout))
		}
		return
	}
	if n.heartbeat <= 0 {
		return
	}
	if n.mem.paused() {
		n.lastRecv = now // the driver is not reading: no silence to judge
	}
	if !now.Before(n.lastRecv.Add(3 * n.heartbeat)) {
		_ = n.fail(0, broker.CodeTimeout, fmt.Errorf("peer silent for %v (3 heartbeat intervals of %v)", now.Sub(n.lastRecv), n.heartbeat))
		return
	}
	if !now.Before(n.lastSend.Add(n.heartbeat)) {
		n.out = wire.AppendHeartbeat(n.out)
		n.lastSend = now
	}
}

// NextDeadline implements Session.
func (n *Native) NextDeadline() (time.Time, bool) {
	if n.closed {
		return time.Time{}, false
	}
	if n.state != open {
		if n.cfg.HandshakeTimeout <= 0 {
			return time.Time{}, false
		}
		return n.openedAt.Add(n.cfg.HandshakeTimeout), true
	}
	if n.heartbeat <= 0 {
		return time.Time{}, false
	}
	dead := n.lastRecv.Add(3 * n.heartbeat)
	send := n.lastSend.Add(n.heartbeat)
	if send.Before(dead) {
		return send, true
	}
	return dead, true
}

// Closed implements Session.
func (n *Native) Closed() (bool, string) { return n.closed, n.closeWhy }

// Shutdown implements Session: a Close frame, then the driver closes.
func (n *Native) Shutdown(code broker.Code, reason string) {
	if n.closed {
		return
	}
	n.flushRange()
	n.out = wire.AppendClose(n.out, &wire.Close{Code: uint16(code), Reason: reason})
	n.closed = true
	n.closeWhy = reason
}

// Close implements Session.
func (n *Native) Close(now time.Time) {
	if !n.closed {
		n.closed = true
		n.closeWhy = "transport closed"
	}
	if !n.detached {
		n.detached = true
		n.core.Close(n.conn, now)
	}
}
