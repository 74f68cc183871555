package envelope

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// TestSealPartsMatchesSeal: SealParts and Seal alternate on one sealer that
// rotates every 4 messages. Within a session Seal's envelope starts with
// exactly the prefix SealParts returned, followed by the next counter; the
// prefix is one slice per session and a new one after each rotation; the
// opener accepts prefix ‖ rest. (HPKE draws its ephemeral keys from
// crypto/rand, so two sealers can never be compared byte for byte.)
func TestSealPartsMatchesSeal(t *testing.T) {
	r, signer := mustRecipient(t, 21), mustSigner(t, 2)
	s, err := NewSessionSealer(SessionOptions{Signer: signer, Recipients: []RecipientPublicKey{r.Public()}, MaxMessages: 4, Rand: testRand(9)})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpener(t, r, pubOf(signer))
	var prev []byte
	for pair := range 6 {
		id := "m-" + string(rune('a'+pair))
		msg := []byte("plaintext " + id)
		prefix, rest, err := s.SealParts([]byte("dst:"), id, msg, t0)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(rest, []byte("dst:")) {
			t.Fatalf("pair %d: rest not appended to dst", pair)
		}
		joined := append(append([]byte(nil), prefix...), rest[len("dst:"):]...)
		if got, _, err := o.Open(nil, id, joined, t0); err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("pair %d: open prefix ‖ rest: %q %v", pair, got, err)
		}
		sameSession := pair%2 == 1
		if shared := prev != nil && &prefix[0] == &prev[0]; shared != sameSession {
			t.Fatalf("pair %d: prefix shared with the previous pair = %v, want %v", pair, shared, sameSession)
		}
		prev = prefix
		env := mustSeal(t, s, id+"-whole", msg, t0)
		if !bytes.HasPrefix(env, prefix) {
			t.Fatalf("pair %d: Seal's envelope does not start with the session's prefix", pair)
		}
		wantCounter := uint64(2*(pair%2) + 2)
		if got := binary.BigEndian.Uint64(env[len(prefix):]); got != wantCounter {
			t.Fatalf("pair %d: counter after the prefix %d, want %d", pair, got, wantCounter)
		}
		if _, _, err := o.Open(nil, id+"-whole", env, t0); err != nil {
			t.Fatalf("pair %d: open Seal's envelope: %v", pair, err)
		}
	}
}

// TestOpenPartsAgreesWithOpen: for valid envelopes, tampered rests and
// tampered prefixes, in the SealParts split and in arbitrary splits,
// OpenParts gives exactly what Open of the joined envelope gives.
func TestOpenPartsAgreesWithOpen(t *testing.T) {
	r, signer := mustRecipient(t, 31), mustSigner(t, 3)
	s, err := NewSessionSealer(SessionOptions{Signer: signer, Recipients: []RecipientPublicKey{r.Public()}, MaxMessages: 5, Rand: testRand(4)})
	if err != nil {
		t.Fatal(err)
	}
	whole := mustOpener(t, r, pubOf(signer))
	parts := mustOpener(t, r, pubOf(signer))
	multi, err := NewOpener(nil, mustOpener(t, r, pubOf(signer)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 12 {
		id := fmt.Sprintf("m-%d", i)
		prefix, rest, err := s.SealParts(nil, id, []byte("text "+id), t0)
		if err != nil {
			t.Fatal(err)
		}
		env := append(append([]byte(nil), prefix...), rest...)
		type split struct {
			name         string
			prefix, rest []byte
		}
		badRest := bytes.Clone(rest)
		badRest[len(badRest)-1] ^= 1
		badPrefix := bytes.Clone(prefix)
		badPrefix[len(badPrefix)-10] ^= 1
		cases := []split{
			{"sealer split", prefix, rest},
			{"tampered rest", prefix, badRest},
			{"tampered header", badPrefix, rest},
			{"split inside the header", env[:100], env[100:]},
			{"split after the counter", env[:len(prefix)+8], env[len(prefix)+8:]},
			{"empty prefix", nil, env},
		}
		for _, c := range cases {
			joined := append(append([]byte(nil), c.prefix...), c.rest...)
			want, wantInfo, wantErr := whole.Open(nil, id, joined, t0)
			got, info, gotErr := parts.OpenParts(nil, id, c.prefix, c.rest, t0)
			if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) || info.Counter != wantInfo.Counter {
				t.Fatalf("message %d, %s: OpenParts %q %v, Open %q %v", i, c.name, got, gotErr, want, wantErr)
			}
			got, _, gotErr = multi.OpenParts(nil, id, c.prefix, c.rest, t0)
			if !bytes.Equal(got, want) || (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("message %d, %s: MultiOpener.OpenParts %q %v, Open %q %v", i, c.name, got, gotErr, want, wantErr)
			}
		}
	}
	if parts.Verifications() > whole.Verifications() {
		t.Fatalf("OpenParts verified %d headers, Open %d: the prefix's session is not reused", parts.Verifications(), whole.Verifications())
	}
}
