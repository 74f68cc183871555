package wire

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"
)

// Field encodings shared by every frame: unsigned varints (LEB128, as
// encoding/binary), single bytes, and length-prefixed byte strings.

// beginFrame reserves the length field and writes the type byte. It returns
// the offset of the frame start for endFrame.
func beginFrame(dst []byte, t FrameType) ([]byte, int) {
	start := len(dst)
	dst = append(dst, 0, 0, 0, 0, byte(t))
	return dst, start
}

// endFrame patches the length field now that the payload is written.
func endFrame(dst []byte, start int) []byte {
	binary.BigEndian.PutUint32(dst[start:], uint32(len(dst)-start-4))
	return dst
}

func appendUvarint(dst []byte, v uint64) []byte {
	for v >= 0x80 {
		dst = append(dst, byte(v)|0x80)
		v >>= 7
	}
	return append(dst, byte(v))
}

func appendBytes(dst, b []byte) []byte {
	dst = appendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}

func appendString(dst []byte, s string) []byte {
	dst = appendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// appendReason writes a human-readable text cut to MaxReasonLen at a UTF-8
// boundary: an error report must never fail to encode.
func appendReason(dst []byte, s string) []byte {
	return appendString(dst, truncateUTF8(s, MaxReasonLen))
}

func truncateUTF8(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	// Step back over continuation bytes so a rune is never split.
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// decoder walks one payload. The first failure sticks; later reads return
// zero values, so a Decode function reads all fields unconditionally and
// checks the error once at the end.
type decoder struct {
	buf   []byte
	off   int
	frame FrameType
	err   error
}

func (d *decoder) fail(field string, err error) {
	if d.err == nil {
		d.err = &DecodeError{Frame: d.frame, Field: field, Err: err}
	}
}

// uvarint reads a minimally encoded unsigned varint. Non-minimal encodings
// are refused so that every value has exactly one encoding.
func (d *decoder) uvarint(field string) uint64 {
	if d.err != nil {
		return 0
	}
	var x uint64
	var shift uint
	for i := 0; ; i++ {
		if d.off+i >= len(d.buf) {
			d.fail(field, ErrFieldTruncated)
			return 0
		}
		b := d.buf[d.off+i]
		if i == binary.MaxVarintLen64-1 && b > 1 {
			d.fail(field, ErrVarintOverflow)
			return 0
		}
		if b < 0x80 {
			if b == 0 && i > 0 {
				d.fail(field, ErrVarintNonMinimal)
				return 0
			}
			d.off += i + 1
			return x | uint64(b)<<shift
		}
		x |= uint64(b&0x7f) << shift
		shift += 7
	}
}

func (d *decoder) code(field string) uint16 {
	v := d.uvarint(field)
	if v > 0xFFFF {
		d.fail(field, fmt.Errorf("%w: code %d does not fit in 16 bits", ErrBadValue, v))
		return 0
	}
	return uint16(v)
}

func (d *decoder) byte1(field string) uint8 {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.buf) {
		d.fail(field, ErrFieldTruncated)
		return 0
	}
	b := d.buf[d.off]
	d.off++
	return b
}

// flags reads a flag byte and refuses bits this version does not define, so
// a newer peer's meaning is never silently dropped.
func (d *decoder) flags(field string, known uint8) uint8 {
	b := d.byte1(field)
	if b&^known != 0 {
		d.fail(field, fmt.Errorf("%w: unknown flag bits 0x%02x", ErrBadValue, b&^known))
		return 0
	}
	return b
}

// optionalFlags reads a trailing flags byte that may be absent (absent
// means 0). An explicit 0 is refused, so every frame has one encoding:
// encoders omit the byte when no bit is set.
func (d *decoder) optionalFlags(field string, known uint8) uint8 {
	if d.err != nil || d.off == len(d.buf) {
		return 0
	}
	v := d.flags(field, known)
	if d.err == nil && v == 0 {
		d.fail(field, fmt.Errorf("%w: flags 0 are sent by omitting the field", ErrBadValue))
	}
	return v
}

// bytes reads a length-prefixed field that aliases the payload. max < 0
// means no limit beyond the payload itself.
func (d *decoder) bytes(field string, max int) []byte {
	n := d.uvarint(field)
	if d.err != nil {
		return nil
	}
	if max >= 0 && n > uint64(max) {
		d.fail(field, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLong, n, max))
		return nil
	}
	if n > uint64(len(d.buf)-d.off) {
		d.fail(field, fmt.Errorf("%w: length %d, %d bytes left", ErrFieldTruncated, n, len(d.buf)-d.off))
		return nil
	}
	b := d.buf[d.off : d.off+int(n) : d.off+int(n)]
	d.off += int(n)
	if n == 0 {
		return nil
	}
	return b
}

// str reads a length-prefixed field into a new string (control frames only;
// hot-path frames use bytes).
func (d *decoder) str(field string, max int) string {
	return string(d.bytes(field, max))
}

// finish reports the first failure, or trailing bytes after the last field.
func (d *decoder) finish() error {
	if d.err == nil && d.off != len(d.buf) {
		d.fail("end", fmt.Errorf("%w: %d bytes", ErrTrailingBytes, len(d.buf)-d.off))
	}
	return d.err
}
