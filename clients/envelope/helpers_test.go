package envelope

import (
	"crypto/ed25519"
	"crypto/rsa"
	"io"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// testRand is a deterministic byte source: the same seed gives the same bytes.
func testRand(seed uint64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

// t0 is the fixed "now" of the tests; the package never reads the clock.
var t0 = time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)

func mustRecipient(t testing.TB, seed uint64) *RecipientPrivateKey {
	t.Helper()
	k, err := GenerateRecipientKey(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSigner(t testing.TB, seed uint64) ed25519.PrivateKey {
	t.Helper()
	k, err := GenerateSigningKey(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// RSA generation is slow and cannot be seeded in Go 1.26; one key serves the
// whole test binary, a second one plays "the wrong key".
var (
	rsaOnce    sync.Once
	rsaKeys    [2]*rsa.PrivateKey
	rsaKeysErr error
)

func seedKeys(t testing.TB) (*rsa.PrivateKey, *rsa.PrivateKey) {
	t.Helper()
	rsaOnce.Do(func() {
		for i := range rsaKeys {
			if rsaKeys[i], rsaKeysErr = GenerateSeedKey(nil); rsaKeysErr != nil {
				return
			}
		}
	})
	if rsaKeysErr != nil {
		t.Fatal(rsaKeysErr)
	}
	return rsaKeys[0], rsaKeys[1]
}

// sessionPair builds a sealer from signer 1 to the given recipients and an
// opener for the first recipient that trusts signer 1.
func sessionPair(t testing.TB, recipients ...*RecipientPrivateKey) (*SessionSealer, *SessionOpener) {
	t.Helper()
	signer := mustSigner(t, 1)
	pubs := make([]RecipientPublicKey, len(recipients))
	for i, r := range recipients {
		pubs[i] = r.Public()
	}
	s, err := NewSessionSealer(SessionOptions{Signer: signer, Recipients: pubs, Rand: testRand(99)})
	if err != nil {
		t.Fatal(err)
	}
	return s, mustOpener(t, recipients[0], pubOf(signer))
}

func mustOpener(t testing.TB, k *RecipientPrivateKey, trusted ...ed25519.PublicKey) *SessionOpener {
	t.Helper()
	o, err := NewSessionOpener(SessionOpenerOptions{Key: k, Trusted: trusted})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func mustSeal(t testing.TB, s Sealer, id string, msg []byte, now time.Time) []byte {
	t.Helper()
	env, err := s.Seal(nil, id, msg, now)
	if err != nil {
		t.Fatalf("seal %s: %v", id, err)
	}
	return env
}
