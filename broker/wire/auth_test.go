package wire_test

import (
	"errors"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func TestPlainResponse(t *testing.T) {
	u, pw, err := wire.ParsePlainResponse(wire.PlainResponse("alice", "s3cret pass"))
	if err != nil || u != "alice" || pw != "s3cret pass" {
		t.Fatalf("round trip: %q %q %v", u, pw, err)
	}
	if u, pw, err := wire.ParsePlainResponse([]byte("alice\x00alice\x00pw")); err != nil || u != "alice" || pw != "pw" {
		t.Fatalf("authzid equal to the user: %q %q %v", u, pw, err)
	}
	for name, r := range map[string]string{
		"no separators":      "alicepw",
		"one separator":      "\x00alice",
		"three separators":   "\x00alice\x00pw\x00",
		"empty user":         "\x00\x00pw",
		"act as another one": "bob\x00alice\x00pw",
	} {
		if _, _, err := wire.ParsePlainResponse([]byte(r)); !errors.Is(err, wire.ErrBadValue) {
			t.Errorf("%s: err %v, want ErrBadValue", name, err)
		}
	}
}

// FuzzParsePlainResponse: no input panics, and what is accepted re-encodes
// to a response that parses the same.
func FuzzParsePlainResponse(f *testing.F) {
	f.Add([]byte("\x00alice\x00pw"))
	f.Add([]byte("alice\x00alice\x00"))
	f.Add([]byte("\x00\x00"))
	f.Fuzz(func(t *testing.T, r []byte) {
		u, pw, err := wire.ParsePlainResponse(r)
		if err != nil {
			return
		}
		u2, pw2, err := wire.ParsePlainResponse(wire.PlainResponse(u, pw))
		if err != nil || u2 != u || pw2 != pw {
			t.Fatalf("re-encoded %q/%q parses as %q/%q, %v", u, pw, u2, pw2, err)
		}
	})
}
