package keyfile

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

func TestGenerateModernWritesTwoPairsThatWorkTogether(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "keys") // created
	files, err := Generate(GenerateOptions{Format: envelope.FormatSession, Dir: dir, Name: "r", SenderName: "s"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"r.key", "r.pub", "s.key", "s.pub"}
	if len(files) != len(want) {
		t.Fatalf("files = %+v", files)
	}
	for i, f := range files {
		if f.Path != filepath.Join(dir, want[i]) || f.Role == "" || f.ID == "" {
			t.Errorf("file %d = %+v, want path %s with a role and an id", i, f, want[i])
		}
	}
	rk, err := LoadRecipientPrivateKey(files[0].Path)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := LoadSigningPrivateKey(files[2].Path)
	if err != nil {
		t.Fatal(err)
	}
	if files[0].ID != rk.ID().Short() || files[1].ID != files[0].ID {
		t.Errorf("receiver ids %q %q, the key's id is %q", files[0].ID, files[1].ID, rk.ID().Short())
	}
	if sid := envelope.SignerKeyID(sk.Public().(ed25519.PublicKey)); files[2].ID != sid || files[3].ID != sid {
		t.Errorf("sender ids %q %q, the key's id is %q", files[2].ID, files[3].ID, sid)
	}
	if st, err := os.Stat(files[0].Path); err != nil || st.Mode().Perm() != PrivateKeyPerm {
		t.Errorf("private key mode: %v %v", st, err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("created directory mode: %v %v", st, err)
	}
}

func TestGenerateSeedWritesThePEMPair(t *testing.T) {
	if testing.Short() {
		t.Skip("RSA-2048 key generation is slow under -short")
	}
	dir := t.TempDir()
	files, err := Generate(GenerateOptions{Format: envelope.FormatSeed, Dir: dir, Name: "receiver"})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files[0].Path != filepath.Join(dir, "receiver_private.pem") || files[1].Path != filepath.Join(dir, "receiver_public.pem") {
		t.Fatalf("files = %+v", files)
	}
	pub, err := LoadSeedPublicKey(files[1].Path)
	if err != nil {
		t.Fatal(err)
	}
	if id := envelope.SeedKeyID(pub); files[0].ID != id || files[1].ID != id {
		t.Errorf("ids %q %q, the key's id is %q", files[0].ID, files[1].ID, id)
	}
}

func TestGenerateRefusesBeforeWritingAnything(t *testing.T) {
	dir := t.TempDir()
	// Only the sender's public file exists: nothing may be written.
	if err := os.WriteFile(filepath.Join(dir, "sender.pub"), []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Generate(GenerateOptions{Format: envelope.FormatSession, Dir: dir, Name: "receiver", SenderName: "sender"})
	if err == nil || !strings.Contains(err.Error(), "sender.pub already exists") || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("err = %v, want a refusal naming sender.pub and --force", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "receiver.key")); !os.IsNotExist(err) {
		t.Fatalf("receiver.key written despite the refusal: %v", err)
	}
	// With Force the old file is replaced.
	files, err := Generate(GenerateOptions{Format: envelope.FormatSession, Dir: dir, Name: "receiver", SenderName: "sender", Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadSigningPublicKey(files[3].Path); err != nil {
		t.Fatalf("sender.pub after --force: %v", err)
	}
}

func TestGenerateBadOptions(t *testing.T) {
	dir := t.TempDir()
	for _, o := range []GenerateOptions{
		{Format: envelope.FormatSession, Dir: dir, Name: "a/b", SenderName: "s"},
		{Format: envelope.FormatSession, Dir: dir, Name: "r", SenderName: ""},
		{Format: envelope.FormatSession, Dir: dir, Name: "", SenderName: "s"},
		{Format: envelope.FormatUnknown, Dir: dir, Name: "r", SenderName: "s"},
	} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v) succeeded", o)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("bad options wrote %d files", len(entries))
	}
	// A directory that cannot be created is named in the error.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(GenerateOptions{Format: envelope.FormatSession, Dir: filepath.Join(file, "keys"), Name: "r", SenderName: "s"}); err == nil || !strings.Contains(err.Error(), "create key directory") {
		t.Fatalf("err = %v", err)
	}
}
