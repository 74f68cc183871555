package session

import (
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
	// shared prefix) on this connection: the driver stops reading from it
	// while the alarm is on.
	HasPublished() bool
}

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
}

// paused reports that the driver is not reading this connection.
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
}

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
