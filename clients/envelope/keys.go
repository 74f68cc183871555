package envelope

import (
	"crypto/ed25519"
	"crypto/hpke"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
)

// KeyID names a recipient public key inside session headers: the first 16
// bytes of SHA-256(label || KEM id || public key bytes). It is public.
type KeyID [KeyIDSize]byte

// String returns the id in lower-case hex.
func (id KeyID) String() string { return hex.EncodeToString(id[:]) }

// Short returns the first 8 bytes of the id in lower-case hex: the key id
// printed by the command-line tools and written on the key file's key id
// line. It is a prefix of String.
func (id KeyID) Short() string { return hex.EncodeToString(id[:8]) }

// RecipientPublicKey is a receiver's MLKEM768-X25519 HPKE public key.
type RecipientPublicKey struct {
	key hpke.PublicKey
	id  KeyID
}

// RecipientPrivateKey is a receiver's MLKEM768-X25519 HPKE private key. Its
// serialised form is the 32-byte seed from which both halves are expanded.
type RecipientPrivateKey struct {
	key  hpke.PrivateKey
	seed []byte
	pub  RecipientPublicKey
}

// recipientSeedSize is the hybrid KEM's private key (seed) length.
const recipientSeedSize = 32

// recipientPublicSize is the ML-KEM-768 encapsulation key plus the X25519 point.
const recipientPublicSize = 1184 + 32

// GenerateRecipientKey makes a new recipient key pair from 32 bytes of
// random (nil means crypto/rand.Reader). The same bytes give the same key, so
// simulated runs that pass a seeded reader replay.
func GenerateRecipientKey(random io.Reader) (*RecipientPrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	seed := make([]byte, recipientSeedSize)
	if _, err := io.ReadFull(random, seed); err != nil {
		return nil, fmt.Errorf("envelope: reading recipient key randomness: %w", err)
	}
	return NewRecipientPrivateKey(seed)
}

// NewRecipientPrivateKey rebuilds a private key from its 32-byte seed.
func NewRecipientPrivateKey(seed []byte) (*RecipientPrivateKey, error) {
	if len(seed) != recipientSeedSize {
		return nil, fmt.Errorf("%w: recipient private key is %d bytes, want %d", ErrInvalidKey, len(seed), recipientSeedSize)
	}
	k, err := kem.NewPrivateKey(seed)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	pub, err := newRecipientPublicKey(k.PublicKey())
	if err != nil {
		return nil, err
	}
	return &RecipientPrivateKey{key: k, seed: append([]byte(nil), seed...), pub: pub}, nil
}

// NewRecipientPublicKey parses the 1216-byte serialised public key.
func NewRecipientPublicKey(b []byte) (RecipientPublicKey, error) {
	if len(b) != recipientPublicSize {
		return RecipientPublicKey{}, fmt.Errorf("%w: recipient public key is %d bytes, want %d", ErrInvalidKey, len(b), recipientPublicSize)
	}
	pk, err := kem.NewPublicKey(b)
	if err != nil {
		return RecipientPublicKey{}, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return newRecipientPublicKey(pk)
}

func newRecipientPublicKey(pk hpke.PublicKey) (RecipientPublicKey, error) {
	h := sha256.New()
	h.Write([]byte(labelKeyID))
	h.Write(binary.BigEndian.AppendUint16(nil, suiteKEM))
	h.Write(pk.Bytes())
	var id KeyID
	copy(id[:], h.Sum(nil))
	return RecipientPublicKey{key: pk, id: id}, nil
}

// Public returns the matching public key.
func (k *RecipientPrivateKey) Public() RecipientPublicKey { return k.pub }

// ID returns the key id of the matching public key.
func (k *RecipientPrivateKey) ID() KeyID { return k.pub.id }

// Bytes returns the 32-byte private seed. Handle with care.
func (k *RecipientPrivateKey) Bytes() []byte { return append([]byte(nil), k.seed...) }

// ID returns the key id used in session headers.
func (k RecipientPublicKey) ID() KeyID { return k.id }

// Bytes returns the serialised public key (1216 bytes).
func (k RecipientPublicKey) Bytes() []byte {
	if k.key == nil {
		return nil
	}
	return k.key.Bytes()
}

// valid reports whether k was built by this package (the zero value is not).
func (k RecipientPublicKey) valid() bool { return k.key != nil }

// GenerateSigningKey makes an Ed25519 sender identity from 32 bytes of
// random (nil means crypto/rand.Reader), deterministically from those bytes.
func GenerateSigningKey(random io.Reader) (ed25519.PrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := io.ReadFull(random, seed); err != nil {
		return nil, fmt.Errorf("envelope: reading signing key randomness: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// SignerKeyID returns a short printable id of a sender's Ed25519 public key
// (first 8 bytes of its SHA-256, hex), for logs and trust listings.
func SignerKeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SeedKeyID returns a short printable id of a seed (RSA) public key: the
// first 8 bytes of the SHA-256 of its SubjectPublicKeyInfo DER, in hex.
// Seed key files carry no key id line (they stay byte-compatible with the
// reference), so this id is printed but not checked when a file is read.
func SeedKeyID(pub *rsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "invalid"
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8])
}

// GenerateSeedKey makes an RSA-2048 key pair for the seed format.
//
// Go 1.26 ignores the random argument of rsa.GenerateKey (it always uses the
// system CSPRNG unless GODEBUG=cryptocustomrand=1), so RSA keys are NOT
// derivable from the reader; tests that need a fixed key use
// testing/cryptotest.SetGlobalRandom or load one from a file.
func GenerateSeedKey(random io.Reader) (*rsa.PrivateKey, error) {
	if random == nil {
		random = rand.Reader
	}
	k, err := rsa.GenerateKey(random, MinSeedRSABits)
	if err != nil {
		return nil, fmt.Errorf("envelope: generating RSA key: %w", err)
	}
	return k, nil
}
