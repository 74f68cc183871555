package engine

import (
	"testing"
	"time"
)

// TestPrefixTravelsWithEveryAttempt: a prefixed message keeps its handle
// through resends after a reconnect; a message without one has nil.
func TestPrefixTravelsWithEveryAttempt(t *testing.T) {
	now := time.Unix(0, 0)
	p := NewPublisher(PublisherConfig{})
	pre := NewPrefix([]byte("HDR"))
	if err := p.AddCopy(Message{ID: "a", Prefix: pre, Body: []byte("rest")}); err != nil {
		t.Fatal(err)
	}
	if err := p.Add(Message{ID: "b", Body: []byte("plain")}); err != nil {
		t.Fatal(err)
	}
	for round := range 2 {
		p.Connected(now)
		frames, pres := p.Poll(now), p.Prefixes()
		if len(frames) != 2 || len(pres) != 2 {
			t.Fatalf("round %d: %d frames, %d prefixes", round, len(frames), len(pres))
		}
		if pres[0] != pre || string(frames[0].Body) != "rest" || pres[1] != nil || string(frames[1].Body) != "plain" {
			t.Fatalf("round %d: prefixes %v, bodies %q %q", round, pres, frames[0].Body, frames[1].Body)
		}
		p.Disconnected(now)
	}
	p.Connected(now)
	p.Poll(now)
	if pres := p.Prefixes(); len(pres) != 2 {
		t.Fatalf("after a second reconnect: %d prefixes", len(pres))
	}
	if got := p.Poll(now); len(got) != 0 || len(p.Prefixes()) != 0 {
		t.Fatalf("a Poll with nothing to send still lists %d prefixes", len(p.Prefixes()))
	}
}
