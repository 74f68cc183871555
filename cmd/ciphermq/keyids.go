package main

import (
	"crypto/ed25519"
	"crypto/rsa"
	"fmt"
	"io"
	"os"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

// Key ids: every key a command reads or writes is shown with its id (a short
// fingerprint of the public key, the same in the private and public file of
// a pair), so the two ends can compare what they use. Modern key files carry
// their id on a "Key-ID:" line that is checked when they are read (see
// docs/envelope.md §5); seed files and modern files written before that line
// existed are read with a warning that corruption cannot be detected.

func recipientID(k envelope.RecipientPublicKey) string       { return k.ID().Short() }
func recipientPrivID(k *envelope.RecipientPrivateKey) string { return k.ID().Short() }
func signerPrivID(k ed25519.PrivateKey) string {
	return envelope.SignerKeyID(k.Public().(ed25519.PublicKey))
}
func seedPubID(k *rsa.PublicKey) string   { return envelope.SeedKeyID(k) }
func seedPrivID(k *rsa.PrivateKey) string { return envelope.SeedKeyID(&k.PublicKey) }

// loadKey reads the key file at path with parse and prints "role: id (path)"
// on w, with a warning when the file carries no key id line.
func loadKey[T any](w io.Writer, role, path string, parse func([]byte) (T, error), id func(T) string) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", role, err)
	}
	k, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s %s: %w", role, path, err)
	}
	printKeyID(w, role, path, id(k), data)
	return k, nil
}

// printKeyID prints one key's id line, and the warning for unchecked files.
func printKeyID(w io.Writer, role, path, id string, data []byte) {
	fmt.Fprintf(w, "%s: key id %s (%s)\n", role, id, path)
	if envelope.HasKeyIDLine(data) {
		return
	}
	fmt.Fprintf(w, "  warning: %s has no Key-ID line (a seed file, or written before key ids existed), so a corrupted copy "+
		"cannot be detected: check that key id %s is the one its owner's ciphermq prints\n", path, id)
}
