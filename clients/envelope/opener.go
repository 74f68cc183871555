package envelope

import (
	"fmt"
	"time"
)

// MultiOpener opens envelopes of either format, dispatching on Detect. A
// receiver that migrates from the reference clients holds both keys.
type MultiOpener struct {
	seed    *SeedOpener
	session *SessionOpener
	joined  []byte // OpenParts' scratch for a seed envelope in two parts
}

// NewOpener returns an opener for every format it has an opener for; either
// argument may be nil, not both.
//
// Accepting the seed format means accepting unauthenticated envelopes: check
// SenderInfo.Authenticated where sender identity matters.
func NewOpener(seed *SeedOpener, session *SessionOpener) (*MultiOpener, error) {
	if seed == nil && session == nil {
		return nil, fmt.Errorf("%w: NewOpener needs at least one of a seed or a session opener", ErrInvalidOptions)
	}
	return &MultiOpener{seed: seed, session: session}, nil
}

// OpenParts implements PartsOpener.
func (m *MultiOpener) OpenParts(dst []byte, messageID string, prefix, rest []byte, now time.Time) ([]byte, SenderInfo, error) {
	if m.session != nil && len(prefix) > 0 && Detect(prefix) == FormatSession {
		return m.session.OpenParts(dst, messageID, prefix, rest, now)
	}
	m.joined = append(append(m.joined[:0], prefix...), rest...)
	return m.Open(dst, messageID, m.joined, now)
}

// PartsOpener is an Opener that can open an envelope delivered in two parts,
// prefix ‖ rest (a shared prefix and the rest, see clients.Delivery.Prefix),
// without joining them first.
type PartsOpener interface {
	Opener
	OpenParts(dst []byte, messageID string, prefix, rest []byte, now time.Time) ([]byte, SenderInfo, error)
}

var (
	_ PartsOpener = (*MultiOpener)(nil)
	_ PartsOpener = (*SessionOpener)(nil)
)

// OpenParts opens prefix ‖ rest with o: without joining the parts when o is
// a PartsOpener, else by joining them into scratch (returned for reuse).
func OpenParts(o Opener, dst []byte, messageID string, prefix, rest []byte, now time.Time, scratch []byte) ([]byte, SenderInfo, []byte, error) {
	if len(prefix) == 0 {
		out, info, err := o.Open(dst, messageID, rest, now)
		return out, info, scratch, err
	}
	if po, ok := o.(PartsOpener); ok {
		out, info, err := po.OpenParts(dst, messageID, prefix, rest, now)
		return out, info, scratch, err
	}
	scratch = append(append(scratch[:0], prefix...), rest...)
	out, info, err := o.Open(dst, messageID, scratch, now)
	return out, info, scratch, err
}

// Open implements Opener.
func (m *MultiOpener) Open(dst []byte, messageID string, envelope []byte, now time.Time) ([]byte, SenderInfo, error) {
	switch f := Detect(envelope); f {
	case FormatSeed:
		if m.seed == nil {
			return dst, SenderInfo{Format: f}, fmt.Errorf("%w: seed envelope, but no RSA private key is configured", ErrFormatNotAccepted)
		}
		return m.seed.Open(dst, messageID, envelope, now)
	case FormatSession:
		if m.session == nil {
			return dst, SenderInfo{Format: f}, fmt.Errorf("%w: cmq1 envelope, but no recipient private key is configured", ErrFormatNotAccepted)
		}
		return m.session.Open(dst, messageID, envelope, now)
	}
	n := min(len(envelope), 8)
	return dst, SenderInfo{}, fmt.Errorf("%w: starts with %q", ErrUnknownFormat, envelope[:n])
}
