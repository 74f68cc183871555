package wire_test

import (
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/broker/wire/wiretest"
)

// Tricky JSON the top-level walk must get right: nested message_id keys,
// brackets and quotes inside strings, escaped keys.
func TestEnvelopeIDWalksOnlyTheTopLevel(t *testing.T) {
	cases := []struct{ json, id string }{
		{`{"n":{"message_id":"inner"},"message_id":"outer"}`, "outer"},
		{`{"s":"}\"{","message_id":"x1"}`, "x1"},
		{`{"a":[{"message_id":"no"},"]"],"message_id":"x2"}`, "x2"},
		{`{"message\u005fid":"x3"}`, "x3"},
		{` { "message_id" : "x4" , "b" : true , "c" : null , "d" : -1.5e3 } `, "x4"},
		{`{"message_id":"\u00e9t\u00e9"}`, "été"},
	}
	for _, c := range cases {
		obj := strings.TrimSpace(c.json)
		obj = obj[:len(obj)-1] + wiretest.SeedFields + "}"
		cmd, err := wire.ParseCommand([]byte("publish x k " + obj))
		if err != nil {
			t.Errorf("%s: %v", c.json, err)
			continue
		}
		if string(cmd.MessageID) != c.id {
			t.Errorf("%s: id %q, want %q", c.json, cmd.MessageID, c.id)
		}
	}
	if _, err := wire.ParseCommand([]byte(`publish x k {"n":{"message_id":"inner"}` + wiretest.SeedFields + `}`)); err == nil {
		t.Error("a nested message_id must not count as the envelope's")
	}
}
