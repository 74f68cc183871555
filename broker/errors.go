package broker

import "errors"

// Sentinel refusals, one per code the core returns, for matching with
// errors.Is: errors.Is(err, broker.ErrQueueFull) holds for every *Error with
// CodeQueueFull, whatever its message.
var (
	ErrInvalidArgument    = &Error{Code: CodeInvalidArgument, Msg: "invalid argument"}
	ErrTooLarge           = &Error{Code: CodeTooLarge, Msg: "message too large"}
	ErrNotOpen            = &Error{Code: CodeProtocol, Msg: "connection not open"}
	ErrExchangeNotFound   = &Error{Code: CodeExchangeNotFound, Msg: "exchange not found"}
	ErrQueueNotFound      = &Error{Code: CodeQueueNotFound, Msg: "queue not found"}
	ErrMismatch           = &Error{Code: CodeMismatch, Msg: "declared with other settings"}
	ErrConsumerNotFound   = &Error{Code: CodeConsumerNotFound, Msg: "consumer not found"}
	ErrReserved           = &Error{Code: CodeReserved, Msg: "reserved name"}
	ErrInUse              = &Error{Code: CodeInUse, Msg: "in use"}
	ErrNoRoute            = &Error{Code: CodeNoRoute, Msg: "no route"}
	ErrQueueFull          = &Error{Code: CodeQueueFull, Msg: "queue full"}
	ErrUnknownDeliveryTag = &Error{Code: CodeUnknownDeliveryTag, Msg: "unknown delivery tag"}
	ErrResourceLimit      = &Error{Code: CodeResourceLimit, Msg: "resource limit reached"}
)

// Is makes errors.Is match refusals by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// CodeOf returns the code of the first *Error in err's chain: CodeOK for
// nil, CodeInternal for an error that is not a refusal.
func CodeOf(err error) Code {
	if err == nil {
		return CodeOK
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}
