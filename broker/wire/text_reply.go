package wire

import (
	"bytes"
	"errors"
	"strconv"
)

// Reply lines of the text protocol, byte for byte as the reference broker
// writes them (seed-protocol.md §3, §8). Every helper appends one complete
// line including its "\n". Interpolated ids, names and reasons are made
// single-line (CR, LF and other control bytes become spaces), message
// bodies lose only CR and LF, so no reply can ever split into two lines,
// which the reference Receiver would misread.

// Fixed reply texts, exported for tests and for the server's logs.
const (
	ReplyQueueDeclared      = "Queue declared"
	ReplyExchangeDeclared   = "Exchange declared"
	ReplyQueueBound         = "Queue bound"
	ReplySubscribed         = "Subscribed to queue"
	ReplyNoMessages         = "No messages"
	ReplyUnknownCommand     = "Unknown command"
	ReplyMissingQueueName   = "Missing queue name"
	ReplyMissingExchange    = "Missing exchange name"
	ReplyMissingParameters  = "Missing parameters"
	ReplyMissingMessageID   = "Missing message ID"
	ReplyStatsReset         = "Stats reset"
	replyAckPrefix          = "ACK "
	replyAckConfirmedPrefix = "ACK_CONFIRMED "
	replyMessagePrefix      = "Message: "
	replyErrorPrefix        = "Error: "
	replyInvalidPrefix      = "Invalid message format: "
	replyStatsPrefix        = "Stats: "
)

func appendLine(dst []byte, s string) []byte {
	dst = append(dst, s...)
	return append(dst, '\n')
}

// appendSafe appends s with every control byte replaced by a space.
func appendSafe[T string | []byte](dst []byte, s T) []byte {
	clean := 0
	for clean < len(s) && s[clean] >= ' ' && s[clean] != 0x7f {
		clean++
	}
	dst = append(dst, s[:clean]...)
	for i := clean; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c == 0x7f {
			c = ' '
		}
		dst = append(dst, c)
	}
	return dst
}

// AppendReplyQueueDeclared appends "Queue declared".
func AppendReplyQueueDeclared(dst []byte) []byte { return appendLine(dst, ReplyQueueDeclared) }

// AppendReplyExchangeDeclared appends "Exchange declared".
func AppendReplyExchangeDeclared(dst []byte) []byte { return appendLine(dst, ReplyExchangeDeclared) }

// AppendReplyQueueBound appends "Queue bound".
func AppendReplyQueueBound(dst []byte) []byte { return appendLine(dst, ReplyQueueBound) }

// AppendReplySubscribed appends "Subscribed to queue".
func AppendReplySubscribed(dst []byte) []byte { return appendLine(dst, ReplySubscribed) }

// AppendReplyNoMessages appends "No messages" (fetch on an empty queue).
func AppendReplyNoMessages(dst []byte) []byte { return appendLine(dst, ReplyNoMessages) }

// AppendReplyUnknownCommand appends "Unknown command".
func AppendReplyUnknownCommand(dst []byte) []byte { return appendLine(dst, ReplyUnknownCommand) }

// AppendReplyMissingQueueName appends "Missing queue name".
func AppendReplyMissingQueueName(dst []byte) []byte { return appendLine(dst, ReplyMissingQueueName) }

// AppendReplyMissingExchangeName appends "Missing exchange name".
func AppendReplyMissingExchangeName(dst []byte) []byte { return appendLine(dst, ReplyMissingExchange) }

// AppendReplyMissingParameters appends "Missing parameters".
func AppendReplyMissingParameters(dst []byte) []byte { return appendLine(dst, ReplyMissingParameters) }

// AppendReplyMissingMessageID appends "Missing message ID".
func AppendReplyMissingMessageID(dst []byte) []byte { return appendLine(dst, ReplyMissingMessageID) }

// AppendReplyStatsReset appends "Stats reset".
func AppendReplyStatsReset(dst []byte) []byte { return appendLine(dst, ReplyStatsReset) }

// AppendReplyAck appends "ACK <id>": the publish is stored in every target
// queue (also for a duplicate inside the dedup window: idempotent).
func AppendReplyAck(dst, id []byte) []byte {
	dst = append(dst, replyAckPrefix...)
	return append(appendSafe(dst, id), '\n')
}

// AppendReplyAckConfirmed appends "ACK_CONFIRMED <id>" (answer to ack,
// also for unknown or already acked ids, as the reference does).
func AppendReplyAckConfirmed(dst, id []byte) []byte {
	dst = append(dst, replyAckConfirmedPrefix...)
	return append(appendSafe(dst, id), '\n')
}

// AppendReplyMessage appends "Message: <id> <json>", the line of a push and
// of a successful fetch. The body is copied verbatim except CR and LF, which
// become spaces so the line stays one line. Valid JSON can hold CR and LF
// only as whitespace between tokens, so no JSON value ever changes; every
// other byte (tabs, DEL, non-ASCII) passes untouched, since the body is the
// sender's sealed envelope.
func AppendReplyMessage(dst, id, json []byte) []byte {
	dst = append(dst, replyMessagePrefix...)
	dst = appendSafe(dst, id)
	dst = append(dst, ' ')
	return append(appendOneLine(dst, json), '\n')
}

// AppendReplyStats appends "Stats: <json>" (CR and LF become spaces).
func AppendReplyStats(dst, json []byte) []byte {
	dst = append(dst, replyStatsPrefix...)
	return append(appendOneLine(dst, json), '\n')
}

// appendOneLine appends b with CR and LF replaced by spaces.
func appendOneLine(dst, b []byte) []byte {
	start := len(dst)
	dst = append(dst, b...)
	// IndexByte is vectorised; bodies almost never hold a line break.
	for _, c := range [2]byte{'\n', '\r'} {
		rest := dst[start:]
		for {
			i := bytes.IndexByte(rest, c)
			if i < 0 {
				break
			}
			rest[i] = ' '
			rest = rest[i+1:]
		}
	}
	return dst
}

// AppendReplyError appends "Error: <msg>".
func AppendReplyError(dst []byte, msg string) []byte {
	dst = append(dst, replyErrorPrefix...)
	return append(appendSafe(dst, msg), '\n')
}

// AppendReplyInvalidMessage appends "Invalid message format: <detail>".
func AppendReplyInvalidMessage(dst []byte, detail string) []byte {
	dst = append(dst, replyInvalidPrefix...)
	return append(appendSafe(dst, detail), '\n')
}

// AppendReplyDuplicate appends the reference's "Error: Duplicate message ID
// '<id>'". Our broker answers duplicates with ACK instead (idempotent, as
// the 0bcf2a7 generation does); this exists for a strict-reference mode.
func AppendReplyDuplicate(dst, id []byte) []byte {
	dst = append(dst, "Error: Duplicate message ID '"...)
	dst = appendSafe(dst, id)
	return append(dst, "'\n"...)
}

// AppendReplyExchangeNotFound appends "Error: Exchange '<x>' not found".
func AppendReplyExchangeNotFound(dst, exchange []byte) []byte {
	dst = append(dst, "Error: Exchange '"...)
	dst = appendSafe(dst, exchange)
	return append(dst, "' not found\n"...)
}

// AppendReplyNoBinding appends "Error: No binding found for routing key '<k>'".
func AppendReplyNoBinding(dst, routingKey []byte) []byte {
	dst = append(dst, "Error: No binding found for routing key '"...)
	dst = appendSafe(dst, routingKey)
	return append(dst, "'\n"...)
}

// AppendReplyQueueNotFound appends "Error: Queue '<q>' not found".
func AppendReplyQueueNotFound(dst, queue []byte) []byte {
	dst = append(dst, "Error: Queue '"...)
	dst = appendSafe(dst, queue)
	return append(dst, "' not found\n"...)
}

// AppendReplyBatchError appends "Error: <msg> for message <id>", the
// per-envelope refusal inside a publish_batch reply (0bcf2a7).
func AppendReplyBatchError(dst []byte, msg string, id []byte) []byte {
	dst = append(dst, replyErrorPrefix...)
	dst = appendSafe(dst, msg)
	dst = append(dst, " for message "...)
	return append(appendSafe(dst, id), '\n')
}

// AppendErrorReply appends the reply line for an error of this package: the
// reference's fixed line for a *TextError ("Unknown command", "Missing
// queue name", "Invalid message format: ...", ...), and "Error: <text>"
// for anything else (a line too long, an error of the broker).
func AppendErrorReply(dst []byte, err error) []byte {
	var te *TextError
	if errors.As(err, &te) {
		switch te.Err {
		case ErrUnknownCommand:
			return AppendReplyUnknownCommand(dst)
		case ErrMissingQueueName:
			return AppendReplyMissingQueueName(dst)
		case ErrMissingExchangeName:
			return AppendReplyMissingExchangeName(dst)
		case ErrMissingParameters:
			return AppendReplyMissingParameters(dst)
		case ErrMissingMessageID:
			return AppendReplyMissingMessageID(dst)
		case ErrInvalidMessage:
			return AppendReplyInvalidMessage(dst, te.Detail)
		case ErrInvalidArgument:
			return AppendReplyError(dst, te.Detail)
		}
	}
	var lt *LineTooLongError
	if errors.As(err, &lt) {
		return AppendReplyError(dst, "command line longer than "+strconv.Itoa(lt.Max)+" bytes; closing the connection")
	}
	return AppendReplyError(dst, err.Error())
}
