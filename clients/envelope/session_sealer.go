package envelope

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"time"
)

// Rotation defaults: a session key protects at most this many messages or
// this much time, whichever comes first.
const (
	DefaultMaxMessages = 1_000_000
	DefaultMaxAge      = time.Hour
)

// SessionOptions configures a modern-format sealer.
type SessionOptions struct {
	// Signer is the sender's Ed25519 identity; receivers must trust its
	// public key.
	Signer ed25519.PrivateKey
	// Recipients receive a wrapped copy of each session key (1..64, distinct).
	Recipients []RecipientPublicKey
	// Rand supplies the session id and session key; nil means
	// crypto/rand.Reader. (HPKE's own encapsulation randomness cannot be
	// injected: see docs/envelope.md "Randomness and replay".) Never share
	// one deterministic stream between two sealers of the same signer.
	Rand io.Reader
	// MaxMessages rotates the session after this many messages (default 1e6).
	MaxMessages uint64
	// MaxAge rotates the session once now - created reaches it (default 1h).
	MaxAge time.Duration
	// MaxEnvelopeSize refuses to seal envelopes larger than this (default 16 MiB).
	MaxEnvelopeSize int
}

// SessionSealer seals modern envelopes. Each session costs one HPKE
// encapsulation per recipient and one signature; each message then costs one
// AES-256-GCM seal. Not safe for concurrent use.
type SessionSealer struct {
	opts     SessionOptions
	cur      *sealSession
	sessions uint64
	// scratch space reused by every Seal so the hot path does not allocate
	nonce [12]byte
	aad   []byte
}

type sealSession struct {
	// prefix is the session's constant leading bytes of every envelope:
	// magic, version, header length and header. header aliases its tail.
	prefix  []byte
	header  []byte
	hash    [32]byte
	aead    cipher.AEAD
	created time.Time
	count   uint64
	id      [SessionIDSize]byte
}

// NewSessionSealer validates opts and returns a sealer; the first session is
// started lazily by the first Seal (so its creation time is that call's now).
func NewSessionSealer(opts SessionOptions) (*SessionSealer, error) {
	if len(opts.Signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: Signer must be an Ed25519 private key (%d bytes), got %d bytes", ErrInvalidOptions, ed25519.PrivateKeySize, len(opts.Signer))
	}
	if len(opts.Recipients) == 0 || len(opts.Recipients) > MaxRecipients {
		return nil, fmt.Errorf("%w: %d recipients, 1..%d allowed", ErrInvalidOptions, len(opts.Recipients), MaxRecipients)
	}
	seen := make(map[KeyID]bool, len(opts.Recipients))
	for i, r := range opts.Recipients {
		if !r.valid() {
			return nil, fmt.Errorf("%w: recipient %d is a zero RecipientPublicKey; load or parse it first", ErrInvalidOptions, i)
		}
		if seen[r.id] {
			return nil, fmt.Errorf("%w: recipient key %s listed twice", ErrInvalidOptions, r.id)
		}
		seen[r.id] = true
	}
	opts.Recipients = append([]RecipientPublicKey(nil), opts.Recipients...)
	if opts.Rand == nil {
		opts.Rand = rand.Reader
	}
	if opts.MaxMessages == 0 {
		opts.MaxMessages = DefaultMaxMessages
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = DefaultMaxAge
	}
	if opts.MaxEnvelopeSize <= 0 {
		opts.MaxEnvelopeSize = DefaultMaxEnvelopeSize
	}
	return &SessionSealer{opts: opts}, nil
}

// Format reports FormatSession.
func (s *SessionSealer) Format() Format { return FormatSession }

// Sessions returns how many sessions this sealer has started.
func (s *SessionSealer) Sessions() uint64 { return s.sessions }

// Rotate forces the next Seal to start a new session (for example after the
// recipient list's owner revoked a key).
func (s *SessionSealer) Rotate() { s.cur = nil }

// needsRotation applies the policy. A clock that went backwards also
// rotates: the header's time would otherwise claim a future creation.
func (s *SessionSealer) needsRotation(now time.Time) bool {
	c := s.cur
	return c == nil || c.count >= s.opts.MaxMessages ||
		now.Sub(c.created) >= s.opts.MaxAge || now.Before(c.created)
}

// Seal implements Sealer.
func (s *SessionSealer) Seal(dst []byte, messageID string, plaintext []byte, now time.Time) ([]byte, error) {
	c, err := s.begin(messageID, plaintext, now)
	if err != nil {
		return dst, err
	}
	dst = append(dst, c.prefix...)
	return s.sealRest(c, dst, messageID, plaintext), nil
}

// SealParts seals like Seal but returns the envelope in two parts: prefix,
// the session's constant bytes (magic, version, header length, signed
// header: everything before the counter), and rest, appended to dst.
// prefix ‖ rest is exactly what Seal returns. prefix is owned by the sealer,
// is the same slice (same backing array) for every message of a session and
// must not be modified: a transport can send it once per connection and
// refer to it (shared prefixes, docs/protocol.md §5a); a new session (after
// rotation) has a new prefix.
func (s *SessionSealer) SealParts(dst []byte, messageID string, plaintext []byte, now time.Time) (prefix, rest []byte, err error) {
	c, err := s.begin(messageID, plaintext, now)
	if err != nil {
		return nil, dst, err
	}
	return c.prefix, s.sealRest(c, dst, messageID, plaintext), nil
}

// begin checks the message, rotates the session if the policy says so and
// counts the message in it.
func (s *SessionSealer) begin(messageID string, plaintext []byte, now time.Time) (*sealSession, error) {
	if err := checkMessageID(messageID); err != nil {
		return nil, err
	}
	if s.needsRotation(now) {
		c, err := s.newSession(now)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrSessionExhausted, err)
		}
		s.cur = c
		s.sessions++
	}
	c := s.cur
	total := len(c.prefix) + 8 + 2 + len(messageID) + len(plaintext) + tagSize
	if total > s.opts.MaxEnvelopeSize {
		return nil, fmt.Errorf("%w: a %d-byte plaintext makes a %d-byte envelope, limit %d", ErrTooLarge, len(plaintext), total, s.opts.MaxEnvelopeSize)
	}
	c.count++
	return c, nil
}

// sealRest appends what follows the prefix: counter, message id and the
// AES-GCM sealed plaintext.
func (s *SessionSealer) sealRest(c *sealSession, dst []byte, messageID string, plaintext []byte) []byte {
	counter := c.count
	dst = binary.BigEndian.AppendUint64(dst, counter)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(messageID)))
	dst = append(dst, messageID...)
	binary.BigEndian.PutUint64(s.nonce[4:], counter)
	s.aad = appendAAD(s.aad[:0], &c.hash, counter, messageID)
	return c.aead.Seal(dst, s.nonce[:], plaintext, s.aad)
}

// aadFixedSize is magic+version, header hash, counter and id length.
const aadFixedSize = 4 + 32 + 8 + 2

// appendAAD binds the payload to the format, the exact header, its position
// in the session and the message id.
func appendAAD(dst []byte, hash *[32]byte, counter uint64, messageID string) []byte {
	dst = append(dst, sessionMagic...)
	dst = append(dst, sessionFormatVersion)
	dst = append(dst, hash[:]...)
	dst = binary.BigEndian.AppendUint64(dst, counter)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(messageID)))
	return append(dst, messageID...)
}

// messageAEAD derives the per-session payload cipher from the session key.
func messageAEAD(sessionKey []byte, sid [SessionIDSize]byte, hash *[32]byte) (cipher.AEAD, error) {
	info := append([]byte(labelMessageKey), hash[:]...)
	key, err := hkdf.Key(sha256.New, sessionKey, sid[:], string(info), 32)
	if err != nil {
		return nil, fmt.Errorf("envelope: deriving message key: %w", err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("envelope: message AES key: %w", err)
	}
	return cipher.NewGCM(block)
}

// newSession draws the session id and key, wraps the key for every
// recipient and signs the header.
func (s *SessionSealer) newSession(now time.Time) (*sealSession, error) {
	c := &sealSession{created: now}
	if _, err := io.ReadFull(s.opts.Rand, c.id[:]); err != nil {
		return nil, fmt.Errorf("reading session id randomness: %w", err)
	}
	sessionKey := make([]byte, sessionKeySize)
	if _, err := io.ReadFull(s.opts.Rand, sessionKey); err != nil {
		return nil, fmt.Errorf("reading session key randomness: %w", err)
	}
	signerPub := s.opts.Signer.Public().(ed25519.PublicKey)
	n := len(s.opts.Recipients)
	hdr := make([]byte, 0, hdrOffEntries+n*entrySize+ed25519.SignatureSize)
	hdr = appendHeaderFixed(hdr, c.id, now, signerPub)
	info := wrapInfo(fixedPart(hdr))
	hdr = append(hdr, byte(n))
	for _, r := range s.opts.Recipients {
		// The key id is the wrap's AAD, so an entry cannot be relabelled
		// for another recipient even before the signature is checked.
		enc, sender, err := hpke.NewSender(r.key, wrapKDF, wrapAEAD, info)
		if err != nil {
			return nil, fmt.Errorf("HPKE encapsulation to %s: %w", r.id, err)
		}
		wrapped, err := sender.Seal(r.id[:], sessionKey)
		if err != nil {
			return nil, fmt.Errorf("HPKE wrap to %s: %w", r.id, err)
		}
		if len(enc) != encSize || len(wrapped) != wrappedKeySize {
			return nil, fmt.Errorf("HPKE produced %d/%d bytes, format needs %d/%d", len(enc), len(wrapped), encSize, wrappedKeySize)
		}
		hdr = append(hdr, r.id[:]...)
		hdr = append(hdr, enc...)
		hdr = append(hdr, wrapped...)
	}
	hdr = append(hdr, ed25519.Sign(s.opts.Signer, signedMessage(hdr))...)
	c.prefix = make([]byte, 0, envPrefixSize+len(hdr))
	c.prefix = append(c.prefix, sessionMagic...)
	c.prefix = append(c.prefix, sessionFormatVersion)
	c.prefix = binary.BigEndian.AppendUint32(c.prefix, uint32(len(hdr)))
	c.prefix = append(c.prefix, hdr...)
	c.prefix = c.prefix[:len(c.prefix):len(c.prefix)]
	c.header = c.prefix[envPrefixSize:]
	c.hash = headerHash(hdr)
	aead, err := messageAEAD(sessionKey, c.id, &c.hash)
	if err != nil {
		return nil, err
	}
	c.aead = aead
	return c, nil
}
