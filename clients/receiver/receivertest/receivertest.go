// Package receivertest holds the keys and envelope helpers that the tests
// of clients/receiver and clients/receiver/runner share: deterministic key
// pairs from a seed, a session sealer for them and the opener that trusts
// their signer.
package receivertest

import (
	"bytes"
	"crypto/ed25519"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/inbox"
)

// Now is the fixed clock reading the receiver tests stamp messages with.
var Now = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

// Keys is a recipient key pair and a signing key.
type Keys struct {
	Recipient *envelope.RecipientPrivateKey
	Signer    ed25519.PrivateKey
}

// NewKeys derives Keys from seed (the same seed, the same keys).
func NewKeys(t testing.TB, seed uint64) Keys {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{byte(seed)})
	rk, err := envelope.GenerateRecipientKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := envelope.GenerateSigningKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	return Keys{rk, sk}
}

// Sealer seals for k's recipient, signed by signer.
func Sealer(t testing.TB, k Keys, signer ed25519.PrivateKey) envelope.Sealer {
	t.Helper()
	s, err := envelope.NewSessionSealer(envelope.SessionOptions{Signer: signer, Recipients: []envelope.RecipientPublicKey{k.Recipient.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Opener opens with k's recipient key and trusts k's signer only.
func Opener(t testing.TB, k Keys) envelope.Opener {
	t.Helper()
	so, err := envelope.NewSessionOpener(envelope.SessionOpenerOptions{Key: k.Recipient, Trusted: []ed25519.PublicKey{k.Signer.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := envelope.NewOpener(nil, so)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// OpenStore opens the receiver store at path, closed when the test ends.
func OpenStore(t *testing.T, path string, opts inbox.Options) *inbox.Store {
	t.Helper()
	s, err := inbox.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// ReadAll reads every record of the store file at path.
func ReadAll(t *testing.T, path string) []inbox.Record {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []inbox.Record
	if err := inbox.Scan(bytes.NewReader(raw), func(r inbox.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
