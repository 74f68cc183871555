package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/clients/keyfile"
)

func keygen(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newKeygenCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	err := cmd.Execute()
	return out.String(), err
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Mode().Perm()
}

func TestKeygenModernWritesUsableKeysWithPrivateModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	out, err := keygen(t, "--dir", dir)
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	for name, want := range map[string]os.FileMode{"receiver.key": 0o600, "sender.key": 0o600, "receiver.pub": 0o644, "sender.pub": 0o644} {
		if got := mode(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s mode = %o, want %o", name, got, want)
		}
	}
	if !strings.Contains(out, "receiver.key") || !strings.Contains(out, "ciphermq recv --key") || !strings.Contains(out, "--trust") {
		t.Errorf("output must list the files and say what to do next:\n%s", out)
	}
	// The files are real keys that fit together.
	rk, err := keyfile.LoadRecipientPrivateKey(filepath.Join(dir, "receiver.key"))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := keyfile.LoadRecipientPublicKey(filepath.Join(dir, "receiver.pub"))
	if err != nil {
		t.Fatal(err)
	}
	if rk.ID() != pub.ID() {
		t.Error("receiver.pub does not belong to receiver.key")
	}
	if _, err := keyfile.LoadSigningPrivateKey(filepath.Join(dir, "sender.key")); err != nil {
		t.Fatal(err)
	}
	if _, err := keyfile.LoadSigningPublicKey(filepath.Join(dir, "sender.pub")); err != nil {
		t.Fatal(err)
	}
}

func TestKeygenRefusesToOverwriteWithoutForce(t *testing.T) {
	dir := t.TempDir()
	if _, err := keygen(t, "--dir", dir); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(dir, "receiver.key"))
	// Only the sender key exists under a new receiver name: still refused,
	// and nothing is written.
	_, err := keygen(t, "--dir", dir, "--name", "other")
	if err == nil || !strings.Contains(err.Error(), "sender.key already exists") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("keygen over an existing sender key: %v, want a refusal naming the file and --force", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "other.key")); err == nil {
		t.Error("a refused keygen wrote other.key")
	}
	_, err = keygen(t, "--dir", dir)
	if err == nil || !strings.Contains(err.Error(), "receiver.key already exists") {
		t.Fatalf("second keygen: %v, want refusal", err)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "receiver.key"))
	if !bytes.Equal(before, after) {
		t.Fatal("a refused keygen changed receiver.key")
	}
	if _, err := keygen(t, "--dir", dir, "--force"); err != nil {
		t.Fatalf("keygen --force: %v", err)
	}
	forced, _ := os.ReadFile(filepath.Join(dir, "receiver.key"))
	if bytes.Equal(before, forced) {
		t.Fatal("keygen --force did not replace the key")
	}
	if got := mode(t, filepath.Join(dir, "receiver.key")); got != 0o600 {
		t.Errorf("replaced key mode = %o, want 600", got)
	}
}

func TestKeygenSeedWritesReferenceFiles(t *testing.T) {
	dir := t.TempDir()
	out, err := keygen(t, "--format", "seed", "--dir", dir)
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	if got := mode(t, filepath.Join(dir, "receiver_private.pem")); got != 0o600 {
		t.Errorf("receiver_private.pem mode = %o, want 600", got)
	}
	if _, err := keyfile.LoadSeedPrivateKey(filepath.Join(dir, "receiver_private.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := keyfile.LoadSeedPublicKey(filepath.Join(dir, "receiver_public.pem")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "sender.key")); err == nil {
		t.Error("seed keygen wrote a sender key; the seed format has none")
	}
}

func TestKeygenBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--format", "rot13"},
		{"--name", "a/b"},
		{"extra-arg"},
	} {
		if _, err := keygen(t, append(args, "--dir", t.TempDir())...); err == nil {
			t.Errorf("keygen %v succeeded, want an error", args)
		}
	}
}
