package wire

import (
	"errors"
	"fmt"
)

// Sentinels of the native codec. Test with errors.Is; the typed errors below
// carry the details and match these sentinels.
var (
	// ErrFrameTooLarge: a frame's length field exceeds the frame limit. The
	// stream cannot be resynchronised: close the connection.
	ErrFrameTooLarge = errors.New("wire: frame too large")
	// ErrEmptyFrame: a frame's length field is 0 (every frame has a type byte).
	ErrEmptyFrame = errors.New("wire: frame length 0 (a frame holds at least its type byte)")
	// ErrTruncated: the stream ended in the middle of a frame or preamble.
	ErrTruncated = errors.New("wire: stream ended inside a frame")
	// ErrUnknownFrameType: the frame type is not defined by this protocol
	// version. The frame itself was consumed; the stream is still in sync.
	ErrUnknownFrameType = errors.New("wire: unknown frame type")

	// Decode failures, always wrapped in a *DecodeError naming the field.
	ErrVarintOverflow   = errors.New("varint overflows 64 bits")
	ErrVarintNonMinimal = errors.New("varint is not minimally encoded")
	ErrFieldTruncated   = errors.New("field runs past the end of the payload")
	ErrTrailingBytes    = errors.New("unexpected bytes after the last field")
	ErrTooLong          = errors.New("field longer than the protocol allows")
	ErrBadValue         = errors.New("field value out of range")

	// ErrNotNative: the first bytes are not the native preamble (maybe the
	// text protocol, maybe another protocol altogether).
	ErrNotNative = errors.New("wire: not the CipherMQ native protocol (bad preamble)")
	// ErrUnsupportedVersion: a native preamble with a version this package
	// does not speak. Answer with our own Preamble and close.
	ErrUnsupportedVersion = errors.New("wire: unsupported native protocol version")
)

// FrameTooLargeError reports an oversized frame. It matches ErrFrameTooLarge.
type FrameTooLargeError struct {
	Size uint64 // whole frame: length field + type + payload
	Max  int
}

func (e *FrameTooLargeError) Error() string {
	return fmt.Sprintf("wire: frame of %d bytes exceeds the limit of %d bytes: send smaller messages or negotiate a larger MaxFrameSize in Hello", e.Size, e.Max)
}

// Is makes errors.Is(err, ErrFrameTooLarge) true.
func (e *FrameTooLargeError) Is(target error) bool { return target == ErrFrameTooLarge }

// UnknownFrameTypeError reports a frame type this version does not define.
// It matches ErrUnknownFrameType.
type UnknownFrameTypeError struct {
	Type FrameType
}

func (e *UnknownFrameTypeError) Error() string {
	return fmt.Sprintf("wire: unknown frame type 0x%02x: the peer speaks another protocol version", uint8(e.Type))
}

// Is makes errors.Is(err, ErrUnknownFrameType) true.
func (e *UnknownFrameTypeError) Is(target error) bool { return target == ErrUnknownFrameType }

// DecodeError says which field of which frame could not be decoded and why.
// Err is one of the decode sentinels (ErrVarintOverflow, ErrFieldTruncated,
// ErrTrailingBytes, ErrTooLong, ...), possibly wrapped with details.
type DecodeError struct {
	Frame FrameType
	Field string
	Err   error
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("wire: malformed %s frame: field %s: %v", e.Frame, e.Field, e.Err)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// VersionError reports a native preamble with an unsupported version. It
// matches ErrUnsupportedVersion.
type VersionError struct {
	Version uint8
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("wire: native protocol version %d is not supported (this side speaks version %d): upgrade the older side", e.Version, ProtocolVersion)
}

// Is makes errors.Is(err, ErrUnsupportedVersion) true.
func (e *VersionError) Is(target error) bool { return target == ErrUnsupportedVersion }

// ErrorCode maps an error of this package to the wire code a server sends
// back (in an Error frame or an "Error:" line): CodeTooLarge for oversized
// frames and lines, CodeUnknownCommand for unknown frame types and text
// commands, CodeMalformed for everything else.
func ErrorCode(err error) uint16 {
	switch {
	case errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrLineTooLong):
		return CodeTooLarge
	case errors.Is(err, ErrUnknownFrameType), errors.Is(err, ErrUnknownCommand):
		return CodeUnknownCommand
	}
	return CodeMalformed
}
