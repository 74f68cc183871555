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
