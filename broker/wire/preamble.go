package wire

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// PreambleSize is the length of the native preamble.
const PreambleSize = len(Preamble)

// CheckPreamble checks the first PreambleSize bytes of a connection. It
// returns ErrNotNative if they are not a CipherMQ native preamble at all
// (answer nothing; maybe hand the bytes to another codec) and a
// *VersionError (matching ErrUnsupportedVersion) if only the version
// differs (answer with our Preamble, so the client learns what we speak,
// then close).
func CheckPreamble(b []byte) error {
	if len(b) < PreambleSize {
		if bytes.HasPrefix(Preamble[:], b) {
			return fmt.Errorf("%w: %d of %d preamble bytes", ErrTruncated, len(b), PreambleSize)
		}
		return ErrNotNative
	}
	if !bytes.Equal(b[:PreambleSize-1], Preamble[:PreambleSize-1]) {
		return ErrNotNative
	}
	if v := b[PreambleSize-1]; v != ProtocolVersion {
		return &VersionError{Version: v}
	}
	return nil
}

// ReadPreamble reads exactly PreambleSize bytes from r and checks them.
func ReadPreamble(r io.Reader) error {
	var b [PreambleSize]byte
	n, err := io.ReadFull(r, b[:])
	if err != nil {
		if n > 0 && !bytes.HasPrefix(Preamble[:], b[:n]) {
			return ErrNotNative
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return fmt.Errorf("%w: connection closed after %d of %d preamble bytes", ErrTruncated, n, PreambleSize)
		}
		return fmt.Errorf("wire: reading preamble: %w", err)
	}
	return CheckPreamble(b[:])
}

// AppendPreamble appends our preamble (the first bytes a client sends, and
// the server's answer to a preamble of another version).
func AppendPreamble(dst []byte) []byte { return append(dst, Preamble[:]...) }

// Protocol is what the first byte of a connection announces.
type Protocol uint8

const (
	// ProtocolUnknown: nothing read yet.
	ProtocolUnknown Protocol = iota
	// ProtocolNative: the native binary protocol (first byte 0xC3).
	ProtocolNative
	// ProtocolAMQP: "AMQP" (not served yet; answer with the AMQP 0-9-1
	// header and close, as AMQP asks of a server that cannot serve).
	ProtocolAMQP
	// ProtocolText: anything else is treated as the text protocol, which
	// answers lines it does not understand with "Unknown command".
	ProtocolText
)

func (p Protocol) String() string {
	switch p {
	case ProtocolNative:
		return "native"
	case ProtocolAMQP:
		return "amqp"
	case ProtocolText:
		return "text"
	}
	return "unknown"
}

// Sniff tells the protocol from the first bytes of a connection; one byte
// is enough (an empty prefix gives ProtocolUnknown). It never consumes
// anything: use it on bufio.Reader.Peek(1).
func Sniff(prefix []byte) Protocol {
	if len(prefix) == 0 {
		return ProtocolUnknown
	}
	switch prefix[0] {
	case Preamble[0]:
		return ProtocolNative
	case 'A':
		return ProtocolAMQP
	}
	return ProtocolText
}
