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
