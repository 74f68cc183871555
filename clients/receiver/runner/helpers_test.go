package runner

import (
	"bytes"
	"crypto/ed25519"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/clients/store"
)

// Test helpers shared with the receiver package's own tests (a copy: test
// files of two packages cannot share code).

var now = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

type keys struct {
	recipient *envelope.RecipientPrivateKey
	signer    ed25519.PrivateKey
}

func newKeys(t testing.TB, seed uint64) keys {
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
	return keys{rk, sk}
}

func sealer(t testing.TB, k keys, signer ed25519.PrivateKey) envelope.Sealer {
	t.Helper()
	s, err := envelope.NewSessionSealer(envelope.SessionOptions{Signer: signer, Recipients: []envelope.RecipientPublicKey{k.recipient.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func opener(t testing.TB, k keys) envelope.Opener {
	t.Helper()
	so, err := envelope.NewSessionOpener(envelope.SessionOpenerOptions{Key: k.recipient, Trusted: []ed25519.PublicKey{k.signer.Public().(ed25519.PublicKey)}})
	if err != nil {
		t.Fatal(err)
	}
	o, err := envelope.NewOpener(nil, so)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func seal(t testing.TB, s envelope.Sealer, id, msg string) receiver.Delivery {
	t.Helper()
	env, err := s.Seal(nil, id, []byte(msg), now)
	if err != nil {
		t.Fatal(err)
	}
	return receiver.Delivery{MessageID: id, Queue: "q", Body: env, ReceivedAt: now}
}

func openStore(t *testing.T, path string, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func readAll(t *testing.T, path string) []store.Record {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Record
	if err := store.Scan(bytes.NewReader(raw), func(r store.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
