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

var messageIDKey = []byte(`"message_id"`)

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

// objectMessageID finds the top-level "message_id" of a valid JSON object.
func objectMessageID(obj []byte) ([]byte, error) {
	var id []byte
	found := false
	i := skipWS(obj, 1)
	if obj[i] == '}' {
		return nil, errors.New("missing field `message_id`")
	}
	for {
		keyEnd := skipString(obj, i)
		key := obj[i:keyEnd]
		i = skipWS(obj, keyEnd)
		i = skipWS(obj, i+1) // past ':'
		valEnd := skipValue(obj, i)
		if isMessageIDKey(key) {
			if found {
				return nil, errors.New("duplicate field `message_id`")
			}
			found = true
			v, err := jsonStringValue(obj[i:valEnd])
			if err != nil {
				return nil, err
			}
			id = v
		}
		i = skipWS(obj, valEnd)
		if obj[i] == '}' {
			break
		}
		i = skipWS(obj, i+1) // past ','
	}
	if !found {
		return nil, errors.New("missing field `message_id`")
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

func isMessageIDKey(key []byte) bool {
	if bytes.Equal(key, messageIDKey) {
		return true
	}
	if bytes.IndexByte(key, '\\') < 0 {
		return false
	}
	var s string
	return json.Unmarshal(key, &s) == nil && s == "message_id"
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
