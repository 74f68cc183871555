package envelope

import (
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"testing"
)

// layout locates the parts of a sealed cmq1 envelope for tampering tests.
type layout struct{ hdr, hdrEnd, counter, idLen, id, sealed int }

func envLayout(env []byte) layout {
	h := int(binary.BigEndian.Uint32(env[4:]))
	l := layout{hdr: envPrefixSize, hdrEnd: envPrefixSize + h}
	l.counter = l.hdrEnd
	l.idLen = l.counter + 8
	l.id = l.idLen + 2
	l.sealed = l.id + int(binary.BigEndian.Uint16(env[l.idLen:]))
	return l
}

func flip(env []byte, at int) []byte {
	out := bytes.Clone(env)
	out[at] ^= 0x01
	return out
}

func TestSessionTamperingIsRejected(t *testing.T) {
	r := mustRecipient(t, 1)
	s, _ := sessionPair(t, r)
	const id = "0f6b6c43-ffb1-4b55-8a5c-6f1f8a3fe8b7"
	env := mustSeal(t, s, id, []byte("transfer 100 to alice"), t0)
	l := envLayout(env)
	firstEntry := l.hdr + hdrOffEntries
	cases := []struct {
		name string
		env  []byte
		want error
	}{
		{"ciphertext byte", flip(env, l.sealed), ErrTampered},
		{"tag byte", flip(env, len(env)-1), ErrTampered},
		{"counter", flip(env, l.counter+6), ErrTampered},
		{"header session id", flip(env, l.hdr+hdrOffSessionID), ErrTamperedHeader},
		{"header created time", flip(env, l.hdr+hdrOffCreated+7), ErrTamperedHeader},
		{"recipient entry key id", flip(env, firstEntry), ErrTamperedHeader},
		{"recipient entry enc", flip(env, firstEntry+KeyIDSize+100), ErrTamperedHeader},
		{"recipient entry wrapped key", flip(env, firstEntry+KeyIDSize+encSize+3), ErrTamperedHeader},
		{"signature", flip(env, l.hdrEnd-1), ErrTamperedHeader},
		{"sender key", flip(env, l.hdr+hdrOffSender), ErrUntrustedSender},
		{"header version", flip(env, l.hdr+hdrOffVersion), ErrUnknownVersion},
		{"suite", flip(env, l.hdr+hdrOffSuite+1), ErrUnsupportedSuite},
		{"envelope version", flip(env, 3), ErrUnknownVersion},
		{"magic", flip(env, 0), ErrUnknownFormat},
		{"carried message id", flip(env, l.id), ErrMessageIDMismatch},
	}
	for _, warm := range []bool{false, true} {
		for _, c := range cases {
			_, o := sessionPair(t, r)
			if warm { // the genuine header is already cached under this session id
				if _, _, err := o.Open(nil, id, env, t0); err != nil {
					t.Fatal(err)
				}
			}
			got, _, err := o.Open(nil, id, c.env, t0)
			if !errors.Is(err, c.want) {
				t.Errorf("warm=%v %s: err %v, want %v", warm, c.name, err, c.want)
			}
			if len(got) != 0 {
				t.Errorf("warm=%v %s: returned %d plaintext bytes with an error", warm, c.name, len(got))
			}
			// The opener still works for genuine envelopes afterwards.
			if _, _, err := o.Open(nil, id, env, t0); err != nil {
				t.Errorf("warm=%v %s: genuine envelope refused afterwards: %v", warm, c.name, err)
			}
		}
	}
}

func TestSessionReplayUnderNewID(t *testing.T) {
	r := mustRecipient(t, 1)
	s, o := sessionPair(t, r)
	env := mustSeal(t, s, "original", []byte("pay once"), t0)

	// The broker re-publishes the envelope under another id.
	if _, _, err := o.Open(nil, "replayed", env, t0); !errors.Is(err, ErrMessageIDMismatch) {
		t.Fatalf("replay under new id: err %v, want ErrMessageIDMismatch", err)
	}
	// It also rewrites the id carried in the envelope: the AEAD binds the id.
	l := envLayout(env)
	forged := append(bytes.Clone(env[:l.idLen]), 0, byte(len("replayed")))
	forged = append(forged, "replayed"...)
	forged = append(forged, env[l.sealed:]...)
	if _, _, err := o.Open(nil, "replayed", forged, t0); !errors.Is(err, ErrTampered) {
		t.Fatalf("replay with rewritten id: err %v, want ErrTampered", err)
	}
}

func TestSessionUntrustedSender(t *testing.T) {
	r := mustRecipient(t, 1)
	mallory := mustSigner(t, 666)
	s, err := NewSessionSealer(SessionOptions{Signer: mallory, Recipients: []RecipientPublicKey{r.Public()}, Rand: testRand(1)})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpener(t, r, pubOf(mustSigner(t, 1)))
	if _, _, err := o.Open(nil, "x", mustSeal(t, s, "x", []byte("hi"), t0), t0); !errors.Is(err, ErrUntrustedSender) {
		t.Fatalf("err %v, want ErrUntrustedSender", err)
	}
}

func TestSessionNotRecipient(t *testing.T) {
	alice, bob := mustRecipient(t, 1), mustRecipient(t, 2)
	s, _ := sessionPair(t, alice)
	env := mustSeal(t, s, "x", []byte("for alice"), t0)
	o := mustOpener(t, bob, pubOf(mustSigner(t, 1)))
	if _, _, err := o.Open(nil, "x", env, t0); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("err %v, want ErrNotRecipient", err)
	}
}

// A trusted but malicious (or buggy) sender signs an entry that carries the
// receiver's key id with a key wrapped for someone else: the signature is
// valid, the unwrap is not.
func TestSessionWrongKeyForAddressedEntry(t *testing.T) {
	alice, bob := mustRecipient(t, 1), mustRecipient(t, 2)
	signer := mustSigner(t, 1)
	s, _ := sessionPair(t, bob)
	env := mustSeal(t, s, "x", []byte("for bob"), t0)
	l := envLayout(env)
	hdr := bytes.Clone(env[l.hdr:l.hdrEnd])
	aliceID := alice.ID()
	copy(hdr[hdrOffEntries:], aliceID[:]) // relabel bob's entry as alice's
	unsigned := hdr[:len(hdr)-ed25519.SignatureSize]
	copy(hdr[len(unsigned):], ed25519.Sign(signer, signedMessage(unsigned)))
	forged := append(bytes.Clone(env[:l.hdr]), hdr...)
	forged = append(forged, env[l.hdrEnd:]...)

	o := mustOpener(t, alice, pubOf(signer))
	if _, _, err := o.Open(nil, "x", forged, t0); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("err %v, want ErrWrongKey", err)
	}
	// And bob cannot use it either: his id is gone from the header.
	if _, _, err := mustOpener(t, bob, pubOf(signer)).Open(nil, "x", forged, t0); !errors.Is(err, ErrNotRecipient) {
		t.Fatalf("bob: err %v, want ErrNotRecipient", err)
	}
}

func TestSessionTruncatedAtEveryLength(t *testing.T) {
	r := mustRecipient(t, 1)
	s, o := sessionPair(t, r)
	env := mustSeal(t, s, "id", []byte("0123456789"), t0)
	for n := 0; n < len(env); n++ {
		_, _, err := o.Open(nil, "id", env[:n], t0)
		if err == nil {
			t.Fatalf("prefix of %d/%d bytes opened", n, len(env))
		}
		// Cutting inside the payload cannot be told from tampering (the tag
		// moves); everything before it must say truncated.
		want := ErrTruncated
		switch {
		case n < len(sessionMagic):
			want = ErrUnknownFormat
		case n >= len(env)-len("0123456789"): // a whole tag's worth remains: parses, fails AEAD
			want = ErrTampered
		}
		if !errors.Is(err, want) {
			t.Fatalf("prefix %d/%d: err %v, want %v", n, len(env), err, want)
		}
	}
}

func TestSessionMalformed(t *testing.T) {
	r := mustRecipient(t, 1)
	s, o := sessionPair(t, r)
	env := mustSeal(t, s, "id", []byte("x"), t0)
	l := envLayout(env)

	zeroCounter := bytes.Clone(env)
	clear(zeroCounter[l.counter : l.counter+8])
	if _, _, err := o.Open(nil, "id", zeroCounter, t0); !errors.Is(err, ErrMalformed) {
		t.Errorf("counter 0: err %v, want ErrMalformed", err)
	}
	for _, n := range []byte{0, 2, MaxRecipients + 1} {
		bad := bytes.Clone(env)
		bad[l.hdr+hdrOffCount] = n
		if _, _, err := o.Open(nil, "id", bad, t0); !errors.Is(err, ErrMalformed) {
			t.Errorf("recipient count %d: err %v, want ErrMalformed", n, err)
		}
	}
	// A header length pointing past the end.
	long := bytes.Clone(env)
	binary.BigEndian.PutUint32(long[4:], 1<<31)
	if _, _, err := o.Open(nil, "id", long, t0); !errors.Is(err, ErrTruncated) {
		t.Errorf("huge header length: err %v, want ErrTruncated", err)
	}
}

func TestSessionTooLarge(t *testing.T) {
	r := mustRecipient(t, 1)
	signer := mustSigner(t, 1)
	s, err := NewSessionSealer(SessionOptions{Signer: signer, Recipients: []RecipientPublicKey{r.Public()}, Rand: testRand(1), MaxEnvelopeSize: 4096})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Seal(nil, "big", make([]byte, 4096), t0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("seal: err %v, want ErrTooLarge", err)
	}
	env := mustSeal(t, s, "ok", make([]byte, 1000), t0)
	o, err := NewSessionOpener(SessionOpenerOptions{Key: r, Trusted: []ed25519.PublicKey{pubOf(signer)}, MaxEnvelopeSize: len(env) - 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.Open(nil, "ok", env, t0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("open: err %v, want ErrTooLarge", err)
	}
}

func TestInvalidMessageIDs(t *testing.T) {
	r := mustRecipient(t, 1)
	s, _ := sessionPair(t, r)
	pub, _ := seedKeys(t)
	seed, err := NewSeedSealer(&pub.PublicKey, testRand(1))
	if err != nil {
		t.Fatal(err)
	}
	for _, sealer := range []Sealer{s, seed} {
		for _, id := range []string{"", string(make([]byte, MaxMessageIDLen+1)), "\xff\xfe"} {
			if _, err := sealer.Seal(nil, id, nil, t0); !errors.Is(err, ErrInvalidMessageID) {
				t.Errorf("%v sealer, id %q: err %v, want ErrInvalidMessageID", sealer.Format(), id, err)
			}
		}
	}
}

// HPKE wraps are bound to their session: an entry copied into another
// session's header (and re-signed by a trusted sender) does not unwrap.
func TestSessionWrapBoundToSession(t *testing.T) {
	r := mustRecipient(t, 1)
	signer := mustSigner(t, 1)
	s, o := sessionPair(t, r)
	a := mustSeal(t, s, "a", []byte("a"), t0)
	s.Rotate()
	b := mustSeal(t, s, "b", []byte("b"), t0)
	la, lb := envLayout(a), envLayout(b)
	hdr := bytes.Clone(b[lb.hdr:lb.hdrEnd])
	copy(hdr[hdrOffEntries:hdrOffEntries+entrySize], a[la.hdr+hdrOffEntries:])
	unsigned := hdr[:len(hdr)-ed25519.SignatureSize]
	copy(hdr[len(unsigned):], ed25519.Sign(signer, signedMessage(unsigned)))
	forged := append(bytes.Clone(b[:lb.hdr]), hdr...)
	forged = append(forged, b[lb.hdrEnd:]...)
	if _, _, err := o.Open(nil, "b", forged, t0); !errors.Is(err, ErrWrongKey) {
		t.Fatalf("err %v, want ErrWrongKey", err)
	}
}
