package envelope

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Seed format constants, fixed by the reference clients (PyCryptodome
// defaults): AES-128 session key, 16-byte GCM nonce, 16-byte tag.
const (
	seedSessionKeySize = 16
	seedNonceSize      = 16
	seedTagSize        = 16
	// MinSeedRSABits is the smallest RSA modulus accepted for the seed format.
	MinSeedRSABits = 2048
)

// SeedSealer seals envelopes in the reference JSON format. See docs/envelope.md.
type SeedSealer struct {
	pub     *rsa.PublicKey
	rand    io.Reader
	maxSize int
}

// NewSeedSealer returns a sealer that wraps a fresh AES-128 key per message
// for pub. Every random byte (session key, GCM nonce, OAEP seed) is read from
// random; nil means crypto/rand.Reader.
func NewSeedSealer(pub *rsa.PublicKey, random io.Reader) (*SeedSealer, error) {
	if pub == nil {
		return nil, fmt.Errorf("%w: seed sealer needs the receiver's RSA public key", ErrInvalidOptions)
	}
	if pub.N.BitLen() < MinSeedRSABits {
		return nil, fmt.Errorf("%w: RSA key has %d bits, at least %d required", ErrInvalidKey, pub.N.BitLen(), MinSeedRSABits)
	}
	if random == nil {
		random = rand.Reader
	}
	return &SeedSealer{pub: pub, rand: random, maxSize: DefaultMaxEnvelopeSize}, nil
}

// Format reports FormatSeed.
func (s *SeedSealer) Format() Format { return FormatSeed }

// Seal implements Sealer. The output is byte-identical in shape to the
// reference Sender.py's json.dumps: keys in the order message_id,
// enc_session_key, nonce, tag, ciphertext, separators ", " and ": ".
func (s *SeedSealer) Seal(dst []byte, messageID string, plaintext []byte, _ time.Time) ([]byte, error) {
	if err := checkMessageID(messageID); err != nil {
		return dst, err
	}
	// base64 expands by 4/3; refuse before doing any work.
	if est := base64.StdEncoding.EncodedLen(len(plaintext)) + 1024 + 6*len(messageID); est > s.maxSize {
		return dst, fmt.Errorf("%w: a %d-byte plaintext makes a seed envelope over %d bytes", ErrTooLarge, len(plaintext), s.maxSize)
	}
	var key [seedSessionKeySize]byte
	var nonce [seedNonceSize]byte
	if _, err := io.ReadFull(s.rand, key[:]); err != nil {
		return dst, fmt.Errorf("envelope: reading session key randomness: %w", err)
	}
	if _, err := io.ReadFull(s.rand, nonce[:]); err != nil {
		return dst, fmt.Errorf("envelope: reading nonce randomness: %w", err)
	}
	encKey, err := rsa.EncryptOAEP(sha1.New(), s.rand, s.pub, key[:], nil)
	if err != nil {
		return dst, fmt.Errorf("envelope: wrapping seed session key: %w", err)
	}
	block, err := aes.NewCipher(key[:])
	if err != nil {
		return dst, fmt.Errorf("envelope: seed AES key: %w", err)
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, seedNonceSize)
	if err != nil {
		return dst, fmt.Errorf("envelope: seed GCM: %w", err)
	}
	sealed := gcm.Seal(nil, nonce[:], plaintext, nil)
	ct, tag := sealed[:len(sealed)-seedTagSize], sealed[len(sealed)-seedTagSize:]
	return appendSeedJSON(dst, messageID, encKey, nonce[:], tag, ct), nil
}

// appendSeedJSON writes the envelope exactly as Python's json.dumps does with
// default settings for a dict built in this key order.
func appendSeedJSON(dst []byte, messageID string, encKey, nonce, tag, ct []byte) []byte {
	dst = append(dst, `{"message_id": `...)
	dst = appendPythonJSONString(dst, messageID)
	dst = append(dst, `, "enc_session_key": "`...)
	dst = base64.StdEncoding.AppendEncode(dst, encKey)
	dst = append(dst, `", "nonce": "`...)
	dst = base64.StdEncoding.AppendEncode(dst, nonce)
	dst = append(dst, `", "tag": "`...)
	dst = base64.StdEncoding.AppendEncode(dst, tag)
	dst = append(dst, `", "ciphertext": "`...)
	dst = base64.StdEncoding.AppendEncode(dst, ct)
	return append(dst, `"}`...)
}

// appendPythonJSONString quotes s like Python's json.dumps with the default
// ensure_ascii=True: every non-ASCII rune becomes \uXXXX (surrogate pairs
// above the BMP), and control characters use the short escapes Python uses.
func appendPythonJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	u4 := func(dst []byte, r rune) []byte {
		return append(dst, '\\', 'u', hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf])
	}
	dst = append(dst, '"')
	for _, r := range s {
		switch {
		case r == '"':
			dst = append(dst, '\\', '"')
		case r == '\\':
			dst = append(dst, '\\', '\\')
		case r == '\n':
			dst = append(dst, '\\', 'n')
		case r == '\r':
			dst = append(dst, '\\', 'r')
		case r == '\t':
			dst = append(dst, '\\', 't')
		case r == '\b':
			dst = append(dst, '\\', 'b')
		case r == '\f':
			dst = append(dst, '\\', 'f')
		case r < 0x20 || (r >= 0x7f && r < 0x10000):
			dst = u4(dst, r)
		case r >= 0x10000:
			r -= 0x10000
			dst = u4(dst, 0xd800+(r>>10))
			dst = u4(dst, 0xdc00+(r&0x3ff))
		default:
			dst = append(dst, byte(r))
		}
	}
	return append(dst, '"')
}

// SeedOpener opens reference JSON envelopes with the receiver's RSA key.
type SeedOpener struct {
	priv    *rsa.PrivateKey
	maxSize int
}

// NewSeedOpener returns an opener for envelopes sealed to priv's public key.
func NewSeedOpener(priv *rsa.PrivateKey) (*SeedOpener, error) {
	if priv == nil {
		return nil, fmt.Errorf("%w: seed opener needs the receiver's RSA private key", ErrInvalidOptions)
	}
	if priv.N.BitLen() < MinSeedRSABits {
		return nil, fmt.Errorf("%w: RSA key has %d bits, at least %d required", ErrInvalidKey, priv.N.BitLen(), MinSeedRSABits)
	}
	return &SeedOpener{priv: priv, maxSize: DefaultMaxEnvelopeSize}, nil
}

// seedWire is the JSON shape. Pointers tell a missing field from an empty one;
// encoding/json rejects non-string values for string fields.
type seedWire struct {
	MessageID     *string `json:"message_id"`
	EncSessionKey *string `json:"enc_session_key"`
	Nonce         *string `json:"nonce"`
	Tag           *string `json:"tag"`
	Ciphertext    *string `json:"ciphertext"`
}

// seedFields is a decoded seed envelope.
type seedFields struct {
	messageID                  string
	encKey, nonce, tag, cipher []byte
}

func parseSeed(envelope []byte, maxSize int) (seedFields, error) {
	var f seedFields
	if len(envelope) > maxSize {
		return f, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(envelope), maxSize)
	}
	var w seedWire
	dec := json.NewDecoder(bytes.NewReader(envelope))
	if err := dec.Decode(&w); err != nil {
		return f, fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return f, fmt.Errorf("%w: trailing data after the JSON object", ErrBadJSON)
	}
	fields := []struct {
		name string
		v    *string
		out  *[]byte
	}{
		{"enc_session_key", w.EncSessionKey, &f.encKey},
		{"nonce", w.Nonce, &f.nonce},
		{"tag", w.Tag, &f.tag},
		{"ciphertext", w.Ciphertext, &f.cipher},
	}
	if w.MessageID == nil {
		return f, fmt.Errorf("%w: missing field message_id", ErrBadJSON)
	}
	f.messageID = *w.MessageID
	for _, fd := range fields {
		if fd.v == nil {
			return f, fmt.Errorf("%w: missing field %s", ErrBadJSON, fd.name)
		}
		b, err := base64.StdEncoding.Strict().DecodeString(*fd.v)
		if err != nil {
			return f, fmt.Errorf("%w: field %s: %v", ErrBadBase64, fd.name, err)
		}
		*fd.out = b
	}
	return f, nil
}

// Open implements Opener. Checks run cheapest first: framing, sizes, the
// delivered id against the sealed id, then RSA and AES-GCM.
func (o *SeedOpener) Open(dst []byte, messageID string, envelope []byte, _ time.Time) ([]byte, SenderInfo, error) {
	info := SenderInfo{Format: FormatSeed}
	f, err := parseSeed(envelope, o.maxSize)
	if err != nil {
		return dst, info, err
	}
	switch {
	case len(f.encKey) != o.priv.Size():
		return dst, info, fmt.Errorf("%w: enc_session_key is %d bytes, the %d-bit key needs %d", ErrMalformed, len(f.encKey), o.priv.N.BitLen(), o.priv.Size())
	case len(f.nonce) != seedNonceSize:
		return dst, info, fmt.Errorf("%w: nonce is %d bytes, the seed format uses %d", ErrMalformed, len(f.nonce), seedNonceSize)
	case len(f.tag) != seedTagSize:
		return dst, info, fmt.Errorf("%w: tag is %d bytes, the seed format uses %d", ErrMalformed, len(f.tag), seedTagSize)
	}
	// The seed format does not bind the id cryptographically; this check
	// only catches a replay that forgot to rewrite the JSON message_id.
	if f.messageID != messageID {
		return dst, info, fmt.Errorf("%w: delivered as %q, envelope says %q", ErrMessageIDMismatch, messageID, f.messageID)
	}
	key, err := rsa.DecryptOAEP(sha1.New(), nil, o.priv, f.encKey, nil)
	if err != nil {
		return dst, info, fmt.Errorf("%w: RSA-OAEP: %v", ErrWrongKey, err)
	}
	// Receiver.py accepts any AES key size PyCryptodome accepts; so do we.
	block, err := aes.NewCipher(key)
	if err != nil {
		return dst, info, fmt.Errorf("%w: unwrapped session key has %d bytes", ErrMalformed, len(key))
	}
	gcm, err := cipher.NewGCMWithNonceSize(block, seedNonceSize)
	if err != nil {
		return dst, info, fmt.Errorf("envelope: seed GCM: %w", err)
	}
	// GCM wants ciphertext||tag contiguous; build it once in a scratch slice.
	sealed := make([]byte, 0, len(f.cipher)+seedTagSize)
	sealed = append(append(sealed, f.cipher...), f.tag...)
	out, err := gcm.Open(dst, f.nonce, sealed, nil)
	if err != nil {
		return dst, info, fmt.Errorf("%w: AES-GCM", ErrTampered)
	}
	return out, info, nil
}
