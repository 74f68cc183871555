package envelope

import "testing"

// FuzzSessionOpen: arbitrary bytes never panic, and nothing but a genuine
// envelope opens (a forgery would need the session key or a signature). The
// keys are fixed, and "fuzz me" is the only plaintext ever sealed with them;
// fuzz workers are separate processes whose own genuine envelope differs in
// its HPKE encapsulation, so the check is on the plaintext.
func FuzzSessionOpen(f *testing.F) {
	r := mustRecipient(f, 1)
	s, _ := sessionPair(f, r)
	genuine := mustSeal(f, s, "id", []byte("fuzz me"), t0)
	f.Add(genuine)
	f.Add(genuine[:100])
	f.Add([]byte("CMQ\x01\x00\x00\x00\x00"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, env []byte) {
		o := mustOpener(t, r, pubOf(mustSigner(t, 1)))
		got, _, err := o.Open(nil, "id", env, t0)
		if err == nil && string(got) != "fuzz me" {
			t.Fatalf("a non-genuine envelope opened: %q", got)
		}
	})
}

// FuzzSeedOpen: arbitrary JSON-ish bytes never panic; only the genuine
// envelope's ciphertext opens.
func FuzzSeedOpen(f *testing.F) {
	priv, _ := seedKeys(f)
	s, _ := NewSeedSealer(&priv.PublicKey, testRand(1))
	o, _ := NewSeedOpener(priv)
	genuine := mustSeal(f, s, "id", []byte("fuzz me"), t0)
	f.Add(genuine)
	f.Add([]byte(`{"message_id":"id"}`))
	f.Add([]byte(`{"message_id":"id","enc_session_key":"","nonce":"","tag":"","ciphertext":""}`))
	f.Fuzz(func(t *testing.T, env []byte) {
		got, _, err := o.Open(nil, "id", env, t0)
		if err == nil && string(got) != "fuzz me" {
			t.Fatalf("a forged seed envelope opened: %q", got)
		}
	})
}

// FuzzOpenPartsAgreesWithOpen: any envelope cut at any point opens in parts
// exactly as it opens whole, never panicking.
func FuzzOpenPartsAgreesWithOpen(f *testing.F) {
	r := mustRecipient(f, 1)
	s, _ := sessionPair(f, r)
	prefix, rest, err := s.SealParts(nil, "id", []byte("fuzz me"), t0)
	if err != nil {
		f.Fatal(err)
	}
	genuine := append(append([]byte(nil), prefix...), rest...)
	f.Add(genuine, uint16(len(prefix)))
	f.Add(genuine, uint16(7))
	f.Add(genuine[:200], uint16(len(prefix)))
	// The openers live across inputs: their session caches are part of
	// what must not make the two ways differ.
	whole := mustOpener(f, r, pubOf(mustSigner(f, 1)))
	parts := mustOpener(f, r, pubOf(mustSigner(f, 1)))
	f.Fuzz(func(t *testing.T, env []byte, cut uint16) {
		k := min(int(cut), len(env))
		for range 2 { // the second round finds the session cached
			want, _, wantErr := whole.Open(nil, "id", env, t0)
			got, _, gotErr := parts.OpenParts(nil, "id", env[:k], env[k:], t0)
			if (gotErr == nil) != (wantErr == nil) || string(got) != string(want) {
				t.Fatalf("cut at %d: OpenParts %q %v, Open %q %v", k, got, gotErr, want, wantErr)
			}
		}
	})
}
