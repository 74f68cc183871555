package envelope

import (
	"errors"
	"testing"
)

func TestDetect(t *testing.T) {
	cases := map[string]Format{
		`{"message_id": "x"}`: FormatSeed,
		" \r\n\t{":            FormatSeed,
		"CMQ\x01rest":         FormatSession,
		"CMQ\x09":             FormatSession, // Detect sees the family; Open judges the version
		"":                    FormatUnknown,
		"   ":                 FormatUnknown,
		"CM":                  FormatUnknown,
		"[1,2]":               FormatUnknown,
		"Message: x {}":       FormatUnknown,
	}
	for in, want := range cases {
		if got := Detect([]byte(in)); got != want {
			t.Errorf("Detect(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"seed": FormatSeed, "cmq1": FormatSession, "modern": FormatSession} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %v, %v", in, got, err)
		}
		if want.String() == "" {
			t.Errorf("%v has no name", want)
		}
	}
	if _, err := ParseFormat("rot13"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("ParseFormat(rot13): %v", err)
	}
}

func TestMultiOpenerDispatchesByFormat(t *testing.T) {
	seedS, seedO := seedPair(t)
	r := mustRecipient(t, 1)
	sessS, sessO := sessionPair(t, r)

	both, err := NewOpener(seedO, sessO)
	if err != nil {
		t.Fatal(err)
	}
	seedEnv := mustSeal(t, seedS, "a", []byte("from the past"), t0)
	sessEnv := mustSeal(t, sessS, "b", []byte("from the future"), t0)
	if got, info, err := both.Open(nil, "a", seedEnv, t0); err != nil || string(got) != "from the past" || info.Format != FormatSeed {
		t.Fatalf("seed via multi: %v %q %+v", err, got, info)
	}
	if got, info, err := both.Open(nil, "b", sessEnv, t0); err != nil || string(got) != "from the future" || !info.Authenticated {
		t.Fatalf("session via multi: %v %q %+v", err, got, info)
	}
	if _, _, err := both.Open(nil, "c", []byte("garbage"), t0); !errors.Is(err, ErrUnknownFormat) {
		t.Fatalf("garbage: err %v, want ErrUnknownFormat", err)
	}

	seedOnly, _ := NewOpener(seedO, nil)
	if _, _, err := seedOnly.Open(nil, "b", sessEnv, t0); !errors.Is(err, ErrFormatNotAccepted) {
		t.Fatalf("seed-only opener given cmq1: err %v, want ErrFormatNotAccepted", err)
	}
	sessOnly, _ := NewOpener(nil, sessO)
	if _, _, err := sessOnly.Open(nil, "a", seedEnv, t0); !errors.Is(err, ErrFormatNotAccepted) {
		t.Fatalf("session-only opener given seed: err %v, want ErrFormatNotAccepted", err)
	}
	if _, err := NewOpener(nil, nil); !errors.Is(err, ErrInvalidOptions) {
		t.Fatalf("NewOpener(nil, nil): err %v", err)
	}
}

// Each failure has its own sentinel: no sentinel matches another.
func TestSentinelsAreDistinct(t *testing.T) {
	all := []error{ErrUnknownFormat, ErrUnknownVersion, ErrUnsupportedSuite, ErrFormatNotAccepted,
		ErrTruncated, ErrTooLarge, ErrMalformed, ErrBadJSON, ErrBadBase64, ErrMessageIDMismatch,
		ErrTampered, ErrTamperedHeader, ErrUntrustedSender, ErrNotRecipient, ErrWrongKey,
		ErrInvalidMessageID, ErrInvalidOptions, ErrSessionExhausted,
		ErrNotPEM, ErrWrongPEMType, ErrInvalidKey, ErrKeyCorrupted}
	for i, a := range all {
		for j, b := range all {
			if i != j && (errors.Is(a, b) || a.Error() == b.Error()) {
				t.Errorf("%v and %v are not distinct", a, b)
			}
		}
	}
}
