package envelope

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"testing"
)

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

// The reference's PKCS#1 is what we write; PKCS#8 RSA is accepted too.
func TestSeedPrivateKeyAcceptsPKCS8(t *testing.T) {
	k, _ := seedKeys(t)
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	k3, err := ParseSeedPrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
	if err != nil || !k3.Equal(k) {
		t.Fatalf("PKCS#8 RSA: %v", err)
	}
}
