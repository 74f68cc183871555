package access

import (
	"bytes"
	"strings"
	"testing"
)

// testSalt is a fixed 16-byte salt for tests (real salts come from
// crypto/rand in the caller).
var testSalt = []byte("0123456789abcdef")

// cheapParams keep the tests that hash many times fast.
var cheapParams = Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestDefaultArgon2ParamsAreOWASPMinimum(t *testing.T) {
	want := Argon2Params{Memory: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}
	if DefaultArgon2Params != want {
		t.Fatalf("DefaultArgon2Params = %+v, want %+v", DefaultArgon2Params, want)
	}
	if err := DefaultArgon2Params.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestHashPasswordRoundTrip(t *testing.T) {
	for _, p := range []Argon2Params{DefaultArgon2Params, cheapParams, {Memory: 64, Time: 3, Threads: 4, SaltLen: 8, KeyLen: 64}} {
		salt := bytes.Repeat([]byte{7}, int(p.SaltLen))
		s, err := HashPassword([]byte("s3cret"), salt, p)
		if err != nil {
			t.Fatalf("%+v: %v", p, err)
		}
		h, err := ParsePHC(s)
		if err != nil {
			t.Fatalf("ParsePHC(%q): %v", s, err)
		}
		if h.Params != p || !bytes.Equal(h.Salt, salt) || len(h.Hash) != int(p.KeyLen) {
			t.Errorf("ParsePHC(%q) = %+v, want params %+v and the salt back", s, h, p)
		}
		if h.String() != s {
			t.Errorf("String() = %q, want %q", h.String(), s)
		}
		ok, err := VerifyPassword(s, []byte("s3cret"))
		if err != nil || !ok {
			t.Errorf("VerifyPassword(right password) = %v, %v", ok, err)
		}
		for _, wrong := range []string{"s3cre", "s3cret ", "S3cret", ""} {
			if ok, err := VerifyPassword(s, []byte(wrong)); err != nil || ok {
				t.Errorf("VerifyPassword(%q) = %v, %v, want false", wrong, ok, err)
			}
		}
	}
}

// TestKnownAnswerVectors pins hashes so that a change of library, encoding
// or parameter handling that changes stored hashes fails here.
func TestKnownAnswerVectors(t *testing.T) {
	for _, v := range []struct {
		name, password, salt string
		p                    Argon2Params
		want                 string
	}{
		// Computed once with this package (golang.org/x/crypto/argon2) and pinned.
		{"defaults", "correct horse battery staple", "ciphermq-kat-sal", DefaultArgon2Params,
			"$argon2id$v=19$m=19456,t=2,p=1$Y2lwaGVybXEta2F0LXNhbA$paGW6vZHqBuRap8+4PCVjISOyAVNiV0isXhHsg33OP8"},
		// Independent: the reference implementation's CLI (Debian package
		// argon2, 0~20171227): echo -n password | argon2 somesalt -id -t 2 -m 15 -p 1 -l 32 -e
		{"argon2 CLI", "password", "somesalt", Argon2Params{Memory: 1 << 15, Time: 2, Threads: 1, SaltLen: 8, KeyLen: 32},
			"$argon2id$v=19$m=32768,t=2,p=1$c29tZXNhbHQ$XI8TkQ/K9Vf7vxfnzX73a5oi22rsz1dnaMYpfL+Ga8A"},
	} {
		got, err := HashPassword([]byte(v.password), []byte(v.salt), v.p)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if got != v.want {
			t.Errorf("%s: HashPassword = %q, want %q", v.name, got, v.want)
		}
		if ok, err := VerifyPassword(v.want, []byte(v.password)); err != nil || !ok {
			t.Errorf("%s: VerifyPassword(pinned vector) = %v, %v", v.name, ok, err)
		}
	}
}

func TestDummyPHC(t *testing.T) {
	h, err := ParsePHC(DummyPHC())
	if err != nil {
		t.Fatal(err)
	}
	if h.Params != DefaultArgon2Params {
		t.Errorf("DummyPHC params = %+v, want DefaultArgon2Params %+v", h.Params, DefaultArgon2Params)
	}
	for _, pw := range []string{"", "guest", "password", "cmq-dummy-salt-1"} {
		if ok, err := VerifyPassword(DummyPHC(), []byte(pw)); err != nil || ok {
			t.Errorf("VerifyPassword(DummyPHC(), %q) = %v, %v, want false, nil", pw, ok, err)
		}
	}
}

func TestHashPasswordRefuses(t *testing.T) {
	for _, c := range []struct {
		name string
		salt []byte
		p    Argon2Params
		want string
	}{
		{"salt length mismatch", testSalt[:8], cheapParams, "salt is 8 bytes, the parameters say 16"},
		{"zero threads", testSalt, Argon2Params{Memory: 64, Time: 1, Threads: 0, SaltLen: 16, KeyLen: 32}, "p (threads) = 0"},
		{"memory too large", testSalt, Argon2Params{Memory: MaxArgon2Memory + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "m (memory)"},
		{"memory below 8 per thread", testSalt, Argon2Params{Memory: 31, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}, "m (memory) = 31 KiB: must be 32.."},
		{"zero time", testSalt, Argon2Params{Memory: 64, Time: 0, Threads: 1, SaltLen: 16, KeyLen: 32}, "t (time) = 0"},
		{"short key", testSalt, Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 15}, "hash length 15"},
		{"short salt", testSalt[:7], Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 7, KeyLen: 32}, "salt length 7"},
	} {
		_, err := HashPassword([]byte("pw"), c.salt, c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to contain %q", c.name, err, c.want)
		}
	}
}

func TestParsePHCRefuses(t *testing.T) {
	const salt16 = "MDEyMzQ1Njc4OWFiY2RlZg"                      // "0123456789abcdef"
	const hash32 = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" // 32 zero bytes
	ok := "$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + hash32
	if _, err := ParsePHC(ok); err != nil {
		t.Fatalf("the base case must parse: %v", err)
	}
	for _, c := range []struct{ in, want string }{
		{"", "not a PHC string"},
		{"argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + hash32 + "$", "not a PHC string"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt16, "not a PHC string"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + hash32 + "$x", "not a PHC string"},
		{"$argon2i$v=19$m=64,t=1,p=1$" + salt16 + "$" + hash32, `algorithm "argon2i": only argon2id`},
		{"$argon2d$v=19$m=64,t=1,p=1$" + salt16 + "$" + hash32, "only argon2id"},
		{"$bcrypt$v=19$m=64,t=1,p=1$" + salt16 + "$" + hash32, "only argon2id"},
		{"$argon2id$m=64,t=1,p=1$" + salt16 + "$" + hash32, "not a PHC string"}, // version omitted: 4 fields
		{"$argon2id$v=16$m=64,t=1,p=1$" + salt16 + "$" + hash32, `version "16"`},
		{"$argon2id$v=019$m=64,t=1,p=1$" + salt16 + "$" + hash32, `version "019"`},
		{"$argon2id$ver=19$m=64,t=1,p=1$" + salt16 + "$" + hash32, "version field"},
		{"$argon2id$v=19$t=1,m=64,p=1$" + salt16 + "$" + hash32, "want m=<number>"},
		{"$argon2id$v=19$m=64,t=1$" + salt16 + "$" + hash32, "want exactly m=<KiB>,t=<passes>,p=<threads>"},
		{"$argon2id$v=19$m=64,t=1,p=1,keyid=x$" + salt16 + "$" + hash32, "want exactly"},
		{"$argon2id$v=19$m=,t=1,p=1$" + salt16 + "$" + hash32, "parameter m: empty number"},
		{"$argon2id$v=19$m=064,t=1,p=1$" + salt16 + "$" + hash32, "parameter m: \"064\": leading zero"},
		{"$argon2id$v=19$m=+64,t=1,p=1$" + salt16 + "$" + hash32, "parameter m: \"+64\": not a decimal"},
		{"$argon2id$v=19$m=64,t=x,p=1$" + salt16 + "$" + hash32, "parameter t: \"x\": not a decimal"},
		{"$argon2id$v=19$m=99999999999,t=1,p=1$" + salt16 + "$" + hash32, "parameter m: \"99999999999\": out of range"},
		{"$argon2id$v=19$m=1048577,t=1,p=1$" + salt16 + "$" + hash32, "m (memory) = 1048577 KiB"},
		{"$argon2id$v=19$m=4294967295,t=1,p=1$" + salt16 + "$" + hash32, "m (memory) = 4294967295 KiB"},
		{"$argon2id$v=19$m=15,t=1,p=2$" + salt16 + "$" + hash32, "m (memory) = 15 KiB: must be 16.."},
		{"$argon2id$v=19$m=64,t=0,p=1$" + salt16 + "$" + hash32, "t (time) = 0"},
		{"$argon2id$v=19$m=64,t=17,p=1$" + salt16 + "$" + hash32, "t (time) = 17: must be 1..16"},
		{"$argon2id$v=19$m=64,t=1,p=0$" + salt16 + "$" + hash32, "p (threads) = 0"},
		{"$argon2id$v=19$m=1024,t=1,p=17$" + salt16 + "$" + hash32, "p (threads) = 17"},
		{"$argon2id$v=19$m=1024,t=1,p=257$" + salt16 + "$" + hash32, "p (threads) = 257"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "==$" + hash32, "salt: not unpadded standard base64"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + "MDEyMzQ1Njc4OWFiY2RlZh" + "$" + hash32, "salt: not unpadded standard base64"}, // non-canonical trailing bits
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + strings.ReplaceAll(hash32, "A", "_"), "hash: not unpadded standard base64"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + "MDEyMzQ1Ng" + "$" + hash32, "salt length 7 bytes"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + strings.Repeat("A", 88) + "$" + hash32, "salt length 66 bytes"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + "AAAAAAAAAAAAAAAAAAAA", "hash length 15 bytes"},
		{"$argon2id$v=19$m=64,t=1,p=1$" + salt16 + "$" + strings.Repeat("A", 88), "hash length 66 bytes"},
		{"$argon2id$v=19$m=64,t=1,p=1$$" + hash32, "salt length 0 bytes"},
	} {
		_, err := ParsePHC(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParsePHC(%q): err = %v, want it to contain %q", c.in, err, c.want)
		}
		// VerifyPassword refuses the same strings with an error, never a
		// plain false (a corrupt users file must be visible).
		if ok, err := VerifyPassword(c.in, []byte("pw")); err == nil || ok {
			t.Errorf("VerifyPassword(%q) = %v, %v, want an error", c.in, ok, err)
		}
	}
}

func TestParsePHCAcceptsBounds(t *testing.T) {
	for _, p := range []Argon2Params{
		{Memory: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16},
		{Memory: 128, Time: 16, Threads: 16, SaltLen: 64, KeyLen: 64},
		{Memory: MaxArgon2Memory, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
	} {
		s := PHC{Params: p, Salt: make([]byte, p.SaltLen), Hash: make([]byte, p.KeyLen)}.String()
		h, err := ParsePHC(s)
		if err != nil || h.Params != p {
			t.Errorf("ParsePHC(%q) = %+v, %v, want params %+v", s, h.Params, err, p)
		}
	}
}

func TestParsePHCErrorsAreShort(t *testing.T) {
	_, err := ParsePHC("$" + strings.Repeat("x", 10000) + "$v=19$m=64,t=1,p=1$a$b")
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error for a huge algorithm field: %d bytes: %v", len(err.Error()), err)
	}
}
