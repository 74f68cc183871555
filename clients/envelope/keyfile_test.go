package envelope

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func mode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestRecipientKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "recipient.key"), filepath.Join(dir, "recipient.pub")
	k := mustRecipient(t, 5)
	if err := WriteRecipientKeyFiles(priv, pub, k, false); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, priv); m != 0o600 {
		t.Fatalf("private key mode %o, want 600", m)
	}
	if m := mode(t, pub); m&0o077 == 0o077 || m&0o200 == 0 {
		t.Fatalf("public key mode %o", m)
	}
	k2, err := LoadRecipientPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := LoadRecipientPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	if k2.ID() != k.ID() || p2.ID() != k.ID() || !bytes.Equal(k2.Bytes(), k.Bytes()) || !bytes.Equal(p2.Bytes(), k.Public().Bytes()) {
		t.Fatal("recipient key changed through its files")
	}
	// The loaded keys work together.
	s, err := NewSessionSealer(SessionOptions{Signer: mustSigner(t, 1), Recipients: []RecipientPublicKey{p2}, Rand: testRand(1)})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpener(t, k2, pubOf(mustSigner(t, 1)))
	if got, _, err := o.Open(nil, "x", mustSeal(t, s, "x", []byte("ok"), t0), t0); err != nil || string(got) != "ok" {
		t.Fatalf("loaded keys do not work: %v", err)
	}
}

func TestSigningKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "sender.key"), filepath.Join(dir, "sender.pub")
	k := mustSigner(t, 9)
	if err := WriteSigningKeyFiles(priv, pub, k, false); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, priv); m != 0o600 {
		t.Fatalf("private key mode %o, want 600", m)
	}
	k2, err := LoadSigningPrivateKey(priv)
	if err != nil || !k2.Equal(k) {
		t.Fatalf("private: %v", err)
	}
	p2, err := LoadSigningPublicKey(pub)
	if err != nil || !p2.Equal(pubOf(k)) {
		t.Fatalf("public: %v", err)
	}
	if SignerKeyID(p2) != SignerKeyID(pubOf(k)) || len(SignerKeyID(p2)) != 16 {
		t.Fatalf("signer key id %q", SignerKeyID(p2))
	}
}

func TestSeedKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "receiver_private.pem"), filepath.Join(dir, "receiver_public.pem")
	k, _ := seedKeys(t)
	if err := WriteSeedKeyFiles(priv, pub, k, false); err != nil {
		t.Fatal(err)
	}
	if m := mode(t, priv); m != 0o600 {
		t.Fatalf("private key mode %o, want 600", m)
	}
	data, _ := os.ReadFile(priv)
	if !bytes.HasPrefix(data, []byte("-----BEGIN RSA PRIVATE KEY-----\n")) {
		t.Fatalf("private key is not PKCS#1 like RSA.py: %.40s", data)
	}
	data, _ = os.ReadFile(pub)
	if !bytes.HasPrefix(data, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Fatalf("public key is not SPKI like RSA.py: %.40s", data)
	}
	k2, err := LoadSeedPrivateKey(priv)
	if err != nil || !k2.Equal(k) {
		t.Fatalf("private: %v", err)
	}
	p2, err := LoadSeedPublicKey(pub)
	if err != nil || !p2.Equal(&k.PublicKey) {
		t.Fatalf("public: %v", err)
	}
	// PKCS#8 RSA is accepted too.
	der, _ := x509.MarshalPKCS8PrivateKey(k)
	k3, err := ParseSeedPrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil || !k3.Equal(k) {
		t.Fatalf("PKCS#8 RSA: %v", err)
	}
}

func TestKeyFilesRefuseOverwriteUnlessForced(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "r.key"), filepath.Join(dir, "r.pub")
	a, b := mustRecipient(t, 1), mustRecipient(t, 2)
	if err := WriteRecipientKeyFiles(priv, pub, a, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteRecipientKeyFiles(priv, pub, b, false); !errors.Is(err, ErrKeyFileExists) {
		t.Fatalf("second write: err %v, want ErrKeyFileExists", err)
	}
	if k, _ := LoadRecipientPrivateKey(priv); k.ID() != a.ID() {
		t.Fatal("refused write changed the private key")
	}
	// Only the public file exists: still refused, and nothing is written.
	os.Remove(priv)
	if err := WriteRecipientKeyFiles(priv, pub, b, false); !errors.Is(err, ErrKeyFileExists) {
		t.Fatalf("public exists: err %v, want ErrKeyFileExists", err)
	}
	if _, err := os.Stat(priv); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("refused write created the private file")
	}
	// A loose mode on an existing private file is fixed by a forced write.
	os.WriteFile(priv, []byte("old"), 0o644)
	if err := WriteRecipientKeyFiles(priv, pub, b, true); err != nil {
		t.Fatal(err)
	}
	if k, _ := LoadRecipientPrivateKey(priv); k == nil || k.ID() != b.ID() {
		t.Fatal("forced write did not replace the key")
	}
	if m := mode(t, priv); m != 0o600 {
		t.Fatalf("forced private key mode %o, want 600", m)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
}

func TestKeyLoadingErrors(t *testing.T) {
	rk := mustRecipient(t, 1)
	sk := mustSigner(t, 1)
	rsaKey, _ := seedKeys(t)
	recipPriv := MarshalRecipientPrivateKey(rk)
	recipPub := MarshalRecipientPublicKey(rk.Public())
	signPriv, _ := MarshalSigningPrivateKey(sk)
	signPub, _ := MarshalSigningPublicKey(pubOf(sk))
	seedPub, _ := MarshalSeedPublicKey(&rsaKey.PublicKey)
	seedPriv := MarshalSeedPrivateKey(rsaKey)
	block := func(typ string, body []byte) []byte { return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: body}) }
	small, err := rsa.GenerateKey(testRand(1), 1024)
	if err != nil {
		t.Fatal(err)
	}
	smallPub, _ := MarshalSeedPublicKey(&small.PublicKey)

	type parser func([]byte) error
	recipPrivP := func(b []byte) error { _, err := ParseRecipientPrivateKey(b); return err }
	recipPubP := func(b []byte) error { _, err := ParseRecipientPublicKey(b); return err }
	signPrivP := func(b []byte) error { _, err := ParseSigningPrivateKey(b); return err }
	signPubP := func(b []byte) error { _, err := ParseSigningPublicKey(b); return err }
	seedPrivP := func(b []byte) error { _, err := ParseSeedPrivateKey(b); return err }
	seedPubP := func(b []byte) error { _, err := ParseSeedPublicKey(b); return err }
	cases := []struct {
		name  string
		parse parser
		in    []byte
		want  error
	}{
		{"empty", recipPrivP, nil, ErrNotPEM},
		{"not PEM", signPubP, []byte("hello"), ErrNotPEM},
		{"public where private expected", recipPrivP, recipPub, ErrWrongPEMType},
		{"private where public expected", recipPubP, recipPriv, ErrWrongPEMType},
		{"recipient private short", recipPrivP, block(PEMRecipientPrivate, []byte{0x64, 0x7a, 1, 2, 3}), ErrInvalidKey},
		{"recipient public short", recipPubP, block(PEMRecipientPublic, append([]byte{0x64, 0x7a}, make([]byte, 100)...)), ErrInvalidKey},
		{"recipient wrong KEM id", recipPrivP, block(PEMRecipientPrivate, append([]byte{0, 0x20}, make([]byte, 32)...)), ErrInvalidKey},
		{"recipient no body", recipPubP, block(PEMRecipientPublic, nil), ErrInvalidKey},
		{"Ed25519 loader given RSA public", signPubP, seedPub, ErrInvalidKey},
		{"Ed25519 loader given RSA PKCS#1", signPrivP, seedPriv, ErrWrongPEMType},
		{"Ed25519 public where private expected", signPrivP, signPub, ErrWrongPEMType},
		{"Ed25519 garbage DER", signPubP, block("PUBLIC KEY", []byte{1, 2, 3}), ErrInvalidKey},
		{"RSA loader given Ed25519 public", seedPubP, signPub, ErrInvalidKey},
		{"RSA loader given Ed25519 PKCS#8", seedPrivP, signPriv, ErrInvalidKey},
		{"RSA public where private expected", seedPrivP, seedPub, ErrWrongPEMType},
		{"RSA garbage DER", seedPrivP, block("RSA PRIVATE KEY", []byte{1, 2, 3}), ErrInvalidKey},
		{"RSA 1024-bit public", seedPubP, smallPub, ErrInvalidKey},
		{"RSA 1024-bit private", seedPrivP, MarshalSeedPrivateKey(small), ErrInvalidKey},
	}
	for _, c := range cases {
		if err := c.parse(c.in); !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := NewSeedSealer(&small.PublicKey, nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("seed sealer with 1024-bit key: %v", err)
	}
	if _, err := LoadRecipientPrivateKey(filepath.Join(t.TempDir(), "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestKeyGenerationIsDerivedFromTheReader(t *testing.T) {
	if mustRecipient(t, 77).ID() != mustRecipient(t, 77).ID() {
		t.Fatal("same reader, different recipient keys")
	}
	if mustRecipient(t, 77).ID() == mustRecipient(t, 78).ID() {
		t.Fatal("different readers, same recipient key")
	}
	if !mustSigner(t, 77).Equal(mustSigner(t, 77)) || mustSigner(t, 77).Equal(mustSigner(t, 78)) {
		t.Fatal("signing keys are not a function of the reader")
	}
	if _, err := GenerateRecipientKey(bytes.NewReader(make([]byte, 31))); err == nil {
		t.Fatal("short reader accepted")
	}
}
