package engine

import "errors"

// Sentinel errors of the engines. Methods wrap them with context; test with
// errors.Is.
var (
	// ErrEmptyID: a message was added without a message id. Every message
	// needs one: it is what makes resending safe (the broker drops a second
	// publish with the same id inside its dedup window).
	ErrEmptyID = errors.New("engine: empty message id; give every message a unique id")
	// ErrAlreadyPending: a message id was added while a message with the
	// same id is still waiting for its confirm. Wait for the first one to
	// resolve, or use a different id for a different message.
	ErrAlreadyPending = errors.New("engine: message id already pending on this publisher")
	// ErrStaleDelivery: a settlement named a delivery the consumer engine no
	// longer tracks — it belonged to a connection that has since closed (the
	// broker requeues such deliveries) or it was settled already. Nothing
	// was sent; a redelivery will come if the broker still holds the message.
	ErrStaleDelivery = errors.New("engine: delivery is stale (connection closed or already settled)")
	// ErrNotProcessing: a settlement named a delivery that was never handed
	// to the application (a duplicate the engine acked by itself, or one it
	// parked behind an in-progress delivery of the same id).
	ErrNotProcessing = errors.New("engine: delivery was not handed to the application; only settle deliveries Handle returned Process for")
	// ErrUnknownOutcome: Settle got an outcome that is not Stored,
	// Transient or Permanent.
	ErrUnknownOutcome = errors.New("engine: unknown settlement outcome")
)
