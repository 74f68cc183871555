package wiretest

import (
	"encoding/binary"
	"strings"
)

// frame builds a raw frame from a type byte and payload pieces; it computes
// only the length field.
func frame(typ byte, parts ...[]byte) []byte {
	var payload []byte
	for _, p := range parts {
		payload = append(payload, p...)
	}
	out := make([]byte, 4, 5+len(payload))
	binary.BigEndian.PutUint32(out, uint32(1+len(payload)))
	out = append(out, typ)
	return append(out, payload...)
}

// b is a literal byte sequence.
func b(v ...byte) []byte { return v }

// s is a short string field: one length byte (< 128) and the bytes.
func s(v string) []byte {
	if len(v) >= 0x80 {
		panic("wiretest: s() is for strings under 128 bytes; write the varint length out")
	}
	return append([]byte{byte(len(v))}, v...)
}

// long is a string field whose length needs a two-byte varint (128..16383).
func long(v string) []byte {
	n := len(v)
	if n < 0x80 || n >= 1<<14 {
		panic("wiretest: long() is for 128..16383 bytes")
	}
	return append([]byte{byte(n&0x7f | 0x80), byte(n >> 7)}, v...)
}

// Repeat returns n copies of c; used for size-limit cases.
func Repeat(c byte, n int) string { return strings.Repeat(string([]byte{c}), n) }
