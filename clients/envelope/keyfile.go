package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// PEM block types. Recipient (HPKE) keys have no standard container yet, so
// they use our own block types whose body is KEM id (2 bytes, big endian)
// followed by the KEM's serialised key. Ed25519 keys use the standard
// PKCS#8 / PKIX containers so that openssl and other tools read them. The
// seed format uses the reference's PKCS#1 private / SPKI public files.
const (
	PEMRecipientPrivate = "CIPHERMQ HPKE PRIVATE KEY"
	PEMRecipientPublic  = "CIPHERMQ HPKE PUBLIC KEY"
	PEMPKCS8Private     = "PRIVATE KEY"
	PEMPKIXPublic       = "PUBLIC KEY"
	PEMRSAPrivate       = "RSA PRIVATE KEY"
)

// Key file permissions: private keys are readable by their owner only.
const (
	PrivateKeyPerm fs.FileMode = 0o600
	PublicKeyPerm  fs.FileMode = 0o644
)

// ---- encoding ----

// MarshalRecipientPrivateKey returns the PEM form of k, preceded by the key
// id line of its public key.
func MarshalRecipientPrivateKey(k *RecipientPrivateKey) []byte {
	body := binary.BigEndian.AppendUint16(nil, suiteKEM)
	return withKeyIDLine(k.ID().Short(), pem.EncodeToMemory(&pem.Block{Type: PEMRecipientPrivate, Bytes: append(body, k.seed...)}))
}

// MarshalRecipientPublicKey returns the PEM form of k, preceded by its key
// id line.
func MarshalRecipientPublicKey(k RecipientPublicKey) []byte {
	body := binary.BigEndian.AppendUint16(nil, suiteKEM)
	return withKeyIDLine(k.ID().Short(), pem.EncodeToMemory(&pem.Block{Type: PEMRecipientPublic, Bytes: append(body, k.Bytes()...)}))
}

// MarshalSigningPrivateKey returns k as a PKCS#8 "PRIVATE KEY" PEM block,
// preceded by the key id line of its public key.
func MarshalSigningPrivateKey(k ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	id := SignerKeyID(k.Public().(ed25519.PublicKey))
	return withKeyIDLine(id, pem.EncodeToMemory(&pem.Block{Type: PEMPKCS8Private, Bytes: der})), nil
}

// MarshalSigningPublicKey returns k as a PKIX "PUBLIC KEY" PEM block,
// preceded by its key id line.
func MarshalSigningPublicKey(k ed25519.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return withKeyIDLine(SignerKeyID(k), pem.EncodeToMemory(&pem.Block{Type: PEMPKIXPublic, Bytes: der})), nil
}

// MarshalSeedPrivateKey returns k as PKCS#1 "RSA PRIVATE KEY", like RSA.py.
func MarshalSeedPrivateKey(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: PEMRSAPrivate, Bytes: x509.MarshalPKCS1PrivateKey(k)})
}

// MarshalSeedPublicKey returns k as SubjectPublicKeyInfo "PUBLIC KEY", like RSA.py.
func MarshalSeedPublicKey(k *rsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMPKIXPublic, Bytes: der}), nil
}

// ---- key id lines ----

// KeyIDLinePrefix starts the line that modern key files carry before their
// PEM block (RFC 7468 explanatory text, which PEM readers such as openssl
// skip): "Key-ID: " and the short id of the public key (of the key pair, in
// a private key file). Reading a file that has the line re-derives the id
// from the key and refuses the file when they differ (ErrKeyCorrupted), so
// a changed character, which usually still decodes to another valid key, is
// caught when the key is loaded rather than as messages that cannot be
// opened. Seed (reference RSA) files are written without the line, byte for
// byte as the reference writes them.
const KeyIDLinePrefix = "Key-ID: "

func withKeyIDLine(id string, block []byte) []byte {
	return append([]byte(KeyIDLinePrefix+id+"\n"), block...)
}

// declaredKeyID returns the id on the file's key id line, if it has one
// before its first PEM block.
func declaredKeyID(data []byte) (string, bool) {
	head := data
	if i := bytes.Index(data, []byte("-----BEGIN")); i >= 0 {
		head = data[:i]
	}
	for _, line := range strings.Split(string(head), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), strings.TrimSpace(KeyIDLinePrefix)); ok {
			return strings.TrimSpace(v), true
		}
	}
	return "", false
}

// HasKeyIDLine reports whether a key file carries a key id line, that is
// whether loading it checks the key against the id (files written before
// key id lines existed, and seed files, do not).
func HasKeyIDLine(data []byte) bool {
	_, ok := declaredKeyID(data)
	return ok
}

// checkKeyID compares the file's key id line, if any, with the id derived
// from the key it holds.
func checkKeyID(data []byte, derived string) error {
	declared, ok := declaredKeyID(data)
	if !ok || declared == derived {
		return nil
	}
	return fmt.Errorf("%w: the file says key id %s but its key has id %s; "+
		"restore the file from a copy (a private key cannot be recovered otherwise)", ErrKeyCorrupted, declared, derived)
}

// ---- decoding ----

// decodePEM returns the first PEM block, which must have one of the types.
func decodePEM(data []byte, what string, types ...string) (*pem.Block, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("%w: expected a %s", ErrNotPEM, what)
	}
	for _, t := range types {
		if b.Type == t {
			return b, nil
		}
	}
	hint := ""
	switch {
	case len(types) > 0 && isPrivateType(types[0]) && !isPrivateType(b.Type):
		hint = ": this is a public key, a private key is needed here"
	case len(types) > 0 && !isPrivateType(types[0]) && isPrivateType(b.Type):
		hint = ": this is a private key, give the public key file instead (never share private keys)"
	}
	return nil, fmt.Errorf("%w: found %q, expected a %s (%q)%s", ErrWrongPEMType, b.Type, what, types[0], hint)
}

func isPrivateType(t string) bool {
	return t == PEMRecipientPrivate || t == PEMPKCS8Private || t == PEMRSAPrivate
}

// kemBody strips and checks the KEM id prefix of our own PEM bodies.
func kemBody(b []byte) ([]byte, error) {
	if len(b) < 2 {
		return nil, fmt.Errorf("%w: %d-byte key body", ErrInvalidKey, len(b))
	}
	if id := binary.BigEndian.Uint16(b); id != suiteKEM {
		return nil, fmt.Errorf("%w: KEM id 0x%04x, this build supports 0x%04x (MLKEM768-X25519)", ErrInvalidKey, id, suiteKEM)
	}
	return b[2:], nil
}

// ParseRecipientPrivateKey parses a "CIPHERMQ HPKE PRIVATE KEY" PEM block.
func ParseRecipientPrivateKey(data []byte) (*RecipientPrivateKey, error) {
	b, err := decodePEM(data, "recipient private key", PEMRecipientPrivate)
	if err != nil {
		return nil, err
	}
	body, err := kemBody(b.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := NewRecipientPrivateKey(body)
	if err != nil {
		return nil, err
	}
	if err := checkKeyID(data, k.ID().Short()); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseRecipientPublicKey parses a "CIPHERMQ HPKE PUBLIC KEY" PEM block.
func ParseRecipientPublicKey(data []byte) (RecipientPublicKey, error) {
	b, err := decodePEM(data, "recipient public key", PEMRecipientPublic)
	if err != nil {
		return RecipientPublicKey{}, err
	}
	body, err := kemBody(b.Bytes)
	if err != nil {
		return RecipientPublicKey{}, err
	}
	k, err := NewRecipientPublicKey(body)
	if err != nil {
		return RecipientPublicKey{}, err
	}
	if err := checkKeyID(data, k.ID().Short()); err != nil {
		return RecipientPublicKey{}, err
	}
	return k, nil
}

// ParseSigningPrivateKey parses a PKCS#8 Ed25519 private key.
func ParseSigningPrivateKey(data []byte) (ed25519.PrivateKey, error) {
	b, err := decodePEM(data, "Ed25519 private key", PEMPKCS8Private)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	ek, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: PKCS#8 key is a %T, expected Ed25519", ErrInvalidKey, k)
	}
	if err := checkKeyID(data, SignerKeyID(ek.Public().(ed25519.PublicKey))); err != nil {
		return nil, err
	}
	return ek, nil
}

// ParseSigningPublicKey parses a PKIX Ed25519 public key.
func ParseSigningPublicKey(data []byte) (ed25519.PublicKey, error) {
	b, err := decodePEM(data, "Ed25519 public key", PEMPKIXPublic)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	ek, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: public key is a %T, expected Ed25519", ErrInvalidKey, k)
	}
	if err := checkKeyID(data, SignerKeyID(ek)); err != nil {
		return nil, err
	}
	return ek, nil
}

// ParseSeedPrivateKey parses the reference receiver_private.pem (PKCS#1
// "RSA PRIVATE KEY"; PKCS#8 "PRIVATE KEY" holding RSA is accepted too).
func ParseSeedPrivateKey(data []byte) (*rsa.PrivateKey, error) {
	b, err := decodePEM(data, "RSA private key", PEMRSAPrivate, PEMPKCS8Private)
	if err != nil {
		return nil, err
	}
	var k *rsa.PrivateKey
	if b.Type == PEMRSAPrivate {
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	} else {
		var parsed any
		parsed, err = x509.ParsePKCS8PrivateKey(b.Bytes)
		if err == nil {
			var ok bool
			if k, ok = parsed.(*rsa.PrivateKey); !ok {
				return nil, fmt.Errorf("%w: PKCS#8 key is a %T, expected RSA", ErrInvalidKey, parsed)
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	if k.N.BitLen() < MinSeedRSABits {
		return nil, fmt.Errorf("%w: RSA key has %d bits, at least %d required", ErrInvalidKey, k.N.BitLen(), MinSeedRSABits)
	}
	if err := checkKeyID(data, SeedKeyID(&k.PublicKey)); err != nil {
		return nil, err
	}
	return k, nil
}

// ParseSeedPublicKey parses the reference receiver_public.pem (SPKI).
func ParseSeedPublicKey(data []byte) (*rsa.PublicKey, error) {
	b, err := decodePEM(data, "RSA public key", PEMPKIXPublic)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKIXPublicKey(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: public key is a %T, expected RSA", ErrInvalidKey, k)
	}
	if rk.N.BitLen() < MinSeedRSABits {
		return nil, fmt.Errorf("%w: RSA key has %d bits, at least %d required", ErrInvalidKey, rk.N.BitLen(), MinSeedRSABits)
	}
	if err := checkKeyID(data, SeedKeyID(rk)); err != nil {
		return nil, err
	}
	return rk, nil
}

// ---- files ----

// WriteKeyFile writes data to path with perm. Without force it refuses to
// replace an existing file (ErrKeyFileExists). With force it writes a
// temporary file beside path and renames it over, so a reader never sees a
// half-written key and the final file has exactly perm (modulo umask).
func WriteKeyFile(path string, data []byte, perm fs.FileMode, force bool) error {
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s (pass force to overwrite)", ErrKeyFileExists, path)
		}
		if err != nil {
			return fmt.Errorf("envelope: creating key file: %w", err)
		}
		return finishFile(f, data, path)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("envelope: creating key file: %w", err)
	}
	tmp := f.Name()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("envelope: setting key file mode: %w", err)
	}
	if err := finishFile(f, data, tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("envelope: replacing key file: %w", err)
	}
	return nil
}

func finishFile(f *os.File, data []byte, name string) error {
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("envelope: writing key file %s: %w", name, err)
	}
	return nil
}

// writePair writes a private and a public file, refusing up front when
// either exists (so a refused write leaves neither file half-replaced).
func writePair(privPath string, priv []byte, pubPath string, pub []byte, force bool) error {
	if !force {
		for _, p := range []string{privPath, pubPath} {
			if _, err := os.Lstat(p); err == nil {
				return fmt.Errorf("%w: %s (pass force to overwrite)", ErrKeyFileExists, p)
			}
		}
	}
	if err := WriteKeyFile(privPath, priv, PrivateKeyPerm, force); err != nil {
		return err
	}
	return WriteKeyFile(pubPath, pub, PublicKeyPerm, force)
}

// WriteRecipientKeyFiles writes k's private (0600) and public (0644) files.
func WriteRecipientKeyFiles(privPath, pubPath string, k *RecipientPrivateKey, force bool) error {
	return writePair(privPath, MarshalRecipientPrivateKey(k), pubPath, MarshalRecipientPublicKey(k.Public()), force)
}

// WriteSigningKeyFiles writes k's private (0600) and public (0644) files.
func WriteSigningKeyFiles(privPath, pubPath string, k ed25519.PrivateKey, force bool) error {
	priv, err := MarshalSigningPrivateKey(k)
	if err != nil {
		return err
	}
	pub, err := MarshalSigningPublicKey(k.Public().(ed25519.PublicKey))
	if err != nil {
		return err
	}
	return writePair(privPath, priv, pubPath, pub, force)
}

// WriteSeedKeyFiles writes receiver_private.pem / receiver_public.pem style
// files for k (private 0600, public 0644).
func WriteSeedKeyFiles(privPath, pubPath string, k *rsa.PrivateKey, force bool) error {
	pub, err := MarshalSeedPublicKey(&k.PublicKey)
	if err != nil {
		return err
	}
	return writePair(privPath, MarshalSeedPrivateKey(k), pubPath, pub, force)
}

// readKeyFile reads a key file, naming the path in errors.
func readKeyFile[T any](path string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	data, err := os.ReadFile(path)
	if err != nil {
		return zero, fmt.Errorf("envelope: reading key file: %w", err)
	}
	k, err := parse(data)
	if err != nil {
		return zero, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// LoadRecipientPrivateKey reads a recipient private key file.
func LoadRecipientPrivateKey(path string) (*RecipientPrivateKey, error) {
	return readKeyFile(path, ParseRecipientPrivateKey)
}

// LoadRecipientPublicKey reads a recipient public key file.
func LoadRecipientPublicKey(path string) (RecipientPublicKey, error) {
	return readKeyFile(path, ParseRecipientPublicKey)
}

// LoadSigningPrivateKey reads an Ed25519 private key file.
func LoadSigningPrivateKey(path string) (ed25519.PrivateKey, error) {
	return readKeyFile(path, ParseSigningPrivateKey)
}

// LoadSigningPublicKey reads an Ed25519 public key file.
func LoadSigningPublicKey(path string) (ed25519.PublicKey, error) {
	return readKeyFile(path, ParseSigningPublicKey)
}

// LoadSeedPrivateKey reads a reference receiver_private.pem.
func LoadSeedPrivateKey(path string) (*rsa.PrivateKey, error) {
	return readKeyFile(path, ParseSeedPrivateKey)
}

// LoadSeedPublicKey reads a reference receiver_public.pem.
func LoadSeedPublicKey(path string) (*rsa.PublicKey, error) {
	return readKeyFile(path, ParseSeedPublicKey)
}
