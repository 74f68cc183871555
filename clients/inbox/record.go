package inbox

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// SenderUnauthenticated is the Sender of records whose envelope format does
// not authenticate its sender (the seed RSA format): anyone holding the
// receiver's public key could have written them.
const SenderUnauthenticated = "seed-unauthenticated"

// Record is one processed message.
type Record struct {
	MessageID string
	Queue     string
	// Sender names who sealed the message: a key fingerprint for formats
	// that sign, SenderUnauthenticated for those that do not.
	Sender  string
	Message []byte // the plaintext
	// ReceivedAt is when the delivery arrived, StoredAt when it was
	// appended; both come from the caller's clock.
	ReceivedAt time.Time
	StoredAt   time.Time
	// Redelivered is set when the broker flagged the delivery that was
	// stored as a redelivery (an earlier delivery of it was not acked). It
	// is written only when true, so files of older versions, which lack
	// it, load with it false.
	Redelivered bool
}

// recordJSON is the decoding shape of one line. Encoding is done by hand
// (appendRecord) to keep a fixed key order and no per-record reflection.
type recordJSON struct {
	MessageID     *string   `json:"message_id"`
	Queue         string    `json:"queue"`
	Sender        string    `json:"sender"`
	ReceivedAt    time.Time `json:"received_at"`
	StoredAt      time.Time `json:"stored_at"`
	Redelivered   bool      `json:"redelivered"`
	Message       *string   `json:"message"`
	MessageBase64 *string   `json:"message_base64"`
}

// validate says why r cannot be written, or nil. Strings must be valid
// UTF-8 because JSON would silently replace bad bytes, and a message id that
// comes back different after a restart would defeat deduplication.
func (r *Record) validate() error {
	if r.MessageID == "" {
		return fmt.Errorf("%w: empty message id", ErrInvalidRecord)
	}
	for _, f := range [...]struct{ name, v string }{
		{"message id", r.MessageID}, {"queue", r.Queue}, {"sender", r.Sender},
	} {
		if !utf8.ValidString(f.v) {
			return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalidRecord, f.name, f.v)
		}
	}
	return nil
}

// appendRecord appends r as one JSON line (with its newline) to dst.
func appendRecord(dst []byte, r *Record) []byte {
	dst = append(dst, `{"message_id":`...)
	dst = appendJSONString(dst, r.MessageID)
	dst = append(dst, `,"queue":`...)
	dst = appendJSONString(dst, r.Queue)
	dst = append(dst, `,"sender":`...)
	dst = appendJSONString(dst, r.Sender)
	dst = append(dst, `,"received_at":"`...)
	dst = r.ReceivedAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, `","stored_at":"`...)
	dst = r.StoredAt.UTC().AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	if r.Redelivered {
		dst = append(dst, `,"redelivered":true`...)
	}
	if utf8.Valid(r.Message) {
		dst = append(dst, `,"message":`...)
		dst = appendJSONString(dst, r.Message)
	} else {
		dst = append(dst, `,"message_base64":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, r.Message)
		dst = append(dst, '"')
	}
	return append(dst, "}\n"...)
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string. s must be valid UTF-8; only
// the quote, the backslash and control characters need escaping.
func appendJSONString[S string | []byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// errBadLine says why one line is not a record; the caller adds the line
// number and decides between repair (last line) and refusal.
var errBadLine = errors.New("not a valid record")

// decodeRecord parses one line (without its newline).
func decodeRecord(line []byte) (Record, error) {
	var scratch []byte
	if r, ok := parseCanonical(line, &scratch, true); ok {
		return r, nil
	}
	return decodeRecordJSON(line)
}

// decodeRecordJSON is the general decoder: any valid JSON spelling of a
// record (key order, whitespace, escapes) is accepted.
func decodeRecordJSON(line []byte) (Record, error) {
	var j recordJSON
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&j); err != nil {
		return Record{}, fmt.Errorf("%w: %v", errBadLine, err)
	}
	if dec.More() {
		return Record{}, fmt.Errorf("%w: more than one JSON value on the line", errBadLine)
	}
	if j.MessageID == nil || *j.MessageID == "" {
		return Record{}, fmt.Errorf("%w: no message_id", errBadLine)
	}
	r := Record{
		MessageID:   *j.MessageID,
		Queue:       j.Queue,
		Sender:      j.Sender,
		ReceivedAt:  j.ReceivedAt,
		StoredAt:    j.StoredAt,
		Redelivered: j.Redelivered,
	}
	switch {
	case j.Message != nil && j.MessageBase64 == nil:
		r.Message = []byte(*j.Message)
	case j.Message == nil && j.MessageBase64 != nil:
		b, err := base64.StdEncoding.DecodeString(*j.MessageBase64)
		if err != nil {
			return Record{}, fmt.Errorf("%w: message_base64: %v", errBadLine, err)
		}
		r.Message = b
	default:
		return Record{}, fmt.Errorf("%w: needs exactly one of message and message_base64", errBadLine)
	}
	return r, nil
}

// quotePreview shows at most n bytes of b for a log line or an error.
func quotePreview(b []byte, n int) string {
	if len(b) <= n {
		return strconv.Quote(string(b))
	}
	return strconv.Quote(string(b[:n])) + fmt.Sprintf("… (%d bytes)", len(b))
}
