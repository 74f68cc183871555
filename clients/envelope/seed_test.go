package envelope

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
)

// seedShape is the exact byte shape of Sender.py's json.dumps output.
var seedShape = regexp.MustCompile(`^\{"message_id": "([^"]*)", "enc_session_key": "([A-Za-z0-9+/=]{344})", "nonce": "([A-Za-z0-9+/=]{24})", "tag": "([A-Za-z0-9+/=]{24})", "ciphertext": "([A-Za-z0-9+/=]*)"\}$`)

func seedPair(t *testing.T) (*SeedSealer, *SeedOpener) {
	t.Helper()
	priv, _ := seedKeys(t)
	s, err := NewSeedSealer(&priv.PublicKey, testRand(7))
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewSeedOpener(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, o
}

func TestSeedRoundTripAndShape(t *testing.T) {
	s, o := seedPair(t)
	const id = "6f1d3c4e-8a2b-4f5e-9c7d-1a2b3c4d5e6f"
	msg := []byte("This is a test hybrid message.")
	env := mustSeal(t, s, id, msg, t0)
	m := seedShape.FindSubmatch(env)
	if m == nil {
		t.Fatalf("envelope does not have Sender.py's shape:\n%s", env)
	}
	if string(m[1]) != id {
		t.Fatalf("message_id %q", m[1])
	}
	ct, _ := base64.StdEncoding.DecodeString(string(m[5]))
	if len(ct) != len(msg) {
		t.Fatalf("ciphertext is %d bytes, want plaintext length %d (tag separate)", len(ct), len(msg))
	}
	if Detect(env) != FormatSeed {
		t.Fatal("Detect does not see seed format")
	}
	got, info, err := o.Open([]byte("p:"), id, env, t0)
	if err != nil || string(got) != "p:"+string(msg) {
		t.Fatalf("open: %v %q", err, got)
	}
	if info.Format != FormatSeed || info.Authenticated {
		t.Fatalf("sender info %+v: seed envelopes are never authenticated", info)
	}
}

// The broker re-serialises envelopes compactly in struct order
// (message_id, ciphertext, nonce, tag, enc_session_key); the opener must not
// care about order or spacing.
func TestSeedOpensBrokerReserialisedJSON(t *testing.T) {
	s, o := seedPair(t)
	env := mustSeal(t, s, "id-1", []byte("payload"), t0)
	var m map[string]string
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	compact := `{"message_id":"` + m["message_id"] + `","ciphertext":"` + m["ciphertext"] + `","nonce":"` + m["nonce"] + `","tag":"` + m["tag"] + `","enc_session_key":"` + m["enc_session_key"] + `"}`
	if got, _, err := o.Open(nil, "id-1", []byte(compact), t0); err != nil || string(got) != "payload" {
		t.Fatalf("compact reordered: %v %q", err, got)
	}
}

func TestPythonJSONStringEscaping(t *testing.T) {
	cases := map[string]string{
		"plain-uuid":   `"plain-uuid"`,
		`q"b\`:         `"q\"b\\"`,
		"\n\r\t\b\f":   `"\n\r\t\b\f"`,
		"\x00\x1f\x7f": `"\u0000\u001f\u007f"`,
		"é€":           `"\u00e9\u20ac"`,
		"😀":            `"\ud83d\ude00"`,
		"/<>&'":        `"/<>&'"`,
	}
	for in, want := range cases {
		if got := string(appendPythonJSONString(nil, in)); got != want {
			t.Errorf("%q: got %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(want), &back); err != nil || back != in {
			t.Errorf("%q: escaped form does not decode back: %v %q", in, err, back)
		}
	}
}

func TestSeedSealIsDeterministicGivenTheReader(t *testing.T) {
	priv, _ := seedKeys(t)
	a, _ := NewSeedSealer(&priv.PublicKey, testRand(42))
	b, _ := NewSeedSealer(&priv.PublicKey, testRand(42))
	c, _ := NewSeedSealer(&priv.PublicKey, testRand(43))
	ea := mustSeal(t, a, "x", []byte("same"), t0)
	if eb := mustSeal(t, b, "x", []byte("same"), t0); !bytes.Equal(ea, eb) {
		t.Fatal("same reader seed gave different envelopes: a random byte came from elsewhere")
	}
	if ec := mustSeal(t, c, "x", []byte("same"), t0); bytes.Equal(ea, ec) {
		t.Fatal("different reader seeds gave the same envelope")
	}
}

func TestSeedErrors(t *testing.T) {
	s, o := seedPair(t)
	const id = "id-1"
	env := mustSeal(t, s, id, []byte("secret"), t0)
	var m map[string]string
	if err := json.Unmarshal(env, &m); err != nil {
		t.Fatal(err)
	}
	with := func(field, value string) []byte {
		c := map[string]string{}
		for k, v := range m {
			c[k] = v
		}
		c[field] = value
		b, _ := json.Marshal(c)
		return b
	}
	without := func(field string) []byte {
		c := map[string]string{}
		for k, v := range m {
			if k != field {
				c[k] = v
			}
		}
		b, _ := json.Marshal(c)
		return b
	}
	flipB64 := func(field string, at int) []byte {
		raw, _ := base64.StdEncoding.DecodeString(m[field])
		raw[at] ^= 1
		return with(field, base64.StdEncoding.EncodeToString(raw))
	}
	_, other := seedKeys(t)
	otherOpener, _ := NewSeedOpener(other)
	cases := []struct {
		name   string
		opener *SeedOpener
		id     string
		env    []byte
		want   error
	}{
		{"truncated JSON", o, id, env[:len(env)/2], ErrBadJSON},
		{"not an object", o, id, []byte(`["a"]`), ErrBadJSON},
		{"trailing data", o, id, append(bytes.Clone(env), " {}"...), ErrBadJSON},
		{"missing field", o, id, without("tag"), ErrBadJSON},
		{"non-string field", o, id, bytes.Replace(env, []byte(`"message_id": "id-1"`), []byte(`"message_id": 7`), 1), ErrBadJSON},
		{"bad base64", o, id, with("nonce", "!!!notbase64!!!"), ErrBadBase64},
		{"unpadded base64", o, id, with("tag", strings.TrimRight(m["tag"], "=")), ErrBadBase64},
		{"short nonce", o, id, with("nonce", base64.StdEncoding.EncodeToString(make([]byte, 12))), ErrMalformed},
		{"short tag", o, id, with("tag", base64.StdEncoding.EncodeToString(make([]byte, 8))), ErrMalformed},
		{"short key", o, id, with("enc_session_key", base64.StdEncoding.EncodeToString(make([]byte, 128))), ErrMalformed},
		{"replay under new id", o, "id-2", env, ErrMessageIDMismatch},
		{"wrong private key", otherOpener, id, env, ErrWrongKey},
		{"tampered wrapped key", o, id, flipB64("enc_session_key", 100), ErrWrongKey},
		{"tampered ciphertext", o, id, flipB64("ciphertext", 0), ErrTampered},
		{"tampered tag", o, id, flipB64("tag", 15), ErrTampered},
		{"tampered nonce", o, id, flipB64("nonce", 3), ErrTampered},
	}
	for _, c := range cases {
		got, _, err := c.opener.Open(nil, c.id, c.env, t0)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", c.name, err, c.want)
		}
		if len(got) != 0 {
			t.Errorf("%s: returned plaintext with an error", c.name)
		}
	}
	// A replay that also rewrites the JSON message_id is NOT detected by the
	// seed format: this documents the weakness (see docs/envelope.md).
	if _, _, err := o.Open(nil, "id-2", with("message_id", "id-2"), t0); err != nil {
		t.Fatalf("seed format unexpectedly binds the id: %v (update docs/envelope.md)", err)
	}
}

func TestSeedTooLarge(t *testing.T) {
	s, o := seedPair(t)
	s.maxSize, o.maxSize = 4096, 4096
	if _, err := s.Seal(nil, "x", make([]byte, 4096), t0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("seal: err %v, want ErrTooLarge", err)
	}
	if _, _, err := o.Open(nil, "x", make([]byte, 4097), t0); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("open: err %v, want ErrTooLarge", err)
	}
}

func TestSeedRejectsSmallRSAKeys(t *testing.T) {
	if _, err := NewSeedSealer(nil, nil); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("nil key: %v", err)
	}
	if _, err := NewSeedOpener(nil); !errors.Is(err, ErrInvalidOptions) {
		t.Errorf("nil private key: %v", err)
	}
}
