package envelope

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"time"
)

// Modern format constants. docs/envelope.md describes the layout byte by byte;
// change them only together with a new version number.
const (
	sessionMagic         = "CMQ"
	sessionFormatVersion = 1
	headerVersion        = 1

	// Suite identifiers are the RFC 9180 / draft-ietf-hpke-pq code points.
	suiteKEM  uint16 = 0x647a // MLKEM768-X25519 (X-Wing)
	suiteKDF  uint16 = 0x0001 // HKDF-SHA256
	suiteAEAD uint16 = 0x0002 // AES-256-GCM

	// SessionIDSize is the length of the random session identifier.
	SessionIDSize = 16
	// KeyIDSize is the length of a recipient key id.
	KeyIDSize = 16
	// MaxRecipients bounds the recipient entries of one session header.
	MaxRecipients = 64

	sessionKeySize = 32
	encSize        = 1088 + 32 // ML-KEM-768 ciphertext + X25519 share
	wrappedKeySize = sessionKeySize + 16
	entrySize      = KeyIDSize + encSize + wrappedKeySize

	// header offsets
	hdrOffVersion   = 0
	hdrOffSuite     = 1
	hdrOffSessionID = 7
	hdrOffCreated   = hdrOffSessionID + SessionIDSize
	hdrOffSender    = hdrOffCreated + 8
	hdrOffCount     = hdrOffSender + ed25519.PublicKeySize
	hdrOffEntries   = hdrOffCount + 1
	minHeaderSize   = hdrOffEntries + entrySize + ed25519.SignatureSize

	// envelope prefix: magic(3) version(1) header length(4)
	envPrefixSize = len(sessionMagic) + 1 + 4
	tagSize       = 16
)

// Domain-separation labels: a signature, wrap or key made for one purpose can
// never be mistaken for another.
const (
	labelSignature  = "CipherMQ cmq1 session header signature\x00"
	labelWrapInfo   = "CipherMQ cmq1 session key wrap\x00"
	labelMessageKey = "CipherMQ cmq1 message key\x00"
	labelKeyID      = "CipherMQ cmq1 recipient key id\x00"
)

var (
	kem      = hpke.MLKEM768X25519()
	wrapKDF  = hpke.HKDFSHA256()
	wrapAEAD = hpke.AES256GCM()
)

// sessionHeader is a parsed, not yet verified, session header.
type sessionHeader struct {
	raw       []byte // the whole header, signature included
	sessionID [SessionIDSize]byte
	created   time.Time
	sender    ed25519.PublicKey // aliases raw
	entries   []recipientEntry  // alias raw
	signature []byte            // aliases raw
}

type recipientEntry struct {
	keyID   KeyID
	enc     []byte
	wrapped []byte
}

// fixedPart is the header up to the recipient count: it is also the HPKE
// info of every key wrap, so a wrapped key is bound to its session.
func fixedPart(raw []byte) []byte { return raw[:hdrOffCount] }

// appendHeaderFixed writes version, suite, session id, time and sender key.
func appendHeaderFixed(dst []byte, sid [SessionIDSize]byte, created time.Time, sender ed25519.PublicKey) []byte {
	dst = append(dst, headerVersion)
	dst = binary.BigEndian.AppendUint16(dst, suiteKEM)
	dst = binary.BigEndian.AppendUint16(dst, suiteKDF)
	dst = binary.BigEndian.AppendUint16(dst, suiteAEAD)
	dst = append(dst, sid[:]...)
	dst = binary.BigEndian.AppendUint64(dst, uint64(created.UnixNano()))
	return append(dst, sender...)
}

// wrapInfo is the HPKE info string for the key wraps of one header.
func wrapInfo(fixed []byte) []byte {
	return append([]byte(labelWrapInfo), fixed...)
}

// signedMessage is what the sender's Ed25519 key signs.
func signedMessage(unsigned []byte) []byte {
	return append([]byte(labelSignature), unsigned...)
}

// headerHash binds each message to the exact header bytes.
func headerHash(raw []byte) [32]byte { return sha256.Sum256(raw) }

// parseHeader checks the structure of a header; it verifies nothing.
func parseHeader(raw []byte) (*sessionHeader, error) {
	if len(raw) < minHeaderSize {
		return nil, fmt.Errorf("%w: session header is %d bytes, at least %d needed", ErrTruncated, len(raw), minHeaderSize)
	}
	if raw[hdrOffVersion] != headerVersion {
		return nil, fmt.Errorf("%w: session header version %d, this build reads %d", ErrUnknownVersion, raw[hdrOffVersion], headerVersion)
	}
	kemID := binary.BigEndian.Uint16(raw[hdrOffSuite:])
	kdfID := binary.BigEndian.Uint16(raw[hdrOffSuite+2:])
	aeadID := binary.BigEndian.Uint16(raw[hdrOffSuite+4:])
	if kemID != suiteKEM || kdfID != suiteKDF || aeadID != suiteAEAD {
		return nil, fmt.Errorf("%w: KEM 0x%04x KDF 0x%04x AEAD 0x%04x (want MLKEM768X25519/HKDF-SHA256/AES-256-GCM)", ErrUnsupportedSuite, kemID, kdfID, aeadID)
	}
	n := int(raw[hdrOffCount])
	if n == 0 || n > MaxRecipients {
		return nil, fmt.Errorf("%w: %d recipient entries, 1..%d allowed", ErrMalformed, n, MaxRecipients)
	}
	want := hdrOffEntries + n*entrySize + ed25519.SignatureSize
	if len(raw) != want {
		return nil, fmt.Errorf("%w: session header with %d recipients must be %d bytes, got %d", ErrMalformed, n, want, len(raw))
	}
	h := &sessionHeader{raw: raw}
	copy(h.sessionID[:], raw[hdrOffSessionID:])
	h.created = time.Unix(0, int64(binary.BigEndian.Uint64(raw[hdrOffCreated:]))).UTC()
	h.sender = ed25519.PublicKey(raw[hdrOffSender:hdrOffCount:hdrOffCount])
	h.entries = make([]recipientEntry, n)
	off := hdrOffEntries
	for i := range h.entries {
		e := &h.entries[i]
		copy(e.keyID[:], raw[off:])
		e.enc = raw[off+KeyIDSize : off+KeyIDSize+encSize : off+KeyIDSize+encSize]
		e.wrapped = raw[off+KeyIDSize+encSize : off+entrySize : off+entrySize]
		off += entrySize
	}
	h.signature = raw[off:]
	return h, nil
}

// verify checks the signature over everything before it.
func (h *sessionHeader) verify() error {
	unsigned := h.raw[:len(h.raw)-ed25519.SignatureSize]
	if !ed25519.Verify(h.sender, signedMessage(unsigned), h.signature) {
		return fmt.Errorf("%w: session %x", ErrTamperedHeader, h.sessionID)
	}
	return nil
}

// find returns the entry addressed to id.
func (h *sessionHeader) find(id KeyID) (recipientEntry, bool) {
	for _, e := range h.entries {
		if e.keyID == id {
			return e, true
		}
	}
	return recipientEntry{}, false
}
