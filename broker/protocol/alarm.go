package protocol

import (
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// MemoryAlarmed is implemented by both sessions: the driver tells them when
// the broker's memory alarm turns on and off (its global memory budget,
// docs/server.md), and asks which connections publish, to stop reading
// from those while the alarm is on.
type MemoryAlarmed interface {
	// SetMemoryAlarm turns the alarm on (with a reason for the peer) or
	// off at now. Native sessions send Blocked{reason} and Unblocked once
	// open (a session that opens during the alarm gets Blocked right after
	// HelloOK); text sessions refuse each publish while it is on.
	SetMemoryAlarm(on bool, reason string, now time.Time)
	// HasPublished reports that the peer published (or, native, defined a
	// shared prefix) on this connection: while the alarm is on, the
	// session holds that peer's further publishes (HeldPublishLimit) and
	// keeps serving its other frames.
	HasPublished() bool
	// ReadPaused reports that the session stopped consuming its input at a
	// publish it cannot hold: the driver stops reading from the connection
	// until the alarm clears (then the session takes that input again).
	ReadPaused() bool
	// HeldBytes is the input the session holds for later (publishes read
	// during the alarm), for the driver's memory accounting.
	HeldBytes() int
}

// HeldPublishLimit bounds the publish frames (Publish, PublishRef,
// Prefix) a native session holds, in arrival order, while the memory
// alarm pauses its publisher: up to this many bytes (or one frame of any
// size when the hold is empty) are read, kept and handled when the alarm
// clears, so that the frames behind them (acks, consumes, declares,
// deletes, stats) are served meanwhile. A publish that does not fit stops
// the reading of the connection, as a whole, until the alarm clears. A
// session holds at most HeldPublishLimit + one max-size frame. A client
// that honours Blocked sends at most its in-flight publishes after it, so
// the hold rarely fills.
const HeldPublishLimit = 64 << 10

var (
	_ MemoryAlarmed = (*Native)(nil)
	_ MemoryAlarmed = (*Text)(nil)
)

// ErrMemoryAlarm is the refusal of a text-protocol publish while the
// memory alarm is on: code 503 (Unavailable), nothing enqueued.
var ErrMemoryAlarm = &broker.Error{Code: broker.CodeUnavailable,
	Msg: "broker memory alarm: publishing is paused until consumers drain the broker; this message was not accepted, retry it later"}

// memAlarm is a session's view of the memory alarm.
type memAlarm struct {
	on        bool
	reason    string
	published bool
	held      []byte // native: publish-class frames held while paused, whole frames in arrival order
	holdFull  bool   // native: Feed stopped at a publish the hold cannot take
}

// holds reports whether a native frame of typ must wait in the hold:
// publish-class frames while the publisher is paused, and after frames
// already held so that publishes keep their order.
func (m *memAlarm) holds(typ wire.FrameType) bool {
	switch typ {
	case wire.FramePublish, wire.FramePublishRef, wire.FramePrefix:
		return m.paused() || len(m.held) > 0
	}
	return false
}

// hold keeps one whole frame, or reports that it does not fit.
func (m *memAlarm) hold(frame []byte) bool {
	if len(m.held) > 0 && len(m.held)+len(frame) > HeldPublishLimit {
		m.holdFull = true
		return false
	}
	m.held = append(m.held, frame...)
	return true
}

// paused reports that the alarm pauses this connection's publishes (they
// are held; the driver stops reading only once the hold is full).
func (m *memAlarm) paused() bool { return m.on && m.published }

// SetMemoryAlarm implements MemoryAlarmed.
func (n *Native) SetMemoryAlarm(on bool, reason string, now time.Time) {
	if n.mem.on == on {
		return
	}
	wasPaused := n.mem.paused()
	n.mem.on, n.mem.reason = on, reason
	if wasPaused && !on {
		// Nothing was read while paused, the peer's heartbeats included:
		// its silence starts now.
		n.lastRecv = now
	}
	if n.closed || n.state != open {
		return
	}
	n.flushRange()
	if on {
		n.out = wire.AppendBlocked(n.out, &wire.Blocked{Reason: reason})
	} else {
		n.out = wire.AppendUnblocked(n.out)
	}
	n.lastSend = now
	if !on {
		n.replayHeld(now)
	}
}

// replayHeld handles the publishes held during the alarm, in their
// order. The core copies what it keeps, so the hold's buffer is reused.
func (n *Native) replayHeld(now time.Time) {
	held := n.mem.held
	n.mem.held, n.mem.holdFull = nil, false
	for off := 0; off < len(held) && !n.closed; {
		typ, payload, size, err := wire.SplitFrame(held[off:], n.cfg.MaxFrameSize)
		if err != nil || size == 0 {
			panic("session: a held frame no longer splits: " + fmt.Sprint(err))
		}
		off += size
		if err := n.handleFrame(typ, payload, now); err != nil {
			return
		}
	}
	if n.mem.held == nil && cap(held) <= HeldPublishLimit {
		n.mem.held = held[:0] // reused; a buffer grown for a large frame is let go
	}
}

// ReadPaused implements MemoryAlarmed.
func (n *Native) ReadPaused() bool { return n.mem.on && n.mem.holdFull }

// HeldBytes implements MemoryAlarmed.
func (n *Native) HeldBytes() int { return len(n.mem.held) }

// ReadPaused implements MemoryAlarmed: a text session never holds input
// (its publishes are refused during the alarm).
func (t *Text) ReadPaused() bool { return false }

// HeldBytes implements MemoryAlarmed.
func (t *Text) HeldBytes() int { return 0 }

// blockedAfterHello sends Blocked to a session that opened during the
// alarm.
func (n *Native) blockedAfterHello() {
	if n.mem.on {
		n.out = wire.AppendBlocked(n.out, &wire.Blocked{Reason: n.mem.reason})
	}
}

// HasPublished implements MemoryAlarmed.
func (n *Native) HasPublished() bool { return n.mem.published }

// SetMemoryAlarm implements MemoryAlarmed.
func (t *Text) SetMemoryAlarm(on bool, reason string, _ time.Time) {
	t.mem.on, t.mem.reason = on, reason
}

// HasPublished implements MemoryAlarmed. Text connections are never
// paused for publishing (their publishes are refused during the alarm),
// so this is always false.
func (t *Text) HasPublished() bool { return false }
