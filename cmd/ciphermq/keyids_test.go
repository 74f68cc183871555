package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/clients/keyfile"
)

// flipBase64 replaces the character at offset i of the first PEM body line
// of the file with another base64 character.
func flipBase64(t *testing.T, path string, i int) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	begin := bytes.Index(data, []byte("-----BEGIN"))
	body := begin + bytes.IndexByte(data[begin:], '\n') + 1
	if data[body+i] == 'A' {
		data[body+i] = 'B'
	} else {
		data[body+i] = 'A'
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestKeygenSendAndRecvPrintTheKeyIDsTheyUse(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	out, err := keygen(t, "--dir", dir)
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	rk, err := keyfile.LoadRecipientPrivateKey(filepath.Join(dir, "receiver.key"))
	if err != nil {
		t.Fatal(err)
	}
	sk, err := keyfile.LoadSigningPrivateKey(filepath.Join(dir, "sender.key"))
	if err != nil {
		t.Fatal(err)
	}
	rid, sid := rk.ID().Short(), signerPrivID(sk)
	for _, want := range []string{"receiver.key key id " + rid, "receiver.pub key id " + rid, "sender.key key id " + sid, "sender.pub key id " + sid} {
		if !strings.Contains(out, want) {
			t.Errorf("keygen output lacks %q:\n%s", want, out)
		}
	}
	// No broker is needed to see the ids: they are printed before connecting.
	_, errOut, _ := runSendCmd(t, "", "--broker", "127.0.0.1:1", "--to-key", filepath.Join(dir, "receiver.pub"),
		"--sign-key", filepath.Join(dir, "sender.key"), "x")
	for _, want := range []string{"recipient key: key id " + rid, "signing key: key id " + sid} {
		if !strings.Contains(errOut, want) {
			t.Errorf("send stderr lacks %q:\n%s", want, errOut)
		}
	}
	if strings.Contains(errOut, "warning") {
		t.Errorf("send warned about files keygen just wrote:\n%s", errOut)
	}
	r := startRecv(t, "--broker", "127.0.0.1:1", "--key", filepath.Join(dir, "receiver.key"),
		"--trust", filepath.Join(dir, "sender.pub"), "--out", filepath.Join(t.TempDir(), "out.jsonl"))
	if err := r.wait(t); err == nil {
		t.Fatal("recv without a broker succeeded")
	}
	for _, want := range []string{"receiver key: key id " + rid, "trusted sender: key id " + sid} {
		if !strings.Contains(r.errOut.String(), want) {
			t.Errorf("recv stderr lacks %q:\n%s", want, r.errOut.String())
		}
	}
}

func TestACorruptedReceiverKeyIsRefusedAtStart(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	if out, err := keygen(t, "--dir", dir); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	priv := filepath.Join(dir, "receiver.key")
	flipBase64(t, priv, 10) // inside the 32-byte seed: still a valid key, another one
	r := startRecv(t, "--broker", "127.0.0.1:1", "--key", priv, "--trust", filepath.Join(dir, "sender.pub"),
		"--out", filepath.Join(t.TempDir(), "out.jsonl"))
	err := r.wait(t)
	if err == nil || !strings.Contains(err.Error(), "corrupted") || !strings.Contains(err.Error(), priv) {
		t.Fatalf("recv with a corrupted receiver.key: %v, want an error naming the file as corrupted", err)
	}
	if strings.Contains(err.Error(), "cannot reach broker") {
		t.Fatalf("the key must be refused before connecting: %v", err)
	}
	pub := filepath.Join(dir, "receiver.pub")
	flipBase64(t, pub, 20)
	_, _, err = runSendCmd(t, "", "--broker", "127.0.0.1:1", "--to-key", pub, "--sign-key", filepath.Join(dir, "sender.key"), "x")
	if err == nil || !strings.Contains(err.Error(), "corrupted") {
		t.Fatalf("send with a corrupted receiver.pub: %v", err)
	}
}

func TestOldKeyFilesWithoutKeyIDLineLoadWithAWarning(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	if out, err := keygen(t, "--dir", dir); err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	// Strip the Key-ID line, as files written before it existed.
	pub := filepath.Join(dir, "receiver.pub")
	data, _ := os.ReadFile(pub)
	if err := os.WriteFile(pub, regexp.MustCompile(`(?m)^Key-ID: .*\n`).ReplaceAll(data, nil), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runSendCmd(t, "", "--broker", "127.0.0.1:1", "--to-key", pub, "--sign-key", filepath.Join(dir, "sender.key"), "x")
	if err == nil || !strings.Contains(err.Error(), "cannot reach broker") {
		t.Fatalf("send with an old receiver.pub must get as far as connecting: %v", err)
	}
	if !strings.Contains(errOut, "warning: "+pub+" has no Key-ID line") {
		t.Fatalf("no warning for a file without a Key-ID line:\n%s", errOut)
	}
}

func TestSeedKeyFilesStayReferenceFilesAndShowTheirID(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	out, err := keygen(t, "--format", "seed", "--dir", dir)
	if err != nil {
		t.Fatalf("keygen: %v\n%s", err, out)
	}
	pubPath := filepath.Join(dir, "receiver_public.pem")
	data, _ := os.ReadFile(pubPath)
	if !bytes.HasPrefix(data, []byte("-----BEGIN PUBLIC KEY-----\n")) {
		t.Fatalf("seed public key is not a bare PEM file:\n%s", data)
	}
	pub, err := keyfile.LoadSeedPublicKey(pubPath)
	if err != nil {
		t.Fatal(err)
	}
	if id := seedPubID(pub); !strings.Contains(out, "receiver_public.pem key id "+id) {
		t.Fatalf("keygen does not print the seed key id %s:\n%s", id, out)
	}
}
