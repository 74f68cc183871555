package envelope

import (
	"bytes"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

// base64Alphabet is the standard alphabet PEM bodies use.
const base64Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// flips returns every copy of file with one base64 character of its PEM
// body replaced by the next character of the alphabet.
func flips(t *testing.T, file []byte) [][]byte {
	t.Helper()
	begin := bytes.Index(file, []byte("-----BEGIN"))
	bodyStart := begin + bytes.IndexByte(file[begin:], '\n') + 1
	bodyEnd := bytes.Index(file, []byte("-----END"))
	if begin < 0 || bodyEnd < bodyStart {
		t.Fatalf("not one PEM block:\n%s", file)
	}
	var out [][]byte
	for i := bodyStart; i < bodyEnd; i++ {
		j := strings.IndexByte(base64Alphabet, file[i])
		if j < 0 {
			continue // newline or padding
		}
		c := bytes.Clone(file)
		c[i] = base64Alphabet[(j+1)%len(base64Alphabet)]
		out = append(out, c)
	}
	return out
}

// TestEveryFlippedCharacterOfAModernKeyFileIsCaught: a changed character
// either fails to load or (only in the unused low bits of the last base64
// group) decodes to the very same key; it never loads as another key.
func TestEveryFlippedCharacterOfAModernKeyFileIsCaught(t *testing.T) {
	rk := mustRecipient(t, 9)
	sk := mustSigner(t, 9)
	signPriv, err := MarshalSigningPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	signPub, err := MarshalSigningPublicKey(pubOf(sk))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		file []byte
		// same loads a file and reports whether it holds the original key.
		same func([]byte) (bool, error)
	}{
		{"recipient private", MarshalRecipientPrivateKey(rk), func(b []byte) (bool, error) {
			k, err := ParseRecipientPrivateKey(b)
			return err == nil && k.ID() == rk.ID(), err
		}},
		{"recipient public", MarshalRecipientPublicKey(rk.Public()), func(b []byte) (bool, error) {
			k, err := ParseRecipientPublicKey(b)
			return err == nil && k.ID() == rk.ID(), err
		}},
		{"signing private", signPriv, func(b []byte) (bool, error) {
			k, err := ParseSigningPrivateKey(b)
			return err == nil && k.Equal(sk), err
		}},
		{"signing public", signPub, func(b []byte) (bool, error) {
			k, err := ParseSigningPublicKey(b)
			return err == nil && k.Equal(pubOf(sk)), err
		}},
	}
	for _, c := range cases {
		if !HasKeyIDLine(c.file) {
			t.Fatalf("%s: written without a key id line:\n%s", c.name, c.file)
		}
		if ok, err := c.same(c.file); !ok {
			t.Fatalf("%s: the intact file does not load: %v", c.name, err)
		}
		corrupted := 0
		for _, f := range flips(t, c.file) {
			same, err := c.same(f)
			switch {
			case err == nil && !same:
				t.Fatalf("%s: a flipped character loaded as another key without error:\n%s", c.name, f)
			case err != nil:
				corrupted++
			}
		}
		if corrupted == 0 {
			t.Fatalf("%s: no flip was detected", c.name)
		}
		// The id line itself is checked too.
		idLine := KeyIDLinePrefix
		i := bytes.Index(c.file, []byte(idLine)) + len(idLine)
		edited := bytes.Clone(c.file)
		edited[i] = '0'
		if c.file[i] == '0' {
			edited[i] = '1'
		}
		if _, err := c.same(edited); !errors.Is(err, ErrKeyCorrupted) {
			t.Errorf("%s: an edited key id line gave %v, want ErrKeyCorrupted", c.name, err)
		}
	}
}

func TestKeyFilesWithoutAKeyIDLineStillLoad(t *testing.T) {
	rk := mustRecipient(t, 3)
	old := pem.EncodeToMemory(&pem.Block{Type: PEMRecipientPrivate, Bytes: append([]byte{0x64, 0x7a}, rk.Bytes()...)})
	if HasKeyIDLine(old) {
		t.Fatal("a bare PEM block reported as having a key id line")
	}
	k, err := ParseRecipientPrivateKey(old)
	if err != nil || k.ID() != rk.ID() {
		t.Fatalf("old-style key file: %v", err)
	}
}

func TestKeyIDsAreShortPrefixesOfTheHeaderKeyID(t *testing.T) {
	rk := mustRecipient(t, 4)
	if s := rk.ID().Short(); len(s) != 16 || !strings.HasPrefix(rk.ID().String(), s) {
		t.Fatalf("short id %q is not a 16-hex prefix of %s", s, rk.ID())
	}
	rsaKey, other := seedKeys(t)
	if a, b := SeedKeyID(&rsaKey.PublicKey), SeedKeyID(&other.PublicKey); len(a) != 16 || a == b {
		t.Fatalf("seed key ids %q, %q", a, b)
	}
	// The seed files stay exactly what the reference writes: no id line.
	if pub, _ := MarshalSeedPublicKey(&rsaKey.PublicKey); HasKeyIDLine(pub) || !bytes.HasPrefix(pub, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Fatalf("seed public key file changed:\n%s", pub)
	}
	if priv := MarshalSeedPrivateKey(rsaKey); !bytes.HasPrefix(priv, []byte("-----BEGIN RSA PRIVATE KEY-----\n")) {
		t.Fatalf("seed private key file changed:\n%s", priv)
	}
}
