package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

func testRand(seed uint64) io.Reader {
	var s [32]byte
	for i := range 8 {
		s[i] = byte(seed >> (8 * i))
	}
	return rand.NewChaCha8(s)
}

func mustRecipient(t testing.TB, seed uint64) *envelope.RecipientPrivateKey {
	t.Helper()
	k, err := envelope.GenerateRecipientKey(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustSigner(t testing.TB, seed uint64) ed25519.PrivateKey {
	t.Helper()
	k, err := envelope.GenerateSigningKey(testRand(seed))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pubOf(k ed25519.PrivateKey) ed25519.PublicKey { return k.Public().(ed25519.PublicKey) }

// RSA generation is slow and cannot be seeded: one key serves the binary.
var seedKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return envelope.GenerateSeedKey(nil) })

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
}

func TestSeedKeyFilesRoundTrip(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "receiver_private.pem"), filepath.Join(dir, "receiver_public.pem")
	k, err := seedKey()
	if err != nil {
		t.Fatal(err)
	}
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
}

func TestKeyFilesRefuseOverwriteUnlessForced(t *testing.T) {
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "r.key"), filepath.Join(dir, "r.pub")
	a, b := mustRecipient(t, 1), mustRecipient(t, 2)
	if err := WriteRecipientKeyFiles(priv, pub, a, false); err != nil {
		t.Fatal(err)
	}
	if err := WriteRecipientKeyFiles(priv, pub, b, false); !errors.Is(err, ErrExists) {
		t.Fatalf("second write: err %v, want ErrExists", err)
	}
	if k, _ := LoadRecipientPrivateKey(priv); k.ID() != a.ID() {
		t.Fatal("refused write changed the private key")
	}
	// Only the public file exists: still refused, and nothing is written.
	os.Remove(priv)
	if err := WriteRecipientKeyFiles(priv, pub, b, false); !errors.Is(err, ErrExists) {
		t.Fatalf("public exists: err %v, want ErrExists", err)
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

func TestLoadErrorsNameTheFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadRecipientPrivateKey(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadSigningPrivateKey(bad)
	if !errors.Is(err, envelope.ErrNotPEM) || !bytes.Contains([]byte(err.Error()), []byte(bad)) {
		t.Errorf("not PEM: err %v, want ErrNotPEM naming %s", err, bad)
	}
}

// TestOpenSSLReadsSigningKeysWithTheirKeyIDLine: the key id line is RFC
// 7468 explanatory text, which standard PEM readers skip.
func TestOpenSSLReadsSigningKeysWithTheirKeyIDLine(t *testing.T) {
	bin, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not on PATH, so no independent reader can check the key files (.ci/run installs openssl, so CI runs this)")
	}
	dir := t.TempDir()
	priv, pub := filepath.Join(dir, "sender.key"), filepath.Join(dir, "sender.pub")
	sk := mustSigner(t, 11)
	if err := WriteSigningKeyFiles(priv, pub, sk, false); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "pkey", "-in", priv, "-pubout").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkey on the private key: %v\n%s", err, out)
	}
	got, err := envelope.ParseSigningPublicKey(out)
	if err != nil || !got.Equal(pubOf(sk)) {
		t.Fatalf("openssl derived another public key (%v):\n%s", err, out)
	}
	if out, err := exec.Command(bin, "pkey", "-pubin", "-in", pub, "-noout").CombinedOutput(); err != nil {
		t.Fatalf("openssl pkey on the public key: %v\n%s", err, out)
	}
}
