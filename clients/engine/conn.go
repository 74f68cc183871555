package engine

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// ConnConfig tunes a Conn.
type ConnConfig struct {
	// ClientName, Heartbeat (the interval proposed; 0: the broker's
	// default) and MaxFrameSize (the largest frame the client accepts; 0:
	// no preference) go into Hello.
	ClientName   string
	Heartbeat    time.Duration
	MaxFrameSize int
	// Features are the wire.Feature* bits asked for in Hello. FeatureAuth
	// is added by Handshake when it sends an Auth frame. What the broker
	// grants (Granted) decides whether publishes may refer to shared
	// prefixes and whether rejections carry their reason.
	Features uint64
	// Consumer configures the connection's consumer engine.
	Consumer ConsumerConfig

	// MutationConfirmOffByOne is TEST ONLY: the connection maps every
	// Confirm one sequence number too far, so the publish after the
	// confirmed range is reported confirmed before (or without) the
	// broker storing it. The simulator's sweep must report the messages
	// this loses (sim.Mutations.ConnConfirmOffByOne).
	MutationConfirmOffByOne bool
}

type connState uint8

const (
	connDown      connState = iota // no transport, or its handshake failed
	connHandshake                  // Hello sent, waiting for HelloOK
	connUp                         // HelloOK received
)

// EventKind says what a frame from the broker meant (Event.Kind).
type EventKind uint8

const (
	// EventIgnored: nothing for the driver to do (a heartbeat, a repeated
	// HelloOK or Blocked, a frame that arrived while down).
	EventIgnored EventKind = iota
	// EventUnexpected: a frame a broker never sends to a client (Type). It
	// changed nothing; the driver may log it.
	EventUnexpected
	// EventReady: HelloOK. The connection is up (Server, Granted): the
	// consumer engine and every added publisher are connected. The driver
	// now queues what it wants sent first (declarations, consumes), then
	// calls Pump for each publisher, which resends what is unconfirmed.
	EventReady
	// EventAnswered: a Confirm, ConfirmDup or Nack (Type; First..Last,
	// and Code, Reason for a Nack) was mapped onto the publishers that sent
	// those sequence numbers and handed to their engines. Publishers lists
	// them (empty when the answer named nothing in flight): the driver
	// collects their resolutions and calls Pump for each.
	EventAnswered
	// EventDeliver: a Deliver or DeliverRef (Type). Deliver aliases the
	// payload; Prefix is the shared prefix a DeliverRef named (the whole
	// body is Prefix ‖ Deliver.Body; nil for a Deliver). The driver runs it
	// through Consumer (Handle...) and calls FlushSettlements.
	EventDeliver
	// EventPrefix: the broker defined shared prefix PrefixID.
	EventPrefix
	// EventAckRefused: the broker refused a settlement of DeliveryTag (Code,
	// Reason); the consumer engine has taken it into account.
	EventAckRefused
	// EventReply: the answer to request ReqID. Type says which: OK
	// (Count), ConsumeOK (Tag), StatsOK (JSON, aliasing the payload),
	// FetchOK (Deliver), FetchEmpty, or Error (Code, Reason).
	EventReply
	// EventCancelled: the broker ended consumer Tag (Reason).
	EventCancelled
	// EventBlocked and EventUnblocked: the broker's memory alarm turned on
	// (Reason) or off on this connection. Repeats are EventIgnored.
	EventBlocked
	EventUnblocked
	// EventClosed: the connection is over and the engine is down. With Err
	// nil the broker ended it with a Close or a connection-level Error
	// (Type; Code, Reason); during the handshake that is its refusal.
	// Otherwise Err says what was wrong with the stream, and Violation
	// marks a frame a correct broker never sends (docs/protocol.md §5a).
	// The driver closes the transport; Disconnected is then a no-op.
	EventClosed
)

// Event is what one frame from the broker meant. Slices alias the frame's
// payload or the engine's buffers: valid until the next Receive.
type Event struct {
	Kind EventKind
	Type wire.FrameType

	Publishers  []*Publisher
	First, Last uint64 // EventAnswered: the sequence numbers answered (connection numbering)
	Deliver     *wire.Deliver
	Prefix      []byte
	PrefixID    uint64
	ReqID       uint64
	Count       uint64
	Tag         string
	JSON        []byte
	DeliveryTag uint64
	Code        uint16
	Reason      string
	Err         error
	Violation   bool
}

// Conn is the client side of one broker connection as a deterministic state
// machine, the twin of the broker's per-connection session: the handshake,
// the dispatch of every frame the broker sends, the connection's publish
// sequence numbers and the mapping of confirms back to the publishers that
// sent them, the shared-prefix windows of both directions, the consumer
// engine (delivery bookkeeping, settlement batching) and the reconnect
// state (what a new connection resends). Like Publisher and Consumer it
// never blocks, starts no goroutine, reads no clock and is not safe for
// concurrent use.
//
// Conn outlives transports: each transport is one Handshake ... Disconnected
// span, and publishers added once stay across them. The heartbeat rule is
// here too (Tick: send something every interval, and a broker silent for
// three intervals is dead); request/answer matching stays with the driver.
//
// The driver's loop:
//
//	c.Handshake(auth, now)             // a new transport: write Output
//	ev := c.Receive(typ, payload, now) // each frame read; act on ev
//	c.Pump(p, now)                     // after Add, an answer or a deadline of p
//	c.FlushSettlements()               // after Consumer().Settle...
//	silent := c.Tick(now)              // at NextDeadline: heartbeats, liveness
//	buf := c.TakeOutput(spare)         // write buf
//	c.Disconnected(now)                // the transport is gone
type Conn struct {
	cfg     ConnConfig
	state   connState
	server  wire.HelloOK
	granted uint64
	blocked bool

	pubs     []*Publisher // added, in add order
	wireSeq  uint64       // the next publish sequence number on the connection
	seqOwner seqRing
	cons     *Consumer

	outPre wire.OutboundPrefixes[*Prefix]
	inPre  wire.InboundPrefixes[[]byte]

	out     []byte
	in      inbound
	touched []*Publisher

	// The heartbeat rule: hb is the interval (proposed, then negotiated;
	// 0: none), queued says output was queued since the last beat.
	hb        time.Duration
	lastHeard time.Time
	nextBeat  time.Time
	queued    bool
}

// inbound holds the decode targets, reused frame after frame so decoding
// allocates nothing.
type inbound struct {
	helloOK    wire.HelloOK
	confirm    wire.Confirm
	dup        wire.ConfirmDup
	nack       wire.Nack
	deliver    wire.Deliver
	deliverRef wire.DeliverRef
	prefix     wire.Prefix
	ackRefused wire.AckRefused
	ok         wire.OK
	errFrame   wire.Error
	consumeOK  wire.ConsumeOK
	statsOK    wire.StatsOK
	fetchOK    wire.FetchOK
	fetchEmpty wire.FetchEmpty
	cancelled  wire.Cancelled
	close      wire.Close
	blocked    wire.Blocked
}

// NewConn returns a connection engine with no transport.
func NewConn(cfg ConnConfig) *Conn {
	return &Conn{cfg: cfg, cons: NewConsumer(cfg.Consumer), wireSeq: 1}
}

// Consumer is the connection's consumer engine: every delivery of the
// connection, of all its consumers, goes through it.
func (c *Conn) Consumer() *Consumer { return c.cons }

// AddPublisher attaches a publisher engine: its frames go out on this
// connection (Pump), numbered in the connection's sequence, and it is
// connected and disconnected with the connection. If the connection is up
// it is connected now.
func (c *Conn) AddPublisher(p *Publisher, now time.Time) {
	if slices.Contains(c.pubs, p) {
		return
	}
	c.pubs = append(c.pubs, p)
	if c.state == connUp {
		p.Connected(now)
	}
}

// RemovePublisher detaches p: Pump sends nothing more for it. Answers for
// frames it sent on the current connection still reach its engine (and it
// may appear in EventAnswered); a driver that gave up on p ignores them.
func (c *Conn) RemovePublisher(p *Publisher) {
	if i := slices.Index(c.pubs, p); i >= 0 {
		c.pubs = slices.Delete(c.pubs, i, i+1)
	}
}

// Publishers returns the added publishers in add order. The slice is the
// engine's: do not modify it.
func (c *Conn) Publishers() []*Publisher { return c.pubs }

// Handshake starts a new transport: whatever the previous one carried is
// forgotten (as by Disconnected), and Output holds the preamble, Hello and,
// with auth, the Auth frame. The connection is up once Receive sees HelloOK.
func (c *Conn) Handshake(auth *wire.Auth, now time.Time) {
	c.Disconnected(now)
	c.out = c.out[:0]
	features := c.cfg.Features
	if auth != nil {
		features |= wire.FeatureAuth
	}
	c.out = wire.AppendPreamble(c.out)
	c.out = wire.AppendHello(c.out, &wire.Hello{
		Version:      wire.ProtocolVersion,
		ClientName:   c.cfg.ClientName,
		HeartbeatMs:  uint64(max(c.cfg.Heartbeat, 0) / time.Millisecond),
		MaxFrameSize: uint64(max(c.cfg.MaxFrameSize, 0)),
		Features:     features,
	})
	if auth != nil {
		c.out = wire.AppendAuth(c.out, auth)
	}
	c.state = connHandshake
	// Until HelloOK the proposed interval bounds the wait for it.
	c.hb = max(c.cfg.Heartbeat, 0)
	c.lastHeard, c.nextBeat, c.queued = now, now.Add(c.hb), true
}

// Disconnected ends the current transport: the consumer engine forgets its
// deliveries (the broker requeues them), every publisher takes back what it
// had in flight to resend it on the next connection, sequence numbers and
// prefix windows start again, and unwritten output is dropped. Idempotent.
func (c *Conn) Disconnected(now time.Time) {
	if c.state == connDown {
		return
	}
	if c.state == connUp {
		c.cons.Disconnected()
		for _, p := range c.pubs {
			p.Disconnected(now)
		}
	}
	c.state = connDown
	c.seqOwner.reset()
	c.wireSeq = 1
	c.outPre.Reset()
	c.inPre.Reset()
	c.granted, c.blocked = 0, false
	c.out = c.out[:0]
}

// up starts the connection the broker accepted.
func (c *Conn) up(ok *wire.HelloOK, now time.Time) {
	c.state = connUp
	c.server = *ok
	c.granted = c.cfg.Features & ok.Features
	c.hb = time.Duration(ok.HeartbeatMs) * time.Millisecond // 0: the broker wants none
	c.nextBeat = now.Add(c.hb)
	c.cons.Connected()
	for _, p := range c.pubs {
		p.Connected(now)
	}
}

// Ready reports whether the connection is up (HelloOK received, not
// disconnected since).
func (c *Conn) Ready() bool { return c.state == connUp }

// Server is the broker's HelloOK of the current (or last) connection.
func (c *Conn) Server() wire.HelloOK { return c.server }

// Granted reports whether the broker granted feature bit f on the current
// connection.
func (c *Conn) Granted(f uint64) bool { return c.granted&f == f }

// Blocked reports whether the broker said that its memory alarm is on
// (docs/protocol.md §9a) on the current connection.
func (c *Conn) Blocked() bool { return c.state == connUp && c.blocked }

// PrefixEvictions counts the shared prefixes the outbound window pushed out
// on the current connection.
func (c *Conn) PrefixEvictions() uint64 { return c.outPre.Evictions }

// Heartbeat is the heartbeat interval of the current connection: the one
// the broker announced in HelloOK, or until then the one proposed (0:
// none).
func (c *Conn) Heartbeat() time.Duration { return c.hb }

// NextDeadline says when Tick must run next: the next heartbeat or the
// instant the broker has been silent for three intervals. False while down
// or without heartbeats.
func (c *Conn) NextDeadline() (time.Time, bool) {
	if c.state == connDown || c.hb <= 0 {
		return time.Time{}, false
	}
	dead := c.lastHeard.Add(3 * c.hb)
	if c.state == connUp && c.nextBeat.Before(dead) {
		return c.nextBeat, true
	}
	return dead, true
}

// Tick applies the heartbeat rule at now: once the connection is up, a
// Heartbeat is queued at each interval in which nothing else was; and it
// reports silent when nothing came from the broker for three intervals
// (the handshake included): the driver then drops the transport.
func (c *Conn) Tick(now time.Time) (silent bool) {
	if c.state == connDown || c.hb <= 0 {
		return false
	}
	if c.state == connUp && !now.Before(c.nextBeat) {
		if !c.queued {
			c.out = wire.AppendHeartbeat(c.out)
		}
		c.queued = false
		c.nextBeat = now.Add(c.hb)
	}
	return now.Sub(c.lastHeard) >= 3*c.hb
}

// Output returns the bytes waiting to be written. The slice is the
// engine's until TakeOutput.
func (c *Conn) Output() []byte { return c.out }

// TakeOutput hands the waiting bytes to the driver to write; later frames
// go into spare (emptied), which the driver gives up.
func (c *Conn) TakeOutput(spare []byte) []byte {
	b := c.out
	c.out = spare[:0]
	return b
}

// PutBack returns unwritten bytes taken by TakeOutput (the transport took
// only part of them): they go out first, before what was queued since. It
// returns the buffer that held the frames queued since, emptied, for the
// driver to reuse.
func (c *Conn) PutBack(rest []byte) []byte {
	queued := c.out
	c.out = append(rest, queued...)
	return queued[:0]
}

// Queue appends the driver's own frames (requests, heartbeats, Close) to
// the output: encode appends them to its argument and returns it.
func (c *Conn) Queue(encode func(dst []byte) []byte) {
	c.out = encode(c.out)
	c.queued = true
}

// Pump polls p and queues its publish frames, renumbered in the
// connection's sequence and sent by prefix reference where the window
// allows. It returns those frames (Seq is the connection's number), valid
// until p's next Poll. Nothing is sent while the connection is not up.
func (c *Conn) Pump(p *Publisher, now time.Time) []wire.Publish {
	if c.state != connUp {
		return nil
	}
	frames := p.Poll(now)
	if len(frames) == 0 {
		return frames
	}
	prefixes := p.Prefixes()
	var w *wire.OutboundPrefixes[*Prefix]
	if c.granted&wire.FeatureSharedPrefixes != 0 {
		w = &c.outPre
	}
	maxFrame := int(c.server.MaxFrameSize)
	c.queued = true
	for i := range frames {
		f := &frames[i]
		c.seqOwner.add(c.wireSeq, seqRef{pub: p, local: f.Seq})
		f.Seq = c.wireSeq
		c.wireSeq++
		c.out = wire.AppendPublishPrefixed(c.out, w, prefixes[i], prefixes[i].Bytes(), maxFrame, f)
	}
	return frames
}

// FlushSettlements queues the consumer engine's ack, nack and reject
// frames (reasons dropped unless the broker granted them) and returns
// them, valid until the next call.
func (c *Conn) FlushSettlements() []Settlement {
	if c.state != connUp {
		return nil
	}
	out := c.cons.Poll()
	c.queued = c.queued || len(out) > 0
	reasons := c.granted&wire.FeatureRejectReasons != 0
	for i := range out {
		if !reasons {
			out[i].Reason = wire.ReasonNone
		}
		c.out = out[i].AppendTo(c.out)
	}
	return out
}

// errNotGranted is the violation of a prefix frame on a connection that
// did not negotiate shared prefixes.
var errNotGranted = errors.New("shared prefixes were not negotiated on this connection")

// Receive applies one frame from the broker (the payload is not retained)
// and says what it meant. A frame that does not decode, or breaks the
// protocol, ends the connection (EventClosed): the stream can no longer be
// trusted.
func (c *Conn) Receive(typ wire.FrameType, payload []byte, now time.Time) Event {
	ev := Event{Kind: EventIgnored, Type: typ}
	if c.state != connDown {
		c.lastHeard = now
	}
	switch c.state {
	case connDown:
		return ev
	case connHandshake:
		return c.receiveHandshake(typ, payload, now)
	}
	in := &c.in
	var err error
	switch typ {
	case wire.FrameHeartbeat, wire.FrameHelloOK:
		return ev // a HelloOK repeated by a datagram link
	case wire.FrameConfirm:
		if err = wire.DecodeConfirm(payload, &in.confirm); err == nil {
			ev.Kind, ev.First, ev.Last = EventAnswered, in.confirm.First, in.confirm.Last
			ev.Publishers = c.handleConfirm(&in.confirm)
		}
	case wire.FrameConfirmDup:
		if err = wire.DecodeConfirmDup(payload, &in.dup); err == nil {
			ev.Kind, ev.First, ev.Last = EventAnswered, in.dup.Seq, in.dup.Seq
			if ref, ok := c.seqOwner.take(in.dup.Seq); ok {
				ref.pub.HandleConfirmDup(wire.ConfirmDup{Seq: ref.local, Durable: in.dup.Durable})
				ev.Publishers = c.touch(ref.pub)
			}
		}
	case wire.FrameNack:
		if err = wire.DecodeNack(payload, &in.nack); err == nil {
			ev.Kind, ev.First, ev.Last = EventAnswered, in.nack.Seq, in.nack.Seq
			ev.Code, ev.Reason = in.nack.Code, in.nack.Reason
			if ref, ok := c.seqOwner.take(in.nack.Seq); ok {
				ref.pub.HandleNack(wire.Nack{Seq: ref.local, Code: in.nack.Code, Reason: in.nack.Reason})
				ev.Publishers = c.touch(ref.pub)
			}
		}
	case wire.FrameDeliver:
		if err = wire.DecodeDeliver(payload, &in.deliver); err == nil {
			ev.Kind, ev.Deliver = EventDeliver, &in.deliver
		}
	case wire.FrameDeliverRef:
		if err = wire.DecodeDeliverRef(payload, &in.deliverRef); err != nil {
			break
		}
		if c.granted&wire.FeatureSharedPrefixes == 0 {
			return c.violated(typ, errNotGranted, now)
		}
		pre, lerr := c.inPre.Lookup(in.deliverRef.PrefixID)
		if lerr != nil {
			return c.violated(typ, lerr, now)
		}
		ev.Kind, ev.Deliver, ev.Prefix = EventDeliver, &in.deliverRef.Deliver, pre
	case wire.FramePrefix:
		if err = wire.DecodePrefix(payload, &in.prefix); err != nil {
			break
		}
		if c.granted&wire.FeatureSharedPrefixes == 0 {
			return c.violated(typ, errNotGranted, now)
		}
		// Only the next id is taken: a repeated or skipped id is a broker
		// bug that could attach the wrong bytes to later deliveries. The
		// payload is the caller's buffer: cloned.
		if derr := c.inPre.Define(in.prefix.ID, slices.Clone(in.prefix.Bytes)); derr != nil {
			return c.violated(typ, derr, now)
		}
		ev.Kind, ev.PrefixID = EventPrefix, in.prefix.ID
	case wire.FrameAckRefused:
		if err = wire.DecodeAckRefused(payload, &in.ackRefused); err == nil {
			c.cons.HandleAckRefused(in.ackRefused)
			ev.Kind, ev.DeliveryTag = EventAckRefused, in.ackRefused.DeliveryTag
			ev.Code, ev.Reason = in.ackRefused.Code, in.ackRefused.Reason
		}
	case wire.FrameOK:
		if err = wire.DecodeOK(payload, &in.ok); err == nil {
			ev.Kind, ev.ReqID, ev.Count = EventReply, in.ok.ReqID, in.ok.Count
		}
	case wire.FrameConsumeOK:
		if err = wire.DecodeConsumeOK(payload, &in.consumeOK); err == nil {
			ev.Kind, ev.ReqID, ev.Tag = EventReply, in.consumeOK.ReqID, in.consumeOK.ConsumerTag
		}
	case wire.FrameStatsOK:
		if err = wire.DecodeStatsOK(payload, &in.statsOK); err == nil {
			ev.Kind, ev.ReqID, ev.JSON = EventReply, in.statsOK.ReqID, in.statsOK.JSON
		}
	case wire.FrameFetchOK:
		if err = wire.DecodeFetchOK(payload, &in.fetchOK); err == nil {
			ev.Kind, ev.ReqID, ev.Deliver = EventReply, in.fetchOK.ReqID, &in.fetchOK.Deliver
		}
	case wire.FrameFetchEmpty:
		if err = wire.DecodeFetchEmpty(payload, &in.fetchEmpty); err == nil {
			ev.Kind, ev.ReqID = EventReply, in.fetchEmpty.ReqID
		}
	case wire.FrameError:
		if err = wire.DecodeErrorFrame(payload, &in.errFrame); err == nil {
			ev.ReqID, ev.Code, ev.Reason = in.errFrame.ReqID, in.errFrame.Code, in.errFrame.Message
			if ev.ReqID != 0 {
				ev.Kind = EventReply
				break
			}
			// A connection-level error: the broker closes the connection.
			ev.Kind = EventClosed
			c.Disconnected(now)
		}
	case wire.FrameCancelled:
		if err = wire.DecodeCancelled(payload, &in.cancelled); err == nil {
			ev.Kind, ev.Tag, ev.Reason = EventCancelled, in.cancelled.ConsumerTag, in.cancelled.Reason
		}
	case wire.FrameClose:
		if err = wire.DecodeClose(payload, &in.close); err == nil {
			ev.Kind, ev.Code, ev.Reason = EventClosed, in.close.Code, in.close.Reason
			c.Disconnected(now)
		}
	case wire.FrameBlocked:
		if err = wire.DecodeBlocked(payload, &in.blocked); err == nil && !c.blocked {
			c.blocked = true
			ev.Kind, ev.Reason = EventBlocked, in.blocked.Reason
		}
	case wire.FrameUnblocked:
		if err = wire.DecodeUnblocked(payload, nil); err == nil && c.blocked {
			c.blocked = false
			ev.Kind = EventUnblocked
		}
	default:
		ev.Kind = EventUnexpected
	}
	if err != nil {
		c.Disconnected(now)
		return Event{Kind: EventClosed, Type: typ, Err: fmt.Errorf("decode %s from broker: %w", typ, err)}
	}
	return ev
}

// receiveHandshake takes the broker's answer to Hello.
func (c *Conn) receiveHandshake(typ wire.FrameType, payload []byte, now time.Time) Event {
	ev := Event{Kind: EventIgnored, Type: typ}
	var err error
	switch typ {
	case wire.FrameHelloOK:
		if err = wire.DecodeHelloOK(payload, &c.in.helloOK); err == nil {
			c.up(&c.in.helloOK, now)
			ev.Kind = EventReady
		}
	case wire.FrameError:
		if err = wire.DecodeErrorFrame(payload, &c.in.errFrame); err == nil {
			ev.Kind, ev.ReqID, ev.Code, ev.Reason = EventClosed, c.in.errFrame.ReqID, c.in.errFrame.Code, c.in.errFrame.Message
			c.Disconnected(now)
		}
	case wire.FrameClose:
		if err = wire.DecodeClose(payload, &c.in.close); err == nil {
			ev.Kind, ev.Code, ev.Reason = EventClosed, c.in.close.Code, c.in.close.Reason
			c.Disconnected(now)
		}
	}
	if err != nil {
		c.Disconnected(now)
		return Event{Kind: EventClosed, Type: typ, Err: fmt.Errorf("decode %s from broker: %w", typ, err)}
	}
	return ev
}

// violated ends the connection on a frame a correct broker never sends.
func (c *Conn) violated(typ wire.FrameType, err error, now time.Time) Event {
	c.Disconnected(now)
	return Event{Kind: EventClosed, Type: typ, Violation: true,
		Err: fmt.Errorf("broker violated the protocol (code 104) with its %s: %w", typ, err)}
}

// touch makes p the only publisher of an answer.
func (c *Conn) touch(p *Publisher) []*Publisher {
	clear(c.touched)
	c.touched = append(c.touched[:0], p)
	return c.touched
}

// handleConfirm maps a range of connection sequence numbers onto the
// publishers that sent them, as runs of consecutive engine numbers, and
// returns the publishers it touched.
func (c *Conn) handleConfirm(cf *wire.Confirm) []*Publisher {
	clear(c.touched)
	touched := c.touched[:0]
	defer func() { c.touched = touched }()
	f, l := cf.First, cf.Last
	if c.cfg.MutationConfirmOffByOne && l < ^uint64(0) {
		l++ // MUTATION: one sequence number past what the broker confirmed
	}
	if f == 0 || f > l {
		return touched
	}
	lo, hi, ok := c.seqOwner.span(f, l)
	if !ok {
		return touched
	}
	var run seqRef
	var runLast uint64
	flush := func() {
		if run.pub != nil {
			run.pub.HandleConfirm(wire.Confirm{First: run.local, Last: runLast, Durable: cf.Durable})
		}
	}
	for s := lo; ; s++ {
		if ref, ok := c.seqOwner.take(s); ok {
			if ref.pub == run.pub && ref.local == runLast+1 {
				runLast = ref.local
			} else {
				flush()
				run, runLast = ref, ref.local
				if !slices.Contains(touched, ref.pub) {
					touched = append(touched, ref.pub)
				}
			}
		}
		if s == hi {
			break
		}
	}
	flush()
	return touched
}
