// Package keyfile reads and writes the key files of CipherMQ's end-to-end
// encryption: the PEM forms that package envelope marshals and parses,
// stored with owner-only permissions for private keys. It is the file
// system half of key handling, kept out of envelope so that the envelope
// code stays free of I/O (docs/architecture.md, "Packages and imports").
package keyfile

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

// Key file permissions: private keys are readable by their owner only.
const (
	PrivateKeyPerm fs.FileMode = 0o600
	PublicKeyPerm  fs.FileMode = 0o644
)

// ErrExists: refusing to overwrite an existing key file; pass force to
// replace it.
var ErrExists = errors.New("keyfile: key file already exists")

// WriteKeyFile writes data to path with perm. Without force it refuses to
// replace an existing file (ErrExists). With force it writes a
// temporary file beside path and renames it over, so a reader never sees a
// half-written key and the final file has exactly perm (modulo umask).
func WriteKeyFile(path string, data []byte, perm fs.FileMode, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s (pass force to overwrite)", ErrExists, path)
		}
		if err != nil {
			return fmt.Errorf("keyfile: creating key file: %w", err)
		}
		return finishFile(f, data, path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("keyfile: creating key file: %w", err)
	}
	tmp := f.Name()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("keyfile: setting key file mode: %w", err)
	}
	if err := finishFile(f, data, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("keyfile: replacing key file: %w", err)
	}
	return nil
}

func finishFile(f *os.File, data []byte, name string) error {
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("keyfile: writing key file %s: %w", name, err)
	}
	return nil
}

// writePair writes a private and a public file, refusing up front when
// either exists (so a refused write leaves neither file half-replaced).
func writePair(privPath string, priv []byte, pubPath string, pub []byte, force bool) error {
	if !force {
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%w: %s (pass force to overwrite)", ErrExists, p)
			}
		}
	}
	if err := WriteKeyFile(privPath, priv, PrivateKeyPerm, force); err != nil {
		return err
	}
	return WriteKeyFile(pubPath, pub, PublicKeyPerm, force)
}

// WriteRecipientKeyFiles writes k's private (0600) and public (0644) files.
func WriteRecipientKeyFiles(privPath, pubPath string, k *envelope.RecipientPrivateKey, force bool) error {
	return writePair(privPath, envelope.MarshalRecipientPrivateKey(k), pubPath, envelope.MarshalRecipientPublicKey(k.Public()), force)
}

// WriteSigningKeyFiles writes k's private (0600) and public (0644) files.
func WriteSigningKeyFiles(privPath, pubPath string, k ed25519.PrivateKey, force bool) error {
	priv, err := envelope.MarshalSigningPrivateKey(k)
	if err != nil {
		return err
	}
	pub, err := envelope.MarshalSigningPublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	return writePair(privPath, priv, pubPath, pub, force)
}

// WriteSeedKeyFiles writes receiver_private.pem / receiver_public.pem style
// files for k (private 0600, public 0644).
func WriteSeedKeyFiles(privPath, pubPath string, k *rsa.PrivateKey, force bool) error {
	pub, err := envelope.MarshalSeedPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	return writePair(privPath, envelope.MarshalSeedPrivateKey(k), pubPath, pub, force)
}

// readKeyFile reads a key file, naming the path in errors.
func readKeyFile[T any](path string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("keyfile: reading key file: %w", err)
	}
	k, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadRecipientPrivateKey reads a recipient private key file.
func LoadRecipientPrivateKey(path string) (*envelope.RecipientPrivateKey, error) {
	return readKeyFile(path, envelope.ParseRecipientPrivateKey)
}

// LoadRecipientPublicKey reads a recipient public key file.
func LoadRecipientPublicKey(path string) (envelope.RecipientPublicKey, error) {
	return readKeyFile(path, envelope.ParseRecipientPublicKey)
}

// LoadSigningPrivateKey reads an Ed25519 private key file.
func LoadSigningPrivateKey(path string) (ed25519.PrivateKey, error) {
	return readKeyFile(path, envelope.ParseSigningPrivateKey)
}

// LoadSigningPublicKey reads an Ed25519 public key file.
func LoadSigningPublicKey(path string) (ed25519.PublicKey, error) {
	return readKeyFile(path, envelope.ParseSigningPublicKey)
}

// LoadSeedPrivateKey reads a reference receiver_private.pem.
func LoadSeedPrivateKey(path string) (*rsa.PrivateKey, error) {
	return readKeyFile(path, envelope.ParseSeedPrivateKey)
}

// LoadSeedPublicKey reads a reference receiver_public.pem.
func LoadSeedPublicKey(path string) (*rsa.PublicKey, error) {
	return readKeyFile(path, envelope.ParseSeedPublicKey)
}
