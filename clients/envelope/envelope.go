package envelope

import (
	"crypto/ed25519"
	"fmt"
	"time"
	"unicode/utf8"
)

// Format names an envelope format.
type Format uint8

const (
	// FormatUnknown is returned by Detect for bytes that are no envelope.
	FormatUnknown Format = iota
	// FormatSeed is the reference CipherMQ JSON envelope (RSA-OAEP + AES-GCM).
	FormatSeed
	// FormatSession is the modern CMQ envelope (HPKE-wrapped session key,
	// Ed25519-signed session header, AES-256-GCM per message).
	FormatSession
)

// String returns the name used in flags, logs and docs.
func (f Format) String() string {
	switch f {
	case FormatSeed:
		return "seed"
	case FormatSession:
		return "cmq1"
	}
	return fmt.Sprintf("unknown-format(%d)", uint8(f))
}

// Label names the format for people, as the commands print it:
// "modern (cmq1)" or "seed (reference RSA)".
func (f Format) Label() string {
	if f == FormatSeed {
		return "seed (reference RSA)"
	}
	return "modern (cmq1)"
}

// ParseFormat parses "seed" or "cmq1" (also "modern").
func ParseFormat(s string) (Format, error) {
	switch s {
	case "seed":
		return FormatSeed, nil
	case "cmq1", "modern":
		return FormatSession, nil
	}
	return FormatUnknown, fmt.Errorf("%w: %q: use seed or cmq1", ErrUnknownFormat, s)
}

const (
	// DefaultMaxEnvelopeSize bounds envelopes (and so plaintexts) on both
	// sides, so a hostile or broken peer cannot make us allocate without limit.
	DefaultMaxEnvelopeSize = 16 << 20
	// MaxMessageIDLen bounds message ids; the reference uses 36-byte UUIDs.
	MaxMessageIDLen = 1024
)

// Sealer encrypts messages for the recipients it was built for.
//
// Seal appends the envelope to dst and returns the extended slice. now is the
// caller's clock reading (used for session rotation and the header's
// creation time); the package never reads the clock itself.
//
// Sealers are not safe for concurrent use: callers serialise access.
type Sealer interface {
	Seal(dst []byte, messageID string, plaintext []byte, now time.Time) ([]byte, error)
	Format() Format
}

// Opener decrypts and authenticates envelopes.
//
// Open appends the plaintext to dst. messageID is the id the envelope was
// delivered under (the broker's prefix id); it must equal the sealed id.
// Openers are not safe for concurrent use (the session opener keeps a cache).
// PartsSealer is a Sealer that can return an envelope as a constant prefix
// and a per-message rest (SessionSealer; see SessionSealer.SealParts).
type PartsSealer interface {
	Sealer
	SealParts(dst []byte, messageID string, plaintext []byte, now time.Time) (prefix, rest []byte, err error)
}

var _ PartsSealer = (*SessionSealer)(nil)

type Opener interface {
	Open(dst []byte, messageID string, envelope []byte, now time.Time) (plaintext []byte, sender SenderInfo, err error)
}

// SenderInfo describes who sealed an opened envelope, as far as the format
// can tell.
type SenderInfo struct {
	Format Format
	// Authenticated is true only when the sender proved its identity (modern
	// format: a trusted Ed25519 signature). Seed envelopes are never
	// authenticated: anyone holding the receiver's public key can make them.
	Authenticated bool
	// SenderKey is the sender's Ed25519 public key (modern format only).
	SenderKey ed25519.PublicKey
	// SessionID identifies the sender session (modern format only).
	SessionID [SessionIDSize]byte
	// Counter is the message's position in its session, from 1.
	Counter uint64
	// Created is the session creation time the sender claimed and signed.
	Created time.Time
}

// Detect tells which format an envelope is in from its first bytes. It does
// not validate anything beyond that: seed JSON starts with '{' (after
// optional JSON whitespace), the modern format with the magic "CMQ".
func Detect(envelope []byte) Format {
	if len(envelope) >= len(sessionMagic) && string(envelope[:len(sessionMagic)]) == sessionMagic {
		return FormatSession
	}
	for _, c := range envelope {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return FormatSeed
		}
		return FormatUnknown
	}
	return FormatUnknown
}

// checkMessageID enforces what both formats can carry and what the reference
// text protocol can route: 1..MaxMessageIDLen bytes of valid UTF-8.
func checkMessageID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidMessageID)
	case len(id) > MaxMessageIDLen:
		return fmt.Errorf("%w: %d bytes, at most %d allowed", ErrInvalidMessageID, len(id), MaxMessageIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidMessageID)
	}
	return nil
}
