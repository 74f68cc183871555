package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The text protocol carries each message as one JSON object (the envelope)
// whose string field message_id names it. The broker keeps the whole JSON
// text verbatim as the body and only needs the id, so instead of decoding
// into a map (allocations per field) we validate with json.Valid and then
// walk the top level of the already valid text.

// JSON text is UTF-8 (RFC 8259 §8.1); json.Valid does not check that, and
// a message id with invalid bytes would read differently in every client.
var errNotUTF8 = errors.New("not valid UTF-8")

// envelopeID returns the message_id of one JSON object.
func envelopeID(obj []byte) ([]byte, error) {
	if !utf8.Valid(obj) {
		return nil, errNotUTF8
	}
	if !json.Valid(obj) {
		return nil, errors.New("not valid JSON")
	}
	if obj[0] != '{' {
		return nil, errors.New("expected one JSON object")
	}
	return objectMessageID(obj)
}

// envelopeBatch splits a JSON array of envelope objects. dst is reused.
func envelopeBatch(arr []byte, dst []TextMessage) ([]TextMessage, error) {
	if !utf8.Valid(arr) {
		return dst, errNotUTF8
	}
	if !json.Valid(arr) {
		return dst, errors.New("not valid JSON")
	}
	if arr[0] != '[' {
		return dst, errors.New("expected a JSON array of envelopes")
	}
	i := skipWS(arr, 1)
	if arr[i] == ']' {
		return dst, errors.New("empty batch: send at least one envelope")
	}
	for n := 0; ; n++ {
		end := skipValue(arr, i)
		elem := arr[i:end]
		if elem[0] != '{' {
			return dst, fmt.Errorf("envelope %d: expected a JSON object", n)
		}
		id, err := objectMessageID(elem)
		if err != nil {
			return dst, fmt.Errorf("envelope %d: %w", n, err)
		}
		dst = append(dst, TextMessage{MessageID: id, Body: elem})
		i = skipWS(arr, end)
		if arr[i] == ']' {
			return dst, nil
		}
		i = skipWS(arr, i+1) // past ','
	}
}

// envelopeFields are the reference envelope's fields, in the order of the
// reference server's struct (src/main.rs, Message), which is the order in
// which serde reports missing ones.
var envelopeFields = [...]string{"message_id", "ciphertext", "nonce", "tag", "enc_session_key"}

// objectMessageID checks a valid JSON object as the reference server's
// serde does when it parses a Message, and returns its message_id: each of
// the five fields of envelopeFields must be present once at the top level,
// with a string value; other fields are ignored. The wording follows
// serde_json's ("missing field `nonce`", "invalid type: integer `5`,
// expected a string"), naming the field where serde gives a position.
func objectMessageID(obj []byte) ([]byte, error) {
	var id []byte
	var seen [len(envelopeFields)]bool
	i := skipWS(obj, 1)
	for obj[i] != '}' {
		keyEnd := skipString(obj, i)
		key := obj[i:keyEnd]
		i = skipWS(obj, keyEnd)
		i = skipWS(obj, i+1) // past ':'
		valEnd := skipValue(obj, i)
		if f := envelopeField(key); f >= 0 {
			name := envelopeFields[f]
			if seen[f] {
				return nil, fmt.Errorf("duplicate field `%s`", name)
			}
			seen[f] = true
			val := obj[i:valEnd]
			if val[0] != '"' {
				return nil, fmt.Errorf("invalid type: %s, expected a string (field `%s`)", jsonKind(val), name)
			}
			if f == 0 {
				v, err := jsonStringValue(val)
				if err != nil {
					return nil, err
				}
				id = v
			}
		}
		i = skipWS(obj, valEnd)
		if obj[i] == '}' {
			break
		}
		i = skipWS(obj, i+1) // past ','
	}
	for f, ok := range seen {
		if !ok {
			return nil, fmt.Errorf("missing field `%s`", envelopeFields[f])
		}
	}
	if len(id) > MaxMessageIDLen {
		return nil, fmt.Errorf("message_id is %d bytes, the limit is %d", len(id), MaxMessageIDLen)
	}
	for _, c := range id {
		if c <= ' ' || c == 0x7f {
			return nil, errors.New("message_id contains a space or control character")
		}
	}
	return id, nil
}

// envelopeField returns the index in envelopeFields of a JSON key (with
// its quotes), or -1.
func envelopeField(key []byte) int {
	raw := key[1 : len(key)-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		var s string
		if json.Unmarshal(key, &s) != nil {
			return -1
		}
		raw = []byte(s)
	}
	for f, name := range envelopeFields {
		if string(raw) == name {
			return f
		}
	}
	return -1
}

// jsonKind describes a non-string JSON value as serde_json does.
func jsonKind(v []byte) string {
	switch v[0] {
	case '{':
		return "map"
	case '[':
		return "sequence"
	case 't', 'f':
		return "boolean `" + string(v) + "`"
	case 'n':
		return "null"
	}
	num := truncateUTF8(string(v), 32)
	if bytes.ContainsAny(v, ".eE") {
		return "floating point `" + num + "`"
	}
	return "integer `" + num + "`"
}

// jsonStringValue returns the content of a JSON string, aliasing the input
// unless it holds escapes.
func jsonStringValue(v []byte) ([]byte, error) {
	if v[0] != '"' {
		return nil, errors.New("field `message_id` must be a string")
	}
	raw := v[1 : len(v)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw, nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return nil, fmt.Errorf("field `message_id`: %w", err)
	}
	return []byte(s), nil
}

// The helpers below assume valid JSON (checked by json.Valid first).

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
