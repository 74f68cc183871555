package envelope

import (
	"bytes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hpke"
	"encoding/binary"
	"fmt"
	"time"
)

// DefaultMaxCachedSessions bounds the opener's verified-session cache.
const DefaultMaxCachedSessions = 1024

// SessionOpenerOptions configures a modern-format opener.
type SessionOpenerOptions struct {
	// Key is this receiver's HPKE private key.
	Key *RecipientPrivateKey
	// Trusted lists the Ed25519 public keys of the senders this receiver
	// accepts; envelopes signed by any other key fail with ErrUntrustedSender.
	Trusted []ed25519.PublicKey
	// MaxEnvelopeSize refuses larger envelopes (default 16 MiB).
	MaxEnvelopeSize int
	// MaxCachedSessions bounds the verified-session cache (default 1024).
	// When full, the oldest verified session is evicted (first in, first out)
	// and will simply be verified again if it shows up later.
	MaxCachedSessions int
}

// SessionOpener opens modern envelopes. Verified sessions are cached by
// session id, so after a session's first message each further message costs
// a byte comparison of the header and one AES-256-GCM open. Not safe for
// concurrent use.
type SessionOpener struct {
	key     *RecipientPrivateKey
	trusted map[[ed25519.PublicKeySize]byte]bool
	maxSize int
	maxSess int

	cache map[[SessionIDSize]byte]*openSession
	order [][SessionIDSize]byte // insertion order, for FIFO eviction
	// verified counts full header verifications (signature + KEM), for
	// tests and metrics: it must not grow with the message count.
	verified uint64

	nonce  [12]byte
	aad    []byte
	joined []byte // OpenParts' scratch for a split it cannot parse in place
}

type openSession struct {
	header  []byte // private copy of the verified header bytes
	hash    [32]byte
	aead    cipher.AEAD
	sender  ed25519.PublicKey
	created time.Time
}

// NewSessionOpener validates opts and returns an opener.
func NewSessionOpener(opts SessionOpenerOptions) (*SessionOpener, error) {
	if opts.Key == nil {
		return nil, fmt.Errorf("%w: session opener needs the receiver's recipient private key", ErrInvalidOptions)
	}
	if len(opts.Trusted) == 0 {
		return nil, fmt.Errorf("%w: no trusted sender keys: every envelope would be refused", ErrInvalidOptions)
	}
	o := &SessionOpener{
		key:     opts.Key,
		trusted: make(map[[ed25519.PublicKeySize]byte]bool, len(opts.Trusted)),
		maxSize: opts.MaxEnvelopeSize,
		maxSess: opts.MaxCachedSessions,
		cache:   make(map[[SessionIDSize]byte]*openSession),
	}
	for i, k := range opts.Trusted {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: trusted key %d has %d bytes, an Ed25519 public key has %d", ErrInvalidOptions, i, len(k), ed25519.PublicKeySize)
		}
		o.trusted[[ed25519.PublicKeySize]byte(k)] = true
	}
	if o.maxSize <= 0 {
		o.maxSize = DefaultMaxEnvelopeSize
	}
	if o.maxSess <= 0 {
		o.maxSess = DefaultMaxCachedSessions
	}
	return o, nil
}

// Verifications returns how many session headers were fully verified
// (signature check and KEM decapsulation) so far.
func (o *SessionOpener) Verifications() uint64 { return o.verified }

// sessionEnvelope is the framing of a modern envelope, parsed without
// trusting anything.
type sessionEnvelope struct {
	header    []byte
	counter   uint64
	messageID []byte
	sealed    []byte // ciphertext || tag
}

func parseSessionEnvelope(env []byte, maxSize int) (sessionEnvelope, error) {
	var e sessionEnvelope
	if len(env) > maxSize {
		return e, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(env), maxSize)
	}
	if len(env) < len(sessionMagic) || string(env[:len(sessionMagic)]) != sessionMagic {
		return e, fmt.Errorf("%w: missing %q magic", ErrUnknownFormat, sessionMagic)
	}
	if len(env) < envPrefixSize {
		return e, fmt.Errorf("%w: %d bytes, the prefix alone is %d", ErrTruncated, len(env), envPrefixSize)
	}
	if v := env[len(sessionMagic)]; v != sessionFormatVersion {
		return e, fmt.Errorf("%w: envelope version %d, this build reads %d", ErrUnknownVersion, v, sessionFormatVersion)
	}
	hlen := uint64(binary.BigEndian.Uint32(env[4:]))
	rest := env[envPrefixSize:]
	if hlen+8+2 > uint64(len(rest)) {
		return e, fmt.Errorf("%w: header announces %d bytes, only %d follow", ErrTruncated, hlen, len(rest))
	}
	e.header = rest[:hlen:hlen]
	after, err := parseAfterHeader(rest[hlen:])
	after.header = e.header
	return after, err
}

// parseAfterHeader parses what follows the header: counter, message id,
// ciphertext and tag.
func parseAfterHeader(rest []byte) (sessionEnvelope, error) {
	var e sessionEnvelope
	if len(rest) < 8+2 {
		return e, fmt.Errorf("%w: %d bytes after the header, the counter and id length need 10", ErrTruncated, len(rest))
	}
	e.counter = binary.BigEndian.Uint64(rest)
	idLen := int(binary.BigEndian.Uint16(rest[8:]))
	rest = rest[10:]
	if idLen+tagSize > len(rest) {
		return e, fmt.Errorf("%w: message id and tag need %d bytes, only %d follow", ErrTruncated, idLen+tagSize, len(rest))
	}
	e.messageID = rest[:idLen]
	e.sealed = rest[idLen:]
	if e.counter == 0 {
		return e, fmt.Errorf("%w: message counter 0 (counters start at 1)", ErrMalformed)
	}
	return e, nil
}

// Open implements Opener.
func (o *SessionOpener) Open(dst []byte, messageID string, envelope []byte, _ time.Time) ([]byte, SenderInfo, error) {
	e, err := parseSessionEnvelope(envelope, o.maxSize)
	if err != nil {
		return dst, SenderInfo{Format: FormatSession}, err
	}
	return o.openParsed(dst, messageID, &e)
}

// OpenParts implements PartsOpener: it opens the envelope prefix ‖ rest
// exactly as Open would (the result depends on the bytes only), without
// joining the parts when prefix is the split SealParts makes (magic,
// version, header length and header).
func (o *SessionOpener) OpenParts(dst []byte, messageID string, prefix, rest []byte, now time.Time) ([]byte, SenderInfo, error) {
	hlen, ok := headerSplit(prefix)
	if !ok || len(prefix)+len(rest) > o.maxSize {
		o.joined = append(append(o.joined[:0], prefix...), rest...)
		return o.Open(dst, messageID, o.joined, now)
	}
	e, err := parseAfterHeader(rest)
	if err != nil {
		return dst, SenderInfo{Format: FormatSession}, err
	}
	e.header = prefix[envPrefixSize : envPrefixSize+hlen : envPrefixSize+hlen]
	return o.openParsed(dst, messageID, &e)
}

// headerSplit reports whether prefix is exactly a cmq1 envelope's constant
// part (magic, version, header length, header) and the header's length.
func headerSplit(prefix []byte) (int, bool) {
	if len(prefix) < envPrefixSize || string(prefix[:len(sessionMagic)]) != sessionMagic || prefix[len(sessionMagic)] != sessionFormatVersion {
		return 0, false
	}
	hlen := int(binary.BigEndian.Uint32(prefix[4:]))
	return hlen, hlen == len(prefix)-envPrefixSize
}

// openParsed opens a parsed envelope.
func (o *SessionOpener) openParsed(dst []byte, messageID string, e *sessionEnvelope) ([]byte, SenderInfo, error) {
	info := SenderInfo{Format: FormatSession}
	// Cheap check first; the AEAD below also binds the id, so rewriting
	// the carried id to match fails as ErrTampered.
	if string(e.messageID) != messageID {
		return dst, info, fmt.Errorf("%w: delivered as %q, sealed as %q", ErrMessageIDMismatch, messageID, e.messageID)
	}
	sess, err := o.session(e.header)
	if err != nil {
		return dst, info, err
	}
	info.Authenticated = true
	info.SenderKey = sess.sender
	copy(info.SessionID[:], sess.header[hdrOffSessionID:])
	info.Counter = e.counter
	info.Created = sess.created
	binary.BigEndian.PutUint64(o.nonce[4:], e.counter)
	o.aad = appendAAD(o.aad[:0], &sess.hash, e.counter, messageID)
	out, err := sess.aead.Open(dst, o.nonce[:], e.sealed, o.aad)
	if err != nil {
		return dst, info, fmt.Errorf("%w: AES-256-GCM, session %x message %d", ErrTampered, info.SessionID, e.counter)
	}
	return out, info, nil
}

// session returns the verified session for header, from the cache when the
// bytes are identical to an already verified header, else by verifying it.
func (o *SessionOpener) session(header []byte) (*openSession, error) {
	if len(header) >= hdrOffSessionID+SessionIDSize {
		sid := [SessionIDSize]byte(header[hdrOffSessionID:])
		if s, ok := o.cache[sid]; ok && bytes.Equal(s.header, header) {
			return s, nil
		}
	}
	h, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	if !o.trusted[[ed25519.PublicKeySize]byte(h.sender)] {
		return nil, fmt.Errorf("%w: signer %s (session %x); add its public key to the trust set to accept it", ErrUntrustedSender, SignerKeyID(h.sender), h.sessionID)
	}
	if err := h.verify(); err != nil {
		return nil, err
	}
	entry, ok := h.find(o.key.ID())
	if !ok {
		return nil, fmt.Errorf("%w: key %s is not among the session's %d recipients", ErrNotRecipient, o.key.ID(), len(h.entries))
	}
	r, err := hpke.NewRecipient(entry.enc, o.key.key, wrapKDF, wrapAEAD, wrapInfo(fixedPart(header)))
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE decapsulation: %v", ErrWrongKey, err)
	}
	sessionKey, err := r.Open(entry.keyID[:], entry.wrapped)
	if err != nil {
		return nil, fmt.Errorf("%w: HPKE open of the wrapped session key", ErrWrongKey)
	}
	s := &openSession{
		header:  bytes.Clone(header),
		hash:    headerHash(header),
		sender:  bytes.Clone(h.sender),
		created: h.created,
	}
	s.aead, err = messageAEAD(sessionKey, h.sessionID, &s.hash)
	if err != nil {
		return nil, err
	}
	o.verified++
	o.remember(h.sessionID, s)
	return s, nil
}

// remember caches a verified session, evicting the oldest when full.
func (o *SessionOpener) remember(sid [SessionIDSize]byte, s *openSession) {
	if _, ok := o.cache[sid]; !ok {
		for len(o.order) >= o.maxSess {
			delete(o.cache, o.order[0])
			o.order = o.order[1:]
		}
		o.order = append(o.order, sid)
	}
	o.cache[sid] = s
}
