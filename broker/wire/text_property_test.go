package wire_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"pgregory.net/rapid"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// genEnvelope builds a random valid envelope: a JSON object with a
// message_id somewhere among other fields, some of them nested objects that
// hold decoy message_id keys, written compact or spaced like Python's
// json.dumps.
func genEnvelope(t *rapid.T, label string) (id string, text string) {
	id = rapid.StringMatching(`[A-Za-z0-9._:-]{1,64}`).Draw(t, label+"-id")
	n := rapid.IntRange(0, 5).Draw(t, label+"-fields")
	pos := rapid.IntRange(0, n).Draw(t, label+"-pos")
	sep, colon := ",", ":"
	if rapid.Bool().Draw(t, label+"-python") {
		sep, colon = ", ", ": "
	}
	var parts []string
	for i := 0; i <= n; i++ {
		if i == pos {
			parts = append(parts, `"message_id"`+colon+mustJSON(id))
			continue
		}
		key := rapid.StringMatching(`[a-z_]{1,12}`).Draw(t, label+"-key")
		switch key {
		case "message_id", "ciphertext", "nonce", "tag", "enc_session_key":
			key += "s" // the reference fields are placed below
		}
		var val any
		switch rapid.IntRange(0, 3).Draw(t, label+"-kind") {
		case 0:
			val = rapid.String().Draw(t, label+"-s")
		case 1:
			val = rapid.Int().Draw(t, label+"-i")
		case 2:
			val = map[string]any{"message_id": rapid.String().Draw(t, label+"-decoy"), "x": []any{"]", "}", nil, true}}
		default:
			val = []any{rapid.String().Draw(t, label+"-a"), 1.5}
		}
		parts = append(parts, mustJSON(key)+colon+mustJSON(val))
	}
	// The four other fields the reference server requires, as strings, at
	// random places.
	for _, f := range []string{"ciphertext", "nonce", "tag", "enc_session_key"} {
		at := rapid.IntRange(0, len(parts)).Draw(t, label+"-at-"+f)
		field := mustJSON(f) + colon + mustJSON(rapid.StringMatching(`[A-Za-z0-9+/=]{0,24}`).Draw(t, label+"-"+f))
		parts = append(parts[:at], append([]string{field}, parts[at:]...)...)
	}
	return id, "{" + strings.Join(parts, sep) + "}"
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestTextPublishProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		id, env := genEnvelope(t, "env")
		line := []byte("publish x k " + env)
		c, err := wire.ParseCommand(line)
		if err != nil {
			t.Fatalf("valid envelope refused: %v\n%s", err, env)
		}
		if string(c.MessageID) != id || string(c.Body) != env || string(c.Exchange) != "x" || string(c.RoutingKey) != "k" {
			t.Fatalf("parsed %+v from %s", c, env)
		}
		// The push line a consumer gets back carries the body verbatim.
		push := wire.AppendReplyMessage(nil, c.MessageID, c.Body)
		if !bytes.Equal(push, []byte("Message: "+id+" "+env+"\n")) {
			t.Fatalf("push %q", push)
		}
	})
}

func TestTextPublishBatchProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(1, 6).Draw(t, "n")
		ids, envs := make([]string, n), make([]string, n)
		for i := range n {
			ids[i], envs[i] = genEnvelope(t, "env")
		}
		sep := rapid.SampledFrom([]string{",", ", ", " ,\t"}).Draw(t, "sep")
		line := "publish_batch x k [" + strings.Join(envs, sep) + "]"
		var c wire.TextCommand
		if err := wire.ParseCommandInto([]byte(line), &c); err != nil {
			t.Fatalf("valid batch refused: %v\n%s", err, line)
		}
		if len(c.Batch) != n {
			t.Fatalf("%d envelopes, want %d", len(c.Batch), n)
		}
		for i, m := range c.Batch {
			if string(m.MessageID) != ids[i] || string(m.Body) != envs[i] {
				t.Fatalf("envelope %d: %q %q, want %q %q", i, m.MessageID, m.Body, ids[i], envs[i])
			}
		}
	})
}
