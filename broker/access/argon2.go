package access

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the cost parameters of an argon2id password hash.
type Argon2Params struct {
	Memory  uint32 // memory per hash, in KiB
	Time    uint32 // passes over the memory
	Threads uint8  // lanes (parallelism)
	SaltLen uint32 // salt length in bytes
	KeyLen  uint32 // derived key (hash) length in bytes
}

// DefaultArgon2Params are the parameters new password hashes get: argon2id
// with m=19456 KiB (19 MiB), t=2, p=1, a 16-byte salt and a 32-byte hash.
//
// Source: the OWASP Password Storage Cheat Sheet's argon2id minimum
// configuration ("m=19456 (19 MiB), t=2, p=1"), one of the equivalent
// memory/time trade-offs it lists beside RFC 9106's recommendations; the
// salt and hash lengths are RFC 9106's (section 4: 128-bit salt, 256-bit
// tag).
//
// Why this point and not RFC 9106's first recommendation (2 GiB): the
// broker verifies passwords at connection time on a bounded pool of
// verification slots, and each verification holds Memory KiB for its whole
// duration, so Memory × slots bounds what password checks add to the
// broker's RSS (19 MiB × 8 slots ≈ 152 MiB). A larger Memory makes every
// login, and every login storm, proportionally more expensive for the
// broker itself. Hashes carry their parameters, so raising the defaults
// later only affects new hashes (ciphermq user passwd re-hashes).
var DefaultArgon2Params = Argon2Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds ParsePHC and HashPassword enforce on parameters, so that a hostile
// users file or hash string cannot make the broker allocate unbounded
// memory or spin for minutes on one login.
const (
	MaxArgon2Memory  = 1 << 20 // KiB (1 GiB); the minimum is 8 KiB per thread, as argon2 requires
	MaxArgon2Time    = 16      // passes; OWASP's configurations use 1 to 5
	MaxArgon2Threads = 16
	MinArgon2SaltLen = 8 // bytes; RFC 9106 requires at least 8
	MaxArgon2SaltLen = 64
	MinArgon2KeyLen  = 16 // bytes
	MaxArgon2KeyLen  = 64
)

// argon2Version is the only argon2 version accepted (0x13, "v=19").
const argon2Version = argon2.Version

// b64 is the PHC string format's base64: standard alphabet, no padding.
// Strict refuses encodings with non-zero trailing bits, so each hash has
// exactly one accepted spelling.
var b64 = base64.RawStdEncoding.Strict()

// Validate reports whether p is inside the accepted bounds, naming the
// first field that is not.
func (p Argon2Params) Validate() error {
	switch {
	case p.Threads < 1 || p.Threads > MaxArgon2Threads:
		return fmt.Errorf("argon2id parameter p (threads) = %d: must be 1..%d", p.Threads, MaxArgon2Threads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxArgon2Memory:
		return fmt.Errorf("argon2id parameter m (memory) = %d KiB: must be %d..%d KiB (at least 8 KiB per thread, at most 1 GiB)",
			p.Memory, 8*uint32(p.Threads), MaxArgon2Memory)
	case p.Time < 1 || p.Time > MaxArgon2Time:
		return fmt.Errorf("argon2id parameter t (time) = %d: must be 1..%d", p.Time, MaxArgon2Time)
	case p.SaltLen < MinArgon2SaltLen || p.SaltLen > MaxArgon2SaltLen:
		return fmt.Errorf("argon2id salt length %d bytes: must be %d..%d", p.SaltLen, MinArgon2SaltLen, MaxArgon2SaltLen)
	case p.KeyLen < MinArgon2KeyLen || p.KeyLen > MaxArgon2KeyLen:
		return fmt.Errorf("argon2id hash length %d bytes: must be %d..%d", p.KeyLen, MinArgon2KeyLen, MaxArgon2KeyLen)
	}
	return nil
}

// PHC is a parsed argon2id PHC string.
type PHC struct {
	Params Argon2Params // SaltLen and KeyLen are len(Salt) and len(Hash)
	Salt   []byte
	Hash   []byte
}

// String returns the PHC string form:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<threads>$<salt>$<hash>, with salt
// and hash in unpadded standard base64.
func (h PHC) String() string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2Version,
		h.Params.Memory, h.Params.Time, h.Params.Threads, b64.EncodeToString(h.Salt), b64.EncodeToString(h.Hash))
}

// HashPassword hashes password with argon2id under p and salt, and returns
// the PHC string. The salt must be len p.SaltLen and come from a
// cryptographic random source (the caller's: this package has none).
func HashPassword(password, salt []byte, p Argon2Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	if uint32(len(salt)) != p.SaltLen {
		return "", fmt.Errorf("argon2id salt is %d bytes, the parameters say %d", len(salt), p.SaltLen)
	}
	key := argon2.IDKey(password, salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return PHC{Params: p, Salt: append([]byte(nil), salt...), Hash: key}.String(), nil
}

// ParsePHC parses an argon2id PHC string strictly: algorithm argon2id,
// version v=19, parameters exactly m, t and p in that order as plain
// decimals, each inside the bounds (see Argon2Params.Validate), and salt and
// hash in canonical unpadded standard base64 of accepted lengths. Anything
// else is refused with an error naming the offending field.
func ParsePHC(s string) (PHC, error) {
	var h PHC
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return h, fmt.Errorf("password hash: not a PHC string of the form $argon2id$v=19$m=...,t=...,p=...$<salt>$<hash> (%d '$'-separated fields, want 5)", len(parts)-1)
	}
	if parts[1] != "argon2id" {
		return h, fmt.Errorf("password hash: algorithm %q: only argon2id is accepted", clip(parts[1]))
	}
	v, ok := strings.CutPrefix(parts[2], "v=")
	if !ok {
		return h, fmt.Errorf("password hash: version field %q: want v=19", clip(parts[2]))
	}
	if n, err := parseDecimal(v); err != nil || n != argon2Version {
		return h, fmt.Errorf("password hash: version %q: only v=19 (argon2 1.3) is accepted", clip(v))
	}
	params := strings.Split(parts[3], ",")
	names := [3]string{"m", "t", "p"}
	if len(params) != len(names) {
		return h, fmt.Errorf("password hash: parameters %q: want exactly m=<KiB>,t=<passes>,p=<threads>", clip(parts[3]))
	}
	var vals [3]uint32
	for i, kv := range params {
		val, ok := strings.CutPrefix(kv, names[i]+"=")
		if !ok {
			return h, fmt.Errorf("password hash: parameter %d is %q: want %s=<number> (order m, t, p)", i+1, clip(kv), names[i])
		}
		n, err := parseDecimal(val)
		if err != nil {
			return h, fmt.Errorf("password hash: parameter %s: %w", names[i], err)
		}
		vals[i] = n
	}
	if vals[2] > MaxArgon2Threads {
		return h, fmt.Errorf("argon2id parameter p (threads) = %d: must be 1..%d", vals[2], MaxArgon2Threads)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return h, fmt.Errorf("password hash: salt: not unpadded standard base64: %v", err)
	}
	hash, err := b64.DecodeString(parts[5])
	if err != nil {
		return h, fmt.Errorf("password hash: hash: not unpadded standard base64: %v", err)
	}
	h.Params = Argon2Params{Memory: vals[0], Time: vals[1], Threads: uint8(vals[2]), SaltLen: uint32(len(salt)), KeyLen: uint32(len(hash))}
	if err := h.Params.Validate(); err != nil {
		return PHC{}, fmt.Errorf("password hash: %w", err)
	}
	h.Salt, h.Hash = salt, hash
	return h, nil
}

// parseDecimal parses a PHC decimal: ASCII digits, no sign, no leading
// zero (so each value has one spelling), fitting in 32 bits.
func parseDecimal(s string) (uint32, error) {
	if s == "" {
		return 0, errors.New("empty number")
	}
	if len(s) > 1 && s[0] == '0' {
		return 0, fmt.Errorf("%q: leading zero", clip(s))
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%q: not a decimal number", clip(s))
		}
	}
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%q: out of range", clip(s))
	}
	return uint32(n), nil
}

// clip shortens s for an error message, so a hostile input cannot make
// errors (and logs) arbitrarily long.
func clip(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// VerifyPassword reports whether password matches the PHC string phc. The
// comparison of the derived key is constant-time. An error means phc itself
// is not an accepted hash (see ParsePHC), never that the password is wrong.
//
// The cost is the hash's own parameters (bounded by ParsePHC); callers
// should run it on a bounded pool, and for an unknown user verify against
// DummyPHC() so that unknown users and wrong passwords take the same time.
func VerifyPassword(phc string, password []byte) (bool, error) {
	h, err := ParsePHC(phc)
	if err != nil {
		return false, err
	}
	key := argon2.IDKey(password, h.Salt, h.Params.Time, h.Params.Memory, h.Params.Threads, h.Params.KeyLen)
	return subtle.ConstantTimeCompare(key, h.Hash) == 1, nil
}

// dummyPHC has DefaultArgon2Params, the fixed salt "cmq-dummy-salt-1" and an all-zero hash: no
// password is known to match it (finding one means inverting argon2id).
const dummyPHC = "$argon2id$v=19$m=19456,t=2,p=1$Y21xLWR1bW15LXNhbHQtMQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// DummyPHC returns a valid PHC string with DefaultArgon2Params that no
// real password matches. A login for a user that does not exist (or has no
// password) verifies against it and is then refused whatever the result,
// so that it costs the same time as a wrong password for a real user and
// the response time does not reveal which user names exist.
func DummyPHC() string { return dummyPHC }
