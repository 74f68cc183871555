package envelope

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/pem"
	"fmt"
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
