package session_test

import (
	"fmt"
	"slices"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/session"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// hintSpy is the real core, recording the publish hints it is given.
type hintSpy struct {
	*broker.Core
	calls [][]string // per call: "user|exchange|id" of each hint
}

func (h *hintSpy) PrefetchPublishes(user string, hints []broker.PublishHint) {
	var call []string
	for _, x := range hints {
		call = append(call, user+"|"+string(x.Exchange)+"|"+string(x.MessageID))
	}
	h.calls = append(h.calls, call)
	h.Core.PrefetchPublishes(user, hints)
}

func TestNativeHintsThePublishesOfEachFeed(t *testing.T) {
	// A Feed tells the core about the publishes it carries, in batches of
	// 16, by the vhost-qualified exchange the core knows; frames of other
	// types are skipped. The publishes are then handled as always.
	w := newWorld(t, broker.Config{})
	withUsers(t, w, authUser{name: "ta", perms: map[string]access.Permissions{"tenant-a": all}})
	spy := &hintSpy{Core: w.core}
	w.next++
	s := session.NewNativeFrom(spy, w.next, w.cfg, session.Peer{TLS: true, CertIdentity: "ta"}, w.now)
	w.sessions[w.next] = s
	w.send(s, helloAuth(&wire.Auth{Mechanism: "EXTERNAL", Vhost: "tenant-a"}))
	wantHelloOK(t, w, s)
	setup := wire.AppendDeclareExchange(nil, &wire.DeclareExchange{ReqID: 1, Name: "x", Type: wire.ExchangeFanout})
	setup = wire.AppendDeclareQueue(setup, &wire.DeclareQueue{ReqID: 2, Name: "q"})
	request(t, w, s, wire.AppendBind(setup, &wire.Bind{ReqID: 3, Exchange: "x", Queue: "q"}))
	spy.calls = nil

	var in []byte
	var want []string
	for i := range 20 {
		id := fmt.Sprintf("m%d", i)
		in = wire.AppendPublish(in, &wire.Publish{Seq: uint64(i + 1), Exchange: []byte("x"), MessageID: []byte(id), Body: []byte("b")})
		want = append(want, "ta|"+broker.Qualify("tenant-a", "x")+"|"+id)
		if i == 3 {
			in = wire.AppendHeartbeat(in) // not a publish: no hint
		}
	}
	got := request(t, w, s, in)
	if len(spy.calls) != 2 || len(spy.calls[0]) != 16 || len(spy.calls[1]) != 4 {
		t.Fatalf("hint calls %q; want one of 16 publishes, then one of 4", spy.calls)
	}
	if all := slices.Concat(spy.calls...); !slices.Equal(all, want) {
		t.Fatalf("hints %q, want %q", all, want)
	}
	if c, ok := got[len(got)-1].(*wire.Confirm); !ok || c.Last != 20 {
		t.Fatalf("answers %#v; want publishes 1..20 confirmed last", got)
	}
}
