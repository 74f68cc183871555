package protocol

import (
	"errors"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Session is what a driver needs from either protocol. *Native and *Text
// implement it.
type Session interface {
	// Feed parses and handles every complete frame or line at the start of
	// in and returns how many bytes it consumed; the driver keeps the rest
	// and feeds it again with more bytes. A non-nil error means the input
	// was fatal for this connection: the session is Closed, and Output holds
	// the error reply to flush before closing.
	Feed(in []byte, now time.Time) (consumed int, err error)
	// EndOfInput tells the session that the peer will send nothing more
	// (it half-closed or closed the connection). rest is what Feed left
	// unconsumed. The session becomes Closed; Output still holds what the
	// peer is owed (e.g. the reply to its last command), which the driver
	// writes if it can before closing.
	EndOfInput(rest []byte, now time.Time)
	// HandleEffect takes one core effect addressed to this connection. It
	// never calls the core, so a driver may route the effects of one Drain
	// while iterating over the slice Drain returned, without copying it
	// (broker/driver does; TestHandleEffectNeverCallsTheCore holds both
	// protocols to this).
	HandleEffect(e broker.Effect, now time.Time)
	// Output returns the bytes to write next. The slice stays valid, and its
	// contents unchanged, until Wrote; the driver may write it without
	// holding the lock that serialises session calls.
	Output() []byte
	// Wrote reports that the first n bytes of the last Output reached the
	// transport at now.
	Wrote(n int, now time.Time)
	// Tick runs timers that are due at now (heartbeats, pacing, timeouts).
	Tick(now time.Time)
	// NextDeadline says when Tick must run next; false when nothing is
	// scheduled.
	NextDeadline() (time.Time, bool)
	// Closed reports that the connection must be closed (after flushing
	// Output) and why.
	Closed() (bool, string)
	// Shutdown asks the session to end the connection politely (native: a
	// Close frame with code and reason); the session becomes Closed.
	Shutdown(code broker.Code, reason string)
	// Close detaches the connection from the core: its unacked deliveries
	// requeue and its consumers end. Idempotent; the driver calls it once
	// the transport is gone.
	Close(now time.Time)
	// Protocol names the protocol, for logs.
	Protocol() wire.Protocol
}

// codeOf returns the stable code of a core refusal, CodeInternal for any
// other error.
func codeOf(err error) broker.Code {
	var be *broker.Error
	if errors.As(err, &be) {
		return be.Code
	}
	return broker.CodeInternal
}

// messageOf returns the human text of a core refusal without the code
// suffix that (*broker.Error).Error adds.
func messageOf(err error) string {
	var be *broker.Error
	if errors.As(err, &be) {
		return be.Msg
	}
	return err.Error()
}

// dropWritten removes the first k bytes (the driver wrote them) from out,
// keeping the buffer's memory for the next output.
func dropWritten(out []byte, k int) []byte {
	k = min(k, len(out))
	rest := copy(out, out[k:])
	return out[:rest]
}
