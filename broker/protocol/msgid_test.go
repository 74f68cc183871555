package protocol_test

import (
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// A message id that the text protocol cannot carry as one token is refused
// on the native protocol too, with code 101, so that no publisher can create
// a message a text consumer could never acknowledge.
func TestNativeRefusesIDsTheTextProtocolCannotCarry(t *testing.T) {
	for _, id := range []string{"a b", "a\tb", "tail\n", "nul\x00", "bad\xffutf8", "nbsp\u00a0x", "nel\u0085"} {
		w := newWorld(t, broker.Config{})
		_, s := openNative(t, w)
		w.feed(s, publishFrame(1, id))
		got := frames(t, w.take(s))
		if len(got) != 1 {
			t.Fatalf("id %q: got %#v, want one Nack", id, got)
		}
		n, ok := got[0].(*wire.Nack)
		if !ok || n.Code != uint16(broker.CodeInvalidArgument) || !strings.Contains(n.Reason, "message id") {
			t.Errorf("id %q: got %#v, want Nack code 101 about the message id", id, got[0])
		}
		if held := w.core.Held(); len(held) != 0 {
			t.Errorf("id %q: refused publish left %v", id, held)
		}
	}
}

// The text parser refuses ASCII spaces and controls itself; a Unicode space
// escaped in the JSON reaches the core, which refuses it with the same rule.
func TestTextRefusesIDsOutsideTheAlphabet(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	for _, id := range []string{`nbsp\u00a0x`, `nel\u0085`, `ls\u2028`} {
		w.feed(s, []byte("publish default_exchange default_key "+envelope(id)+"\n"))
		got := lines(t, w.take(s))
		if len(got) != 1 || !strings.HasPrefix(got[0], "Error: message id ") || !strings.Contains(got[0], "use printable characters") {
			t.Errorf("id %s: got %q, want an Error: line about the message id", id, got)
		}
	}
	if held := w.core.Held(); len(held) != 0 {
		t.Errorf("refused publishes left %v", held)
	}
}

// A reference envelope without one of its string fields is refused as the
// reference server refuses it, and nothing is enqueued: the receiver could
// only have rejected it later.
func TestTextRefusesIncompleteReferenceEnvelopes(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.text()
	for line, want := range map[string]string{
		`publish default_exchange default_key {"message_id": "m1", "ciphertext": "Y3Q=", "tag": "dGFn", "enc_session_key": "a2V5"}`:                   "Invalid message format: missing field `nonce`",
		`publish default_exchange default_key {"message_id": "m2", "ciphertext": 5, "nonce": "bg==", "tag": "dGFn", "enc_session_key": "a2V5"}`:       "Invalid message format: invalid type: integer `5`, expected a string (field `ciphertext`)",
		`publish_batch default_exchange default_key [` + envelope("m3") + `, {"message_id": "m4", "ciphertext": "Y3Q=", "nonce": "bg==", "tag": {}}]`: "Invalid message format: envelope 1: invalid type: map, expected a string (field `tag`)",
	} {
		w.feed(s, []byte(line+"\n"))
		if got := lines(t, w.take(s)); len(got) != 1 || got[0] != want {
			t.Errorf("%s: got %q, want %q", line, got, want)
		}
	}
	if held := w.core.Held(); len(held) != 0 {
		t.Fatalf("refused envelopes were enqueued: %v", held)
	}
	w.feed(s, []byte("publish default_exchange default_key "+envelope("ok")+"\n"))
	if got := lines(t, w.take(s)); len(got) != 1 || got[0] != "ACK ok" {
		t.Fatalf("a complete envelope: %q", got)
	}
}
