package protocol_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Virtual hosts, per-user dedup scopes and per-user limits, through the
// sessions.

// nativeStats asks s for its stats.
func nativeStats(t *testing.T, w *world, s *protocol.Native) broker.Stats {
	t.Helper()
	fs := request(t, w, s, wire.AppendStats(nil, &wire.Stats{ReqID: 99}))
	st, ok := fs[0].(*wire.StatsOK)
	if len(fs) != 1 || !ok {
		t.Fatalf("stats answered %#v", fs)
	}
	var doc broker.Stats
	if err := json.Unmarshal(st.JSON, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func names(st broker.Stats) (queues, exchanges []string) {
	for _, q := range st.Queues {
		queues = append(queues, q.Name)
	}
	for _, x := range st.Exchanges {
		exchanges = append(exchanges, x.Name)
	}
	return queues, exchanges
}

func TestVhostIsolation(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w,
		authUser{name: "ta", perms: map[string]access.Permissions{"tenant-a": all}},
		authUser{name: "tb", perms: map[string]access.Permissions{"tenant-b": all}},
		authUser{name: "root", perms: map[string]access.Permissions{"/": all}},
		authUser{name: "blind", perms: map[string]access.Permissions{"tenant-a": {Read: "^nothing$"}}},
		authUser{name: "mon", tags: []string{access.TagMonitoring}, perms: map[string]access.Permissions{"tenant-a": {}}},
	)
	tenants := map[string]*protocol.Native{"tenant-a": external(t, w, "ta", "tenant-a"), "tenant-b": external(t, w, "tb", "tenant-b")}
	for vhost, s := range tenants {
		var in []byte
		in = wire.AppendDeclareExchange(in, &wire.DeclareExchange{ReqID: 1, Name: "x", Type: wire.ExchangeDirect})
		in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 2, Name: "orders"})
		in = wire.AppendBind(in, &wire.Bind{ReqID: 3, Exchange: "x", Queue: "orders", Key: "k"})
		in = wire.AppendPublish(in, &wire.Publish{Seq: 1, Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m-" + vhost), Body: []byte("b")})
		got := request(t, w, s, in)
		if len(got) != 4 || got[3].(*wire.Confirm).Last != 1 {
			t.Fatalf("%s: %#v", vhost, got)
		}
		for _, f := range got[:3] {
			if _, ok := f.(*wire.OK); !ok {
				t.Fatalf("%s: %#v", vhost, got)
			}
		}
	}
	core := w.core.Stats()
	for vhost := range tenants {
		q, ok := findQueue(core, broker.Qualify(vhost, "orders"))
		if !ok || q.Ready != 1 {
			t.Errorf("core queue %q: %+v, %v; want one message", broker.Qualify(vhost, "orders"), q, ok)
		}
		if x, ok := findExchange(core, broker.Qualify(vhost, "x")); !ok || x.Bindings != 1 {
			t.Errorf("core exchange %q: %+v, %v", broker.Qualify(vhost, "x"), x, ok)
		}
	}
	if _, ok := findQueue(core, "orders"); ok {
		t.Error("a tenant's queue landed in the default vhost")
	}

	// Deliveries carry the local names, and each tenant gets its own message.
	for vhost, s := range tenants {
		fs := request(t, w, s, wire.AppendFetch(nil, &wire.Fetch{ReqID: 5, Queue: "orders"}))
		f, ok := fs[0].(*wire.FetchOK)
		if len(fs) != 1 || !ok {
			t.Fatalf("%s fetch: %#v", vhost, fs)
		}
		d := f.Deliver
		if string(d.Queue) != "orders" || string(d.Exchange) != "x" || string(d.MessageID) != "m-"+vhost {
			t.Errorf("%s: delivery queue %q exchange %q id %q; want orders, x, m-%s", vhost, d.Queue, d.Exchange, d.MessageID, vhost)
		}
	}

	// Stats: each tenant sees its own objects under local names, and no
	// broker-wide counters.
	for vhost, s := range tenants {
		st := nativeStats(t, w, s)
		qs, xs := names(st)
		if strings.Join(qs, ",") != "orders" || strings.Join(xs, ",") != "x" {
			t.Errorf("%s sees queues %q and exchanges %q; want its own orders and x", vhost, qs, xs)
		}
		if st.Connections != 0 || st.Bindings != 1 {
			t.Errorf("%s sees %d connections and %d bindings; want 0 (not broker-wide) and its 1", vhost, st.Connections, st.Bindings)
		}
	}
	root := external(t, w, "root", "/")
	qs, xs := names(nativeStats(t, w, root))
	for _, n := range append(qs, xs...) {
		if n == "orders" || n == "x" || strings.Contains(n, broker.VhostSeparator) {
			t.Errorf("a user on / sees %q", n)
		}
	}
	if qs, _ := names(nativeStats(t, w, external(t, w, "blind", "tenant-a"))); len(qs) != 0 {
		t.Errorf("a user without read sees queues %q", qs)
	}
	mon := nativeStats(t, w, external(t, w, "mon", "tenant-a"))
	if qs, _ := names(mon); strings.Join(qs, ",") != "orders" {
		t.Errorf("monitoring on tenant-a sees queues %q, want orders", qs)
	}
	if mon.Connections != w.core.Stats().Connections {
		t.Errorf("monitoring sees %d connections, want the broker's %d", mon.Connections, w.core.Stats().Connections)
	}
}

// TestVhostNamesCannotBeSpelled: a client of one vhost cannot name
// another vhost's objects by writing the separator into a name.
func TestVhostNamesCannotBeSpelled(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w,
		authUser{name: "ta", perms: map[string]access.Permissions{"tenant-a": all}},
		authUser{name: "root", perms: map[string]access.Permissions{"/": all}},
	)
	w.cfg.TextUser = "root"
	ta := external(t, w, "ta", "tenant-a")
	var in []byte
	in = wire.AppendDeclareExchange(in, &wire.DeclareExchange{ReqID: 1, Name: "x", Type: wire.ExchangeDirect})
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 2, Name: "orders"})
	in = wire.AppendBind(in, &wire.Bind{ReqID: 3, Exchange: "x", Queue: "orders", Key: "k"})
	in = wire.AppendPublish(in, &wire.Publish{Seq: 1, Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("secret"), Body: []byte("b")})
	request(t, w, ta, in)
	before := w.core.Stats()

	spelledQ := broker.Qualify("tenant-a", "orders")
	spelledX := broker.Qualify("tenant-a", "x")
	root := external(t, w, "root", "/")
	before.Connections++
	for i, frame := range [][]byte{
		wire.AppendFetch(nil, &wire.Fetch{ReqID: 10, Queue: spelledQ}),
		wire.AppendConsume(nil, &wire.Consume{ReqID: 11, Queue: spelledQ}),
		wire.AppendBind(nil, &wire.Bind{ReqID: 12, Exchange: spelledX, Queue: broker.DefaultQueue, Key: "k"}),
		wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: 13, Name: spelledQ}),
		wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 14, Name: broker.Qualify("tenant-a", "planted")}),
		wire.AppendDeleteExchange(nil, &wire.DeleteExchange{ReqID: 15, Name: spelledX}),
		wire.AppendPublish(nil, &wire.Publish{Seq: 1, Exchange: []byte(spelledX), RoutingKey: []byte("k"), MessageID: []byte("forged"), Body: []byte("b")}),
	} {
		fs := request(t, w, root, frame)
		for _, f := range fs {
			switch f.(type) {
			case *wire.Error, *wire.Nack:
			default:
				t.Errorf("request %d naming a tenant-a object from /: answered %#v", i, f)
			}
		}
	}
	_, txt := w.text()
	before.Connections++
	for _, cmd := range []string{"fetch " + spelledQ, "consume " + spelledQ, "bind " + spelledX + " default_queue k",
		"declare_queue " + broker.Qualify("tenant-a", "planted"), "publish " + spelledX + " k " + envelope("forged")} {
		w.send(txt, []byte(cmd+"\n"))
		got := lines(t, w.take(txt))
		if len(got) != 1 || !strings.HasPrefix(got[0], "Error: ") {
			t.Errorf("text %q from /: %q", cmd, got)
		}
	}
	after := w.core.Stats()
	after.Refused = before.Refused
	q, _ := findQueue(after, spelledQ)
	if q.Ready != 1 || q.Consumers != 0 {
		t.Errorf("tenant-a's queue changed from /: %+v", q)
	}
	if _, ok := findQueue(after, broker.Qualify("tenant-a", "planted")); ok {
		t.Error("a user on / planted a queue in tenant-a")
	}
	if x, _ := findExchange(after, spelledX); x.Bindings != 1 {
		t.Errorf("tenant-a's exchange has %d bindings, want 1", x.Bindings)
	}
}

// TestDedupIsScopedByUser is issue #10's attack: mallory publishes alice's
// message ids first, on the same exchange; alice's publishes must still be
// confirmed as new and enqueued.
func TestDedupIsScopedByUser(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w,
		authUser{name: "alice", password: "alice-pw", perms: map[string]access.Permissions{"/": all}},
		authUser{name: "mallory", password: "mallory-pw", perms: map[string]access.Permissions{"/": all}},
	)
	mallory := login(t, w, "mallory", "mallory-pw", "")
	alice := login(t, w, "alice", "alice-pw", "")
	var in []byte
	for i, id := range []string{"order-1", "order-2"} {
		in = append(in, publishFrame(uint64(i+1), id)...)
	}
	if got := request(t, w, mallory, in); len(got) != 1 || *got[0].(*wire.Confirm) != (wire.Confirm{First: 1, Last: 2}) {
		t.Fatalf("mallory's publishes: %#v", got)
	}
	got := request(t, w, alice, in)
	if len(got) != 1 {
		t.Fatalf("alice's publishes: %#v", got)
	}
	if c, ok := got[0].(*wire.Confirm); !ok || *c != (wire.Confirm{First: 1, Last: 2}) {
		t.Fatalf("alice's publishes answered %#v; want a plain Confirm 1..2 (not duplicates)", got)
	}
	q, _ := findQueue(w.core.Stats(), broker.DefaultQueue)
	if q.Ready != 4 || q.Duplicates != 0 {
		t.Errorf("default_queue: %d ready, %d duplicates; want 4 and 0", q.Ready, q.Duplicates)
	}
	// Alice's own retry is still a duplicate.
	if got := request(t, w, alice, publishFrame(3, "order-1")); len(got) != 1 || *got[0].(*wire.ConfirmDup) != (wire.ConfirmDup{Seq: 3}) {
		t.Errorf("alice's retry: %#v, want ConfirmDup", got)
	}
	// Through the text protocol too: text publishes act as the text user.
	w.cfg.TextUser = "alice"
	_, txt := w.text()
	w.send(txt, []byte("publish default_exchange default_key "+envelope("t-1")+"\n"))
	w.take(txt)
	w.cfg.TextUser = "mallory"
	_, txt2 := w.text()
	w.send(txt2, []byte("publish default_exchange default_key "+envelope("t-1")+"\n"))
	if got := lines(t, w.take(txt2)); len(got) != 1 || got[0] != "ACK t-1" {
		t.Errorf("mallory's text publish: %q", got)
	}
	if q, _ := findQueue(w.core.Stats(), broker.DefaultQueue); q.Ready != 6 || q.Duplicates != 1 {
		t.Errorf("default_queue: %d ready, %d duplicates; want 6 and 1", q.Ready, q.Duplicates)
	}
}

func TestPerUserQueueLimit(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w,
		authUser{name: "capped", perms: map[string]access.Permissions{"/": all}, limits: access.Limits{MaxQueues: 2}},
		authUser{name: "free", perms: map[string]access.Permissions{"/": all}},
	)
	capped := external(t, w, "capped", "/")
	free := external(t, w, "free", "/")
	var in []byte
	for i, n := range []string{"c1", "c2", "c3"} {
		in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: uint64(i + 1), Name: n})
	}
	got := request(t, w, capped, in)
	if len(got) != 3 || *got[0].(*wire.OK) != (wire.OK{ReqID: 1}) || *got[1].(*wire.OK) != (wire.OK{ReqID: 2}) {
		t.Fatalf("capped: %#v", got)
	}
	e, ok := got[2].(*wire.Error)
	if !ok || e.ReqID != 3 || e.Code != uint16(broker.CodeResourceLimit) || !strings.Contains(e.Message, `user "capped" already holds 2 queues`) {
		t.Errorf("the third queue: %#v; want code 500 naming the user limit", got[2])
	}
	if _, ok := findQueue(w.core.Stats(), "c3"); ok {
		t.Error("the refused queue exists")
	}
	in = nil
	for i, n := range []string{"f1", "f2", "f3"} {
		in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: uint64(i + 1), Name: n})
	}
	for i, f := range request(t, w, free, in) {
		if ok, isOK := f.(*wire.OK); !isOK || ok.ReqID != uint64(i+1) {
			t.Errorf("free user's queue %d: %#v", i+1, f)
		}
	}
	if u := w.core.Usage("capped"); u.Queues != 2 {
		t.Errorf("capped holds %d queues, want 2", u.Queues)
	}
	// Deleting one frees a slot.
	request(t, w, free, wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: 9, Name: "c1"}))
	if got := request(t, w, capped, wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 10, Name: "c3"})); *got[0].(*wire.OK) != (wire.OK{ReqID: 10}) {
		t.Errorf("after a delete: %#v", got)
	}
}

// TestMemoryShareRefusesOverBothProtocols: a user at its memory share gets
// Nack 503 on the native protocol and an Error line on the text protocol;
// another user's publish on the same broker is confirmed.
func TestMemoryShareRefusesOverBothProtocols(t *testing.T) {
	w := newWorld(t, broker.Config{})
	share := access.Limits{MaxQueuedBytes: 1} // the first message reaches it
	withUsers(t, w,
		authUser{name: "mallory", perms: map[string]access.Permissions{"/": all}, limits: share},
		authUser{name: "alice", perms: map[string]access.Permissions{"/": all}, limits: share},
	)
	w.cfg.TextUser = "mallory"
	mallory, alice := external(t, w, "mallory", "/"), external(t, w, "alice", "/")
	pub := func(s *protocol.Native, seq uint64, id string) wire.Frame {
		got := request(t, w, s, wire.AppendPublish(nil, &wire.Publish{Seq: seq, Exchange: []byte(broker.DefaultExchange),
			RoutingKey: []byte(broker.DefaultRoutingKey), MessageID: []byte(id), Body: []byte("b")}))
		if len(got) != 1 {
			t.Fatalf("publish %s answered %#v", id, got)
		}
		return got[0]
	}
	if f, ok := pub(mallory, 1, "m-1").(*wire.Confirm); !ok {
		t.Fatalf("mallory's first publish: %#v", f)
	}
	n, ok := pub(mallory, 2, "m-2").(*wire.Nack)
	if !ok || n.Code != uint16(broker.CodeUnavailable) || !strings.Contains(n.Reason, `user "mallory" memory share reached`) {
		t.Fatalf("mallory's publish over her share: %#v, want Nack 503", n)
	}
	if f, ok := pub(alice, 1, "a-1").(*wire.Confirm); !ok {
		t.Fatalf("alice's publish while mallory is at her share: %#v", f)
	}
	// Stats show each user its own share and use.
	ms := nativeStats(t, w, mallory).MemoryShare
	if ms == nil || ms.User != "mallory" || ms.Share != 1 || ms.QueuedBytes != w.core.Usage("mallory").QueuedBytes || ms.QueuedBytes <= 0 {
		t.Fatalf("mallory's stats memory share: %+v", ms)
	}
	_, text := w.text()
	w.feed(text, []byte("publish default_exchange default_key "+envelope("m-3")+"\n"))
	if got := lines(t, w.take(text)); len(got) != 1 || !strings.HasPrefix(got[0], `Error: user "mallory" memory share reached`) {
		t.Fatalf("text publish as mallory over her share answered %q", got)
	}
}

// TestStatsWalkIsBoundedForFilteredUsers: a user whose permissions hide
// more than MaxStatsScan names of its vhost before the ones it may see
// gets a truncated reply without a name cursor (never a hidden name) but
// with a resume token (TestStatsResumeTokens follows it), and the
// request visits at most MaxStatsScan queues; other vhosts' queues are
// never visited by a default-vhost user.
func TestStatsWalkIsBoundedForFilteredUsers(t *testing.T) {
	w := newWorld(t, broker.Config{MaxQueues: 3 * protocol.MaxStatsScan})
	withUsers(t, w, authUser{name: "u", perms: map[string]access.Permissions{"/": {Read: "z-.*"}}})
	for i := range protocol.MaxStatsScan + 5 {
		if err := w.core.DeclareQueue(fmt.Sprintf("a-%05d", i), broker.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
		// Another vhost's names sort among the default vhost's.
		if err := w.core.DeclareQueue(broker.Qualify("b", fmt.Sprintf("q%05d", i)), broker.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.core.DeclareQueue("z-visible", broker.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	s := external(t, w, "u", "/")
	before, _ := w.core.WorkMeter()
	st := nativeStats(t, w, s)
	after, _ := w.core.WorkMeter()
	if len(st.Queues) != 0 || !st.Truncated || st.NextQueue != "" || st.NextQueueToken == 0 {
		t.Fatalf("stats over %d hidden names: %d queues, truncated %v, next %q, token %d; want a truncated reply with only a token",
			protocol.MaxStatsScan+5, len(st.Queues), st.Truncated, st.NextQueue, st.NextQueueToken)
	}
	// The exchanges list visits the default vhost's few exchanges.
	if work := after - before; work > protocol.MaxStatsScan+10 {
		t.Fatalf("one stats request did %d units of work, want at most %d", work, protocol.MaxStatsScan+10)
	}
	// With fewer hidden names the visible queue is listed.
	for i := range 10 {
		if _, err := w.core.DeleteQueue(fmt.Sprintf("a-%05d", i), w.now); err != nil {
			t.Fatal(err)
		}
	}
	w.settle()
	if q, _ := names(nativeStats(t, w, s)); len(q) != 1 || q[0] != "z-visible" {
		t.Fatalf("with %d hidden names the reply lists %v, want z-visible", protocol.MaxStatsScan-5, q)
	}
}
