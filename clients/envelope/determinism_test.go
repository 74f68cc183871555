package envelope

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/cryptotest"
)

func sealSequence(t *testing.T, readerSeed uint64) []byte {
	t.Helper()
	r1, r2 := mustRecipient(t, 1), mustRecipient(t, 2)
	s, err := NewSessionSealer(SessionOptions{
		Signer: mustSigner(t, 1), Recipients: []RecipientPublicKey{r1.Public(), r2.Public()},
		Rand: testRand(readerSeed), MaxMessages: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	for _, id := range []string{"a", "b", "c"} {
		out = mustSeal(t, s, id, []byte("payload "+id), t0)
	}
	return out
}

// Go's crypto/hpke draws its encapsulation randomness from the process
// CSPRNG, not from our reader. With testing/cryptotest.SetGlobalRandom the
// whole envelope replays bit for bit; without it only the parts drawn from
// the reader (session id, session key) do. docs/envelope.md relies on this.
func TestSessionReplaysWithGlobalRandom(t *testing.T) {
	cryptotest.SetGlobalRandom(t, 1)
	a := sealSequence(t, 5)
	cryptotest.SetGlobalRandom(t, 1)
	b := sealSequence(t, 5)
	if !bytes.Equal(a, b) {
		t.Fatal("same reader and same global random: envelopes differ")
	}
	c := sealSequence(t, 5) // global stream has moved on
	if bytes.Equal(a, c) {
		t.Fatal("HPKE encapsulation did not use the global random stream (docs are wrong)")
	}
	la, lc := envLayout(a), envLayout(c)
	sidA := a[la.hdr+hdrOffSessionID : la.hdr+hdrOffSessionID+SessionIDSize]
	sidC := c[lc.hdr+hdrOffSessionID : lc.hdr+hdrOffSessionID+SessionIDSize]
	if !bytes.Equal(sidA, sidC) {
		t.Fatal("session id is not drawn from the options reader")
	}
}

type failingReader struct{ left int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.left <= 0 {
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), f.left)
	f.left -= n
	return n, nil
}

func TestSessionRandomnessFailureIsReported(t *testing.T) {
	r := mustRecipient(t, 1)
	s, err := NewSessionSealer(SessionOptions{Signer: mustSigner(t, 1), Recipients: []RecipientPublicKey{r.Public()},
		Rand: &failingReader{left: SessionIDSize + sessionKeySize}, MaxMessages: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(nil, "first", nil, t0); err != nil {
		t.Fatalf("first session had enough randomness: %v", err)
	}
	dst := []byte("keep")
	out, err := s.Seal(dst, "second", nil, t0)
	if !errors.Is(err, ErrSessionExhausted) || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("err %v, want ErrSessionExhausted wrapping the reader's error", err)
	}
	if string(out) != "keep" {
		t.Fatalf("dst changed on error: %q", out)
	}
	seed, _ := seedKeys(t)
	ss, _ := NewSeedSealer(&seed.PublicKey, &failingReader{left: 20})
	if _, err := ss.Seal(nil, "x", nil, t0); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("seed sealer: err %v, want the reader's error", err)
	}
}
