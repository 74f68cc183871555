package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// TestMemoryShareIsolatesTenants: mallory floods her own queue until her
// memory share refuses her publishes (Nack 503); alice's canary keeps
// publishing (every publish confirmed) and consuming on the same broker,
// whose global alarm never turns on. Mallory, refused, can still delete
// her queue, which frees her share.
func TestMemoryShareIsolatesTenants(t *testing.T) {
	const share = 256 << 10
	cfg := testConfig()
	cfg.MemoryHighWatermark = 256 << 20
	perms := func(u string) map[string]access.Permissions {
		return map[string]access.Permissions{"/": {Configure: u + "-.*", Write: u + "-.*", Read: u + "-.*"}}
	}
	cfg.Auth.UsersFile = writeUsers(t,
		access.User{Name: "alice", PasswordHash: hashFor(t, acAlicePW, cheapArgon2), Permissions: perms("alice")},
		access.User{Name: "mallory", PasswordHash: hashFor(t, acMalloryPW, cheapArgon2), Permissions: perms("mallory"),
			Limits: access.Limits{MaxQueuedBytes: share}},
	)
	srv, addr := startServer(t, cfg)
	setup := func(c *nativeClient, u string) {
		c.mustOK("declare exchange", wire.AppendDeclareExchange(nil, &wire.DeclareExchange{ReqID: 1, Name: u + "-x", Type: wire.ExchangeDirect}))
		c.mustOK("declare queue", wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 2, Name: u + "-q"}))
		c.mustOK("bind", wire.AppendBind(nil, &wire.Bind{ReqID: 3, Exchange: u + "-x", Queue: u + "-q", Key: "k"}))
	}
	mallory := login(t, addr, "mallory", acMalloryPW)
	alice := login(t, addr, "alice", acAlicePW)
	setup(mallory, "mallory")
	setup(alice, "alice")

	body := strings.Repeat("m", 4096)
	refusedAt := -1
	for i := 0; i < 4*share/len(body); i++ {
		f := mallory.publishWait("mallory-x", "k", fmt.Sprint("flood-", i), body)
		if n, ok := f.(*wire.Nack); ok {
			if n.Code != uint16(broker.CodeUnavailable) || !strings.Contains(n.Reason, "memory share") {
				t.Fatalf("flood publish %d refused with %d %q, want 503 naming the memory share", i, n.Code, n.Reason)
			}
			refusedAt = i
			break
		}
	}
	if refusedAt < 0 {
		t.Fatalf("mallory published %d bytes without reaching her share of %d", 4*share, share)
	}
	if on, _ := srv.MemoryAlarm(); on {
		t.Fatal("the global memory alarm is on: the test would not show per-user isolation")
	}

	// Alice's canary: every publish confirmed, every message consumed.
	const canary = 50
	for i := range canary {
		if f := alice.publishWait("alice-x", "k", fmt.Sprint("canary-", i), "tweet"); f.FrameType() != wire.FrameConfirm {
			t.Fatalf("canary publish %d answered %#v while mallory is at her share", i, f)
		}
	}
	if got := alice.drain("alice-q"); len(got) != canary {
		t.Fatalf("canary consumed %d messages, want %d", len(got), canary)
	}
	// Mallory is still refused, and her connection still serves her:
	// she deletes her queue, which frees her share.
	if f := mallory.publishWait("mallory-x", "k", "flood-again", body); f.FrameType() != wire.FrameNack {
		t.Fatalf("mallory's publish over her share answered %#v", f)
	}
	mallory.mustOK("delete queue", wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: 9, Name: "mallory-q"}))
	srv.mu.Lock()
	held := srv.core.Usage("mallory").QueuedBytes
	srv.mu.Unlock()
	if held != 0 {
		t.Fatalf("mallory holds %d queued bytes after deleting her queue", held)
	}
	mallory.mustOK("declare queue", wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 10, Name: "mallory-q"}))
	mallory.mustOK("bind", wire.AppendBind(nil, &wire.Bind{ReqID: 11, Exchange: "mallory-x", Queue: "mallory-q", Key: "k"}))
	if f := mallory.publishWait("mallory-x", "k", "after-delete", body); f.FrameType() != wire.FrameConfirm {
		t.Fatalf("mallory's publish after freeing her share answered %#v", f)
	}
}

// TestDefaultMemoryShareIsATenthOfTheBudget: a user without a share of its
// own gets a tenth of the high watermark; without a budget, none.
func TestDefaultMemoryShareIsATenthOfTheBudget(t *testing.T) {
	a := AuthConfig{}.withDefaults()
	if got := a.withMemoryShare(1000).UserLimits.MaxQueuedBytes; got != 100 {
		t.Fatalf("default share of a 1000-byte budget: %d, want 100", got)
	}
	if got := a.withMemoryShare(0).UserLimits.MaxQueuedBytes; got != 0 {
		t.Fatalf("default share without a budget: %d, want none", got)
	}
	a.UserLimits.MaxQueuedBytes = 7
	if got := a.withMemoryShare(1000).UserLimits.MaxQueuedBytes; got != 7 {
		t.Fatalf("an explicit default share was replaced: %d", got)
	}
}

// TestBlockedPublisherCanDeleteItsQueue: a publisher blocked by the global
// memory alarm is still read: its stats request is answered and it can
// delete the queue it flooded, which ends the alarm (Unblocked); the
// publish it sent while blocked is held and answered after that (here
// refused: its queue is gone).
func TestBlockedPublisherCanDeleteItsQueue(t *testing.T) {
	cfg := testConfig()
	cfg.MemoryHighWatermark = 2 << 20
	_, addr := startServer(t, cfg)
	pub := dialNative(t, addr, wire.Hello{ClientName: "flooder"})
	pub.mustOK("declare exchange", wire.AppendDeclareExchange(nil, &wire.DeclareExchange{ReqID: 1, Name: "fx", Type: wire.ExchangeDirect}))
	pub.mustOK("declare queue", wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 2, Name: "fq"}))
	pub.mustOK("bind", wire.AppendBind(nil, &wire.Bind{ReqID: 3, Exchange: "fx", Queue: "fq", Key: "k"}))
	body := make([]byte, 64<<10)
	blocked, confirmed := false, true
	var held uint64
	for i := 0; !blocked; i++ {
		if i > 1000 {
			t.Fatal("64 MiB published without a Blocked")
		}
		held = pub.seq()
		pub.send(publishFrame(held, "fx", "k", fmt.Sprint("m-", i), body))
		for confirmed = false; !confirmed && !blocked; {
			switch f := pub.next().(type) {
			case *wire.Confirm:
				confirmed = f.Last >= held
			case *wire.Blocked:
				blocked = true
			default:
				t.Fatalf("publish %d answered %#v", held, f)
			}
		}
	}
	if confirmed {
		// Blocked came after the last confirm: one more publish, held.
		held = pub.seq()
		pub.send(publishFrame(held, "fx", "k", "held", body))
	}
	// Requests behind the held publish are served.
	if f, e := pub.request(wire.AppendStats(nil, &wire.Stats{ReqID: 20})); e != nil || f.FrameType() != wire.FrameStatsOK {
		t.Fatalf("stats while blocked answered %#v", f)
	}
	pub.send(wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: 21, Name: "fq"}))
	var deleted, unblocked, answered bool
	for !deleted || !unblocked || !answered {
		switch f := pub.next().(type) {
		case *wire.OK:
			deleted = f.ReqID == 21
		case *wire.Unblocked:
			unblocked = true
		case *wire.Nack:
			if f.Seq != held || f.Code != uint16(broker.CodeNoRoute) {
				t.Fatalf("held publish answered %#v, want a no-route Nack (its queue is gone)", f)
			}
			if !unblocked {
				t.Fatal("the held publish was answered before Unblocked")
			}
			answered = true
		default:
			t.Fatalf("after the delete: %#v", f)
		}
	}
}
