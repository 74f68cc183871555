package envelope

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
)

// Every single-bit change anywhere in an envelope is refused, and the error
// names the region it hit.
func TestSessionEveryBitFlipIsRejected(t *testing.T) {
	r := mustRecipient(t, 1)
	s, o := sessionPair(t, r)
	const id = "6f1d3c4e-8a2b-4f5e-9c7d-1a2b3c4d5e6f"
	env := mustSeal(t, s, id, []byte("every byte counts"), t0)
	l := envLayout(env)
	if _, _, err := o.Open(nil, id, env, t0); err != nil { // warm the cache
		t.Fatal(err)
	}
	for at := range env {
		bit := byte(1 << (at % 8))
		bad := bytes.Clone(env)
		bad[at] ^= bit
		_, _, err := o.Open(nil, id, bad, t0)
		if err == nil {
			t.Fatalf("flip of bit %#x at byte %d opened", bit, at)
		}
		var ok bool
		switch {
		case at < 3:
			ok = errors.Is(err, ErrUnknownFormat)
		case at == 3:
			ok = errors.Is(err, ErrUnknownVersion)
		case at < l.hdr: // header length
			ok = errors.Is(err, ErrTruncated) || errors.Is(err, ErrMalformed)
		case at < l.hdrEnd:
			ok = errors.Is(err, ErrTamperedHeader) || errors.Is(err, ErrUntrustedSender) ||
				errors.Is(err, ErrUnknownVersion) || errors.Is(err, ErrUnsupportedSuite) || errors.Is(err, ErrMalformed)
		case at < l.idLen: // counter
			ok = errors.Is(err, ErrTampered) || errors.Is(err, ErrMalformed)
		case at < l.id: // id length
			ok = errors.Is(err, ErrTruncated) || errors.Is(err, ErrMessageIDMismatch)
		case at < l.sealed:
			ok = errors.Is(err, ErrMessageIDMismatch)
		default:
			ok = errors.Is(err, ErrTampered)
		}
		if !ok {
			t.Fatalf("flip at byte %d (layout %+v): unexpected error class: %v", at, l, err)
		}
	}
	if o.Verifications() != 1 {
		// failed verifications are not counted; only the genuine session was cached
		t.Fatalf("verifications %d, want 1", o.Verifications())
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// Messages draw no randomness: nonces are counters. Only sessions do.
func TestSessionMessagesDrawNoRandomness(t *testing.T) {
	r := mustRecipient(t, 1)
	cr := &countingReader{r: testRand(1)}
	s, err := NewSessionSealer(SessionOptions{Signer: mustSigner(t, 1), Recipients: []RecipientPublicKey{r.Public()}, Rand: cr, MaxMessages: 50})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		mustSeal(t, s, fmt.Sprint(i), []byte("x"), t0)
	}
	if want := 2 * (SessionIDSize + sessionKeySize); cr.n != want {
		t.Fatalf("read %d random bytes for 2 sessions of 50 messages, want %d", cr.n, want)
	}
}

// Seal appends: whatever dst held stays, and the envelope follows it.
func TestSealAppendsToDst(t *testing.T) {
	r := mustRecipient(t, 1)
	s, o := sessionPair(t, r)
	seedS, seedO := seedPair(t)
	for _, c := range []struct {
		s Sealer
		o Opener
	}{{s, o}, {seedS, seedO}} {
		dst := []byte("already here|")
		out, err := c.s.Seal(dst, "id", []byte("payload"), t0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(out, []byte("already here|")) {
			t.Fatalf("%v: dst prefix lost", c.s.Format())
		}
		if got, _, err := c.o.Open(nil, "id", out[len(dst):], t0); err != nil || string(got) != "payload" {
			t.Fatalf("%v: %v %q", c.s.Format(), err, got)
		}
	}
}
