package bench

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

// headerSize is the part of every plaintext the runner reads back: publisher
// index (4 bytes), sequence (8) and intended send time (8, nanoseconds since
// the run's start on the monotonic clock).
const headerSize = 20

// MinMessageSize is the smallest --size: the header must fit.
const MinMessageSize = headerSize

// ErrBadPayload: a received message is not one this run made (too short, or
// it fails to decrypt).
var ErrBadPayload = errors.New("bench: received a payload this run did not make")

type header struct {
	publisher uint32
	seq       uint64
	intended  time.Duration
}

// putHeader writes h into the first headerSize bytes of b.
func putHeader(b []byte, h header) {
	binary.BigEndian.PutUint32(b[0:4], h.publisher)
	binary.BigEndian.PutUint64(b[4:12], h.seq)
	binary.BigEndian.PutUint64(b[12:20], uint64(h.intended))
}

func readHeader(b []byte) (header, error) {
	if len(b) < headerSize {
		return header{}, fmt.Errorf("%w: %d bytes, the header alone is %d", ErrBadPayload, len(b), headerSize)
	}
	return header{
		publisher: binary.BigEndian.Uint32(b[0:4]),
		seq:       binary.BigEndian.Uint64(b[4:12]),
		intended:  time.Duration(binary.BigEndian.Uint64(b[12:20])),
	}, nil
}

// messageID is the broker-level id of (publisher, seq) in run runID.
func messageID(dst []byte, runID string, publisher int, seq uint64) []byte {
	dst = append(dst, runID...)
	dst = append(dst, '-')
	dst = strconv.AppendInt(dst, int64(publisher), 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, seq, 10)
}

// Encryption names.
const (
	EncryptionOff    = "off"
	EncryptionSeed   = "seed"
	EncryptionModern = "modern"
)

// crypto makes a sealer per publisher and an opener per consumer for one
// encryption mode; the keys are made once per run.
type crypto struct {
	mode    string
	seedKey *rsa.PrivateKey
	rk      *envelope.RecipientPrivateKey
	sk      ed25519.PrivateKey
}

func newCrypto(mode string) (*crypto, error) {
	c := &crypto{mode: mode}
	var err error
	switch mode {
	case EncryptionOff, "":
		c.mode = EncryptionOff
	case EncryptionSeed:
		c.seedKey, err = envelope.GenerateSeedKey(nil)
	case EncryptionModern:
		if c.rk, err = envelope.GenerateRecipientKey(nil); err == nil {
			c.sk, err = envelope.GenerateSigningKey(nil)
		}
	default:
		return nil, fmt.Errorf("bench: encryption %q: use off, seed or modern", mode)
	}
	if err != nil {
		return nil, fmt.Errorf("bench: making %s keys: %w", mode, err)
	}
	return c, nil
}

// sealer returns a new sealer, nil when encryption is off.
func (c *crypto) sealer() (envelope.Sealer, error) {
	switch c.mode {
	case EncryptionSeed:
		return envelope.NewSeedSealer(&c.seedKey.PublicKey, nil)
	case EncryptionModern:
		return envelope.NewSessionSealer(envelope.SessionOptions{Signer: c.sk, Recipients: []envelope.RecipientPublicKey{c.rk.Public()}})
	}
	return nil, nil
}

// opener returns a new opener, nil when encryption is off.
func (c *crypto) opener() (envelope.Opener, error) {
	switch c.mode {
	case EncryptionSeed:
		so, err := envelope.NewSeedOpener(c.seedKey)
		if err != nil {
			return nil, err
		}
		return envelope.NewOpener(so, nil)
	case EncryptionModern:
		so, err := envelope.NewSessionOpener(envelope.SessionOpenerOptions{Key: c.rk, Trusted: []ed25519.PublicKey{c.sk.Public().(ed25519.PublicKey)}})
		if err != nil {
			return nil, err
		}
		return envelope.NewOpener(nil, so)
	}
	return nil, nil
}
