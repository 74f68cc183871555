package envelope

import (
	"fmt"
	"testing"
)

// Benchmarks: run with
//   go test -run '^$' -bench . -benchmem ./clients/envelope/
// Figures live in docs/performance.md, section "Envelope".

var bench512 = make([]byte, 512)

func BenchmarkSeedSeal512(b *testing.B) {
	priv, _ := seedKeys(b)
	s, _ := NewSeedSealer(&priv.PublicKey, nil)
	buf := make([]byte, 0, 2048)
	b.SetBytes(512)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Seal(buf[:0], "6f1d3c4e-8a2b-4f5e-9c7d-1a2b3c4d5e6f", bench512, t0); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSeedOpen512(b *testing.B) {
	priv, _ := seedKeys(b)
	s, _ := NewSeedSealer(&priv.PublicKey, nil)
	o, _ := NewSeedOpener(priv)
	env := mustSeal(b, s, "id", bench512, t0)
	buf := make([]byte, 0, 1024)
	b.SetBytes(512)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := o.Open(buf[:0], "id", env, t0); err != nil {
			b.Fatal(err)
		}
	}
}

// Steady state: one session, one AES-256-GCM seal per message.
func BenchmarkSessionSeal512(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			pubs := make([]RecipientPublicKey, n)
			for i := range pubs {
				pubs[i] = mustRecipient(b, uint64(i+1)).Public()
			}
			// No rotation inside the measurement: that is BenchmarkSessionSetupSeal.
			s, err := NewSessionSealer(SessionOptions{Signer: mustSigner(b, 1), Recipients: pubs, MaxMessages: 1 << 62})
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 0, 16384)
			b.SetBytes(512)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Seal(buf[:0], "6f1d3c4e-8a2b-4f5e-9c7d-1a2b3c4d5e6f", bench512, t0); err != nil {
					b.Fatal(err)
				}
			}
			if s.Sessions() != 1 {
				b.Fatalf("%d sessions: the benchmark measured rotation", s.Sessions())
			}
		})
	}
}

// Steady state: session cached, header compared, one AES-256-GCM open.
func BenchmarkSessionOpen512(b *testing.B) {
	r := mustRecipient(b, 1)
	s, o := sessionPair(b, r)
	env := mustSeal(b, s, "id", bench512, t0)
	buf := make([]byte, 0, 1024)
	b.SetBytes(512)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := o.Open(buf[:0], "id", env, t0); err != nil {
			b.Fatal(err)
		}
	}
	if o.Verifications() != 1 {
		b.Fatalf("%d verifications: cache not used", o.Verifications())
	}
}

// Session setup, sender side: session id and key, one HPKE encapsulation per
// recipient, one Ed25519 signature (plus the first message's seal).
func BenchmarkSessionSetupSeal(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			keys := make([]*RecipientPrivateKey, n)
			for i := range keys {
				keys[i] = mustRecipient(b, uint64(i+1))
			}
			s, _ := sessionPair(b, keys...)
			buf := make([]byte, 0, 16384)
			b.ReportAllocs()
			for b.Loop() {
				s.Rotate()
				if _, err := s.Seal(buf[:0], "id", bench512, t0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Session setup, receiver side: a cold opener verifies the signature,
// decapsulates and derives the key (plus the first message's open).
func BenchmarkSessionSetupOpen(b *testing.B) {
	r := mustRecipient(b, 1)
	s, _ := sessionPair(b, r)
	env := mustSeal(b, s, "id", bench512, t0)
	trusted := pubOf(mustSigner(b, 1))
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		o := mustOpener(b, r, trusted)
		if _, _, err := o.Open(buf[:0], "id", env, t0); err != nil {
			b.Fatal(err)
		}
	}
}
