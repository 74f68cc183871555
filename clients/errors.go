package clients

import (
	"errors"
	"fmt"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// Sentinel errors. Errors returned by this package wrap them with context;
// test with errors.Is.
var (
	// ErrClosed: the connection was closed by Close. Dial again to continue.
	ErrClosed = errors.New("clients: connection closed")
	// ErrPublisherClosed: the publisher was closed; create a new one.
	ErrPublisherClosed = errors.New("clients: publisher closed")
	// ErrUnconfirmed: the publisher or connection was closed before the
	// broker answered. The message may or may not be stored: publish it
	// again with the same id (the broker drops the copy if it has it).
	ErrUnconfirmed = errors.New("clients: closed before the broker confirmed the message; publish it again with the same id to be sure")
	// ErrConnectionLost: the connection broke while a delete or unbind
	// waited for its answer; it may or may not have been applied. Check, or
	// retry and accept IsNotFound. (Declarations, binds and Stats are sent
	// again on the next connection by themselves.)
	ErrConnectionLost = errors.New("clients: connection lost before the broker answered; the request may or may not have been applied")
	// ErrUnresolved is what Confirm.Err returns while the broker has not
	// answered yet; wait with Confirm.Wait or Confirm.Done.
	ErrUnresolved = errors.New("clients: confirm not resolved yet")
	// ErrInvalid: an argument was refused before anything was sent (empty or
	// overlong id or name, body above the broker's limit, ...).
	ErrInvalid = errors.New("clients: invalid argument")
	// ErrConsumerEnded: the consumer was cancelled, by Cancel or by the
	// broker (for example because its queue was deleted).
	ErrConsumerEnded = errors.New("clients: consumer ended")
	// ErrSettleLater, returned by a Handler (or as a BatchHandler's verdict
	// for one delivery), leaves the delivery unsettled: the application
	// settles it later with Delivery.Ack, Nack or Reject.
	ErrSettleLater = errors.New("clients: the delivery is settled later by Delivery.Ack, Nack or Reject")
	// ErrAlreadySettled: Ack, Nack or Reject on a delivery that was settled
	// already; the first settlement stands.
	ErrAlreadySettled = errors.New("clients: delivery already settled")
	// ErrDeliveryStale: Ack, Nack or Reject on a delivery whose connection
	// ended since it arrived. The broker requeued the message when the
	// connection ended and delivers it again.
	ErrDeliveryStale = errors.New("clients: the delivery's connection ended; the broker requeued the message")
)

// Broker reason codes that the helpers below test for: the values of
// broker/wire's catalogue (wire.Codes, docs/protocol.md §10).
const (
	CodeInvalidArgument  = wire.CodeInvalidArgument
	CodeTooLarge         = wire.CodeTooLarge
	CodeExchangeNotFound = wire.CodeExchangeNotFound
	CodeQueueNotFound    = wire.CodeQueueNotFound
	CodeMismatch         = wire.CodeMismatch
	CodeConsumerNotFound = wire.CodeConsumerNotFound
	CodeReserved         = wire.CodeReserved
	CodeInUse            = wire.CodeInUse
	CodeNoRoute          = wire.CodeNoRoute
	CodeQueueFull        = wire.CodeQueueFull
	CodeResourceLimit    = wire.CodeResourceLimit
	CodeShuttingDown     = wire.CodeShuttingDown
	CodeUnavailable      = wire.CodeUnavailable
	CodeAuthFailed       = wire.CodeAuthFailed
	CodeAccessRefused    = wire.CodeAccessRefused
)

// BrokerError is a refusal by the broker: of a publish (a Nack), of a
// topology request, or of the connection. Code is the broker's stable reason
// code (docs/protocol.md), Reason its explanation, which says what to do.
type BrokerError struct {
	Op     string // what was refused, e.g. `publish "m-1"` or `declare queue "q"`
	Code   uint16
	Reason string
	// Sends is, for a publish, how many times the message was sent (see
	// Confirm.Sends); 0 for other requests. Above 1 the refusal is
	// indeterminate: see IsIndeterminate.
	Sends int
}

func (e *BrokerError) Error() string {
	msg := fmt.Sprintf("broker refused: %s (code %d)", e.Reason, e.Code)
	if e.Op != "" {
		msg = fmt.Sprintf("broker refused %s: %s (code %d)", e.Op, e.Reason, e.Code)
	}
	if e.Sends > 1 {
		msg += fmt.Sprintf("; it was sent %d times and an earlier, unanswered attempt may have been stored", e.Sends)
	}
	return msg
}

// BrokerCode returns the broker's reason code carried by err, and false when
// err is not (and does not wrap) a *BrokerError.
func BrokerCode(err error) (uint16, bool) {
	var be *BrokerError
	if errors.As(err, &be) {
		return be.Code, true
	}
	return 0, false
}

func hasCode(err error, codes ...uint16) bool {
	c, ok := BrokerCode(err)
	if !ok {
		return false
	}
	for _, want := range codes {
		if c == want {
			return true
		}
	}
	return false
}

// IsNotFound reports a refusal because an exchange, queue or consumer does
// not exist.
func IsNotFound(err error) bool {
	return hasCode(err, CodeExchangeNotFound, CodeQueueNotFound, CodeConsumerNotFound)
}

// IsNoRoute reports a publish the exchange routed to no queue.
func IsNoRoute(err error) bool { return hasCode(err, CodeNoRoute) }

// IsQueueFull reports a publish refused because a target queue is at its
// MaxLength or MaxBytes.
func IsQueueFull(err error) bool { return hasCode(err, CodeQueueFull) }

// IsIndeterminate reports a publish refused after it was sent more than
// once (a reconnect or a confirm timeout came between). The refusal answers
// the last attempt only: an earlier one went unanswered and may have been
// stored, if the broker's dedup window had forgotten the id by the time the
// refused attempt arrived (the window is bounded, and a restarted broker
// without durable state starts with an empty one). The message may or may
// not be delivered; publishing it again with the same id is safe.
func IsIndeterminate(err error) bool {
	var be *BrokerError
	return errors.As(err, &be) && be.Sends > 1
}

// IsAuthFailed reports a connection the broker refused to authenticate
// (unknown user or wrong password, credentials missing, no certificate
// for EXTERNAL). Retrying with the same credentials cannot succeed.
func IsAuthFailed(err error) bool { return hasCode(err, CodeAuthFailed) }

// IsAccessRefused reports a request (or a connection's vhost) the user's
// permissions do not allow; nothing was changed.
func IsAccessRefused(err error) bool { return hasCode(err, CodeAccessRefused) }

// IsMismatch reports a declaration that conflicts with an existing one.
func IsMismatch(err error) bool { return hasCode(err, CodeMismatch) }

// permanentError marks a handler error as permanent.
type permanentError struct {
	err    error
	reason wire.RejectReason
}

func (e *permanentError) Error() string { return "permanent: " + e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps a handler error to say the message can never be processed
// (it fails to decrypt, it is malformed): the delivery is rejected to the
// queue's dead-letter queue instead of being requeued. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// RejectReason says why a message is rejected: a number from the broker's
// reject-reason table (broker/wire, docs/protocol.md "Reject reasons"),
// recorded on the dead-lettered copy.
type RejectReason = wire.RejectReason

// PermanentReason is Permanent with the reason the broker records on the
// dead-lettered copy (see Delivery.RejectWithReason): the receiver, for
// instance, rejects an envelope sealed for another key with
// wire.ReasonNotRecipient. PermanentReason(_, nil) is nil. An invalid
// reason (wire.ReasonDeliveryLimit, a number outside the table) is
// dropped: the message is still rejected, without a reason.
func PermanentReason(reason RejectReason, err error) error {
	if err == nil {
		return nil
	}
	if checkRejectReason(reason) != nil {
		reason = wire.ReasonNone
	}
	return &permanentError{err: err, reason: reason}
}

// RejectReasonOf returns the reason err was wrapped with by
// PermanentReason (the outermost one), or wire.ReasonNone.
func RejectReasonOf(err error) RejectReason {
	var p *permanentError
	if errors.As(err, &p) {
		return p.reason
	}
	return wire.ReasonNone
}

// checkRejectReason refuses the reasons a client may not give.
func checkRejectReason(r RejectReason) error {
	if !r.Known() || r == wire.ReasonDeliveryLimit {
		return fmt.Errorf("%w: reject reason %v is not one a client gives", ErrInvalid, r)
	}
	return nil
}

// IsPermanent reports whether err was wrapped with Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}
