package server

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// The access table test: every operation of the permission table, over both
// protocols, against a real server on loopback sockets, once with every
// permission it needs and once per permission it needs with exactly that one
// missing. A refusal must be code 601 naming the operation and the resource,
// and must change nothing the broker holds; a granted request must succeed
// and change something (which proves the comparison can see a change).
//
// Users: admin builds the fixture; alice owns ^alice- names; mallory owns
// ^mallory- names and may also read and write the exchange "shared". Each
// case runs on its own server with the same fixture:
//
//	exchanges alice-x, mallory-x, shared (direct)
//	queues    alice-q, mallory-q, alice-dlq, mallory-dlq
//	bindings  {alice-x, mallory-x} → {alice-q, mallory-q}, key "<x>><q>"
//	messages  alice-q holds aliceBodies (published by alice),
//	          mallory-q holds malloryBodies (published by mallory)

const (
	acAdminPW   = "admin-pw"
	acAlicePW   = "alice-pw"
	acMalloryPW = "mallory-pw"
)

var (
	aliceBodies   = []string{"alice secret 1", "alice secret 2", "alice secret 3"}
	malloryBodies = []string{"mallory 1", "mallory 2"}
)

func accessUsers(t testing.TB) string {
	t.Helper()
	return writeUsers(t,
		access.User{Name: "admin", PasswordHash: hashFor(t, acAdminPW, cheapArgon2), Permissions: allOn("/")},
		access.User{Name: "alice", PasswordHash: hashFor(t, acAlicePW, cheapArgon2), Permissions: map[string]access.Permissions{
			"/": {Configure: "alice-.*", Write: "alice-.*|shared", Read: "alice-.*|shared"}}},
		access.User{Name: "mallory", PasswordHash: hashFor(t, acMalloryPW, cheapArgon2), Permissions: map[string]access.Permissions{
			"/": {Configure: "mallory-.*", Write: "mallory-.*|shared", Read: "mallory-.*|shared"}}},
	)
}

// startAccessServer starts a server with the three users, the text user
// mapped to mallory.
func startAccessServer(t *testing.T) (*Server, string) {
	t.Helper()
	cfg := testConfig()
	cfg.Auth.UsersFile = accessUsers(t)
	cfg.Auth.TextUser = "mallory"
	return startServer(t, cfg)
}

// login opens an authenticated native connection.
func login(t testing.TB, addr, user, password string) *nativeClient {
	t.Helper()
	f, c := authFirstFrame(t, addr, plain(user, password))
	if f.FrameType() != wire.FrameHelloOK {
		t.Fatalf("login as %s answered %#v", user, f)
	}
	return c
}

// request sends one request frame and returns the answer: nil for OK (or
// ConsumeOK, FetchOK, FetchEmpty), the Error otherwise. Deliveries pushed
// meanwhile are skipped.
func (c *nativeClient) request(b []byte) (wire.Frame, *wire.Error) {
	c.t.Helper()
	c.send(b)
	for {
		switch f := c.next().(type) {
		case *wire.Deliver, *wire.DeliverRef:
			continue
		case *wire.Error:
			return f, f
		default:
			return f, nil
		}
	}
}

// mustOK sends a request that must succeed.
func (c *nativeClient) mustOK(what string, b []byte) {
	c.t.Helper()
	if f, e := c.request(b); e != nil {
		c.t.Fatalf("%s: %#v", what, f)
	}
}

// publishWait publishes one message and returns its resolution: Confirm,
// ConfirmDup or Nack.
func (c *nativeClient) publishWait(exchange, key, id, body string) wire.Frame {
	c.t.Helper()
	seq := c.seq()
	c.send(publishFrame(seq, exchange, key, id, []byte(body)))
	for {
		switch f := c.next().(type) {
		case *wire.Deliver, *wire.DeliverRef:
			continue
		case *wire.Confirm:
			if f.First > seq || f.Last < seq {
				c.t.Fatalf("publish %d answered with a confirm of %d..%d", seq, f.First, f.Last)
			}
			return f
		case *wire.ConfirmDup:
			return f
		case *wire.Nack:
			return f
		default:
			c.t.Fatalf("publish %d answered %#v", seq, f)
		}
	}
}

// drain fetches queue until it is empty and returns the bodies.
func (c *nativeClient) drain(queue string) []string {
	c.t.Helper()
	var bodies []string
	for i := 0; ; i++ {
		f, e := c.request(wire.AppendFetch(nil, &wire.Fetch{ReqID: uint64(1000 + i), Queue: queue}))
		if e != nil {
			c.t.Fatalf("fetch %s: %#v", queue, f)
		}
		ok, isOK := f.(*wire.FetchOK)
		if !isOK {
			return bodies
		}
		bodies = append(bodies, string(ok.Deliver.Body))
	}
}

func routeKey(exchange, queue string) string { return exchange + ">" + queue }

// buildFixture creates the fixture described at the top of this file.
func buildFixture(t *testing.T, addr string) {
	t.Helper()
	admin := login(t, addr, "admin", acAdminPW)
	req := uint64(0)
	next := func() uint64 { req++; return req }
	for _, x := range []string{"alice-x", "mallory-x", "shared"} {
		admin.mustOK("declare "+x, wire.AppendDeclareExchange(nil, &wire.DeclareExchange{ReqID: next(), Name: x, Type: wire.ExchangeDirect}))
	}
	for _, q := range []string{"alice-q", "mallory-q", "alice-dlq", "mallory-dlq"} {
		admin.mustOK("declare "+q, wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: next(), Name: q}))
	}
	for _, x := range []string{"alice-x", "mallory-x"} {
		for _, q := range []string{"alice-q", "mallory-q"} {
			admin.mustOK("bind "+routeKey(x, q), wire.AppendBind(nil, &wire.Bind{ReqID: next(), Exchange: x, Queue: q, Key: routeKey(x, q)}))
		}
	}
	for user, pw := range map[string]string{"alice": acAlicePW, "mallory": acMalloryPW} {
		c := login(t, addr, user, pw)
		bodies := aliceBodies
		if user == "mallory" {
			bodies = malloryBodies
		}
		x, q := user+"-x", user+"-q"
		for i, b := range bodies {
			if f := c.publishWait(x, routeKey(x, q), fmt.Sprintf("%s-fixture-%d", user, i), b); f.FrameType() != wire.FrameConfirm {
				t.Fatalf("fixture publish by %s answered %#v", user, f)
			}
		}
		c.nc.Close()
	}
	admin.nc.Close()
}

// snapshot is what the broker holds: every queue's contents and
// consumers, every exchange's bindings, the dedup windows and the
// per-object counters (a refused request must not count as a publish or a
// delivery either). Connections and the broker-wide refusal counter are left
// out: the first depends on the test's own clients, the second counts
// refusals by design.
type snapshot struct {
	Consumers, Bindings, DedupIDs int
	Duplicates                    uint64
	Exchanges                     []broker.ExchangeStats
	Queues                        []broker.QueueStats
}

func snap(srv *Server) snapshot {
	s := srv.Stats()
	out := snapshot{Consumers: s.Consumers, Bindings: s.Bindings, DedupIDs: s.DedupIDs, Duplicates: s.Duplicates,
		Exchanges: slices.Clone(s.Exchanges), Queues: slices.Clone(s.Queues)}
	slices.SortFunc(out.Exchanges, func(a, b broker.ExchangeStats) int { return strings.Compare(a.Name, b.Name) })
	slices.SortFunc(out.Queues, func(a, b broker.QueueStats) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// A slot is one resource an operation names. In a case, each slot holds
// mallory's name (granted) or alice's (the one refused permission).
type slot string

const (
	slotX   slot = "exchange"
	slotQ   slot = "queue"
	slotDLQ slot = "dead-letter queue"
)

// need is one permission an operation requires: kind on the resource in
// slot; verb and what are how the refusal names the operation.
type need struct {
	slot slot
	kind access.Kind
	verb string // "declare", "bind to", ...
	what string // "exchange" or "queue"
}

// names maps each slot of a case to a resource name.
type names map[slot]string

// accessOp is one row of the operation table.
type accessOp struct {
	name  string
	needs []need
	// fresh: the operation creates the resource, so its slots name
	// resources that do not exist yet ("<owner>-new-x").
	fresh bool
	// native performs the operation on a native connection: nil error
	// frame on success.
	native func(c *nativeClient, n names) (wire.Frame, *wire.Error)
	// text performs it on a text connection (nil: no text command) and
	// returns the reply line; textOK says whether a reply is the success.
	text   func(c *textClient, n names) string
	textOK func(reply string, n names) bool
}

// name returns owner's resource for slot s.
func resourceName(owner string, s slot, fresh bool) string {
	suffix := map[slot]string{slotX: "x", slotQ: "q", slotDLQ: "dlq"}[s]
	if fresh {
		return owner + "-new-" + suffix
	}
	return owner + "-" + suffix
}

// nativePublish publishes once and maps a Nack to an Error.
func nativePublish(c *nativeClient, n names) (wire.Frame, *wire.Error) {
	x := n[slotX]
	owner := strings.TrimSuffix(x, "-x")
	f := c.publishWait(x, routeKey(x, owner+"-q"), "case-"+x, "case body")
	switch f := f.(type) {
	case *wire.Confirm:
		return f, nil
	case *wire.Nack:
		return f, &wire.Error{Code: f.Code, Message: f.Reason}
	}
	return f, &wire.Error{Message: fmt.Sprintf("unexpected %#v", f)}
}

var accessOps = []accessOp{
	{
		name: "declare exchange", fresh: true,
		needs: []need{{slotX, access.Configure, "declare", "exchange"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			return c.request(wire.AppendDeclareExchange(nil, &wire.DeclareExchange{ReqID: 1, Name: n[slotX], Type: wire.ExchangeDirect}))
		},
		text:   func(c *textClient, n names) string { return c.call("declare_exchange " + n[slotX]) },
		textOK: func(r string, _ names) bool { return r == wire.ReplyExchangeDeclared },
	},
	{
		name:  "delete exchange",
		needs: []need{{slotX, access.Configure, "delete", "exchange"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			return c.request(wire.AppendDeleteExchange(nil, &wire.DeleteExchange{ReqID: 1, Name: n[slotX]}))
		},
	},
	{
		name: "declare queue", fresh: true,
		needs: []need{{slotQ, access.Configure, "declare", "queue"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			return c.request(wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: n[slotQ]}))
		},
		text:   func(c *textClient, n names) string { return c.call("declare_queue " + n[slotQ]) },
		textOK: func(r string, _ names) bool { return r == wire.ReplyQueueDeclared },
	},
	{
		name: "declare queue with a dead-letter queue", fresh: true,
		needs: []need{{slotQ, access.Configure, "declare", "queue"}, {slotDLQ, access.Write, "dead-letter into", "queue"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			return c.request(wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: n[slotQ], DeadLetterQueue: n[slotDLQ], DeliveryLimit: 1}))
		},
	},
	{
		name:  "delete queue",
		needs: []need{{slotQ, access.Configure, "delete", "queue"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			return c.request(wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: 1, Name: n[slotQ]}))
		},
	},
	{
		name:  "bind",
		needs: []need{{slotQ, access.Write, "bind to", "queue"}, {slotX, access.Read, "bind from", "exchange"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			return c.request(wire.AppendBind(nil, &wire.Bind{ReqID: 1, Exchange: n[slotX], Queue: n[slotQ], Key: "new-key"}))
		},
		text:   func(c *textClient, n names) string { return c.call("bind " + n[slotX] + " " + n[slotQ] + " new-key") },
		textOK: func(r string, _ names) bool { return r == wire.ReplyQueueBound },
	},
	{
		// The fixture holds a binding for every exchange × queue pair, so
		// each variant names an existing binding.
		name:  "unbind",
		needs: []need{{slotQ, access.Write, "unbind", "queue"}, {slotX, access.Read, "unbind from", "exchange"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			return c.request(wire.AppendUnbind(nil, &wire.Unbind{ReqID: 1, Exchange: n[slotX], Queue: n[slotQ], Key: routeKey(n[slotX], n[slotQ])}))
		},
	},
	{
		// Published with the key that routes to the exchange owner's queue.
		name:   "publish",
		needs:  []need{{slotX, access.Write, "publish to", "exchange"}},
		native: nativePublish,
		text: func(c *textClient, n names) string {
			x := n[slotX]
			return c.call("publish " + x + " " + routeKey(x, strings.TrimSuffix(x, "-x")+"-q") + " " + envelope("case-"+x))
		},
		textOK: func(r string, n names) bool { return r == "ACK case-"+n[slotX] },
	},
	{
		name:  "consume",
		needs: []need{{slotQ, access.Read, "consume from", "queue"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			return c.request(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: n[slotQ], Prefetch: 10}))
		},
		text:   func(c *textClient, n names) string { return c.call("consume " + n[slotQ]) },
		textOK: func(r string, _ names) bool { return r == wire.ReplySubscribed },
	},
	{
		name:  "fetch",
		needs: []need{{slotQ, access.Read, "fetch from", "queue"}},
		native: func(c *nativeClient, n names) (wire.Frame, *wire.Error) {
			f, e := c.request(wire.AppendFetch(nil, &wire.Fetch{ReqID: 1, Queue: n[slotQ]}))
			if _, ok := f.(*wire.FetchOK); !ok && e == nil {
				return f, &wire.Error{Message: fmt.Sprintf("fetch from a queue holding messages answered %#v", f)}
			}
			return f, e
		},
		text:   func(c *textClient, n names) string { return c.call("fetch " + n[slotQ]) },
		textOK: func(r string, _ names) bool { return strings.HasPrefix(r, "Message: mallory-fixture-") },
	},
}

// accessCase is one generated case: an operation, a protocol, and which
// need (if any) is refused.
type accessCase struct {
	op     accessOp
	proto  string // "native" or "text"
	denied *need  // nil: every need granted
	names  names
}

func (c accessCase) String() string {
	v := "granted"
	if c.denied != nil {
		v = fmt.Sprintf("denied %s on %s", c.denied.kind, c.denied.slot)
	}
	return fmt.Sprintf("%s/%s/%s", c.proto, c.op.name, v)
}

// accessCases generates the cases from the table: for each operation and
// protocol, one granted case (every slot names mallory's resource) and,
// for each need, one case where that need's slot names alice's resource.
func accessCases() []accessCase {
	var cases []accessCase
	for _, op := range accessOps {
		for _, proto := range []string{"native", "text"} {
			if proto == "text" && op.text == nil {
				continue
			}
			variants := []*need{nil}
			for i := range op.needs {
				variants = append(variants, &op.needs[i])
			}
			for _, denied := range variants {
				n := names{}
				for _, nd := range op.needs {
					owner := "mallory"
					if denied != nil && nd.slot == denied.slot {
						owner = "alice"
					}
					// Only the declared resource itself is fresh.
					n[nd.slot] = resourceName(owner, nd.slot, op.fresh && nd.slot != slotDLQ)
				}
				cases = append(cases, accessCase{op: op, proto: proto, denied: denied, names: n})
			}
		}
	}
	return cases
}

func TestAccessTableOverBothProtocols(t *testing.T) {
	cases := accessCases()
	// The table yields what it should: a case per need plus a granted
	// case for each operation and protocol.
	if len(cases) != 36 {
		t.Fatalf("the operation table generated %d cases, want 36", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.String(), func(t *testing.T) {
			t.Parallel()
			srv, addr := startAccessServer(t)
			buildFixture(t, addr)

			var nc *nativeClient
			var tcl *textClient
			if tc.proto == "native" {
				nc = login(t, addr, "mallory", acMalloryPW)
			} else {
				tcl = dialText(t, addr)
			}
			before := snap(srv)

			// Perform the operation and reduce the answer to (ok, code, message).
			var ok bool
			var code uint16
			var msg, got string
			if nc != nil {
				f, e := tc.op.native(nc, tc.names)
				ok, got = e == nil, fmt.Sprintf("%#v", f)
				if e != nil {
					code, msg = e.Code, e.Message
				}
			} else {
				reply := tc.op.text(tcl, tc.names)
				ok, got, msg = tc.op.textOK(reply, tc.names), reply, reply
				if m := strings.Index(reply, "(code "); m >= 0 {
					if n, err := strconv.Atoi(strings.TrimSuffix(reply[m+len("(code "):], ")")); err == nil {
						code = uint16(n)
					}
				}
			}
			after := snap(srv)

			if tc.denied == nil {
				if !ok {
					t.Fatalf("granted %s on %v answered %s", tc.op.name, tc.names, got)
				}
				if reflect.DeepEqual(before, after) {
					t.Fatalf("granted %s succeeded but the broker's state did not change: the comparison would miss a change", tc.op.name)
				}
				return
			}
			d := tc.denied
			resource := tc.names[d.slot]
			if ok || code != uint16(broker.CodeAccessRefused) {
				t.Fatalf("%s with %s denied on %q answered %s, want code %d", tc.op.name, d.kind, resource, got, broker.CodeAccessRefused)
			}
			for _, want := range []string{d.verb + " " + d.what, strconv.Quote(resource), d.kind.String(), `"mallory"`} {
				if !strings.Contains(msg, want) {
					t.Errorf("refusal %q does not name %s", msg, want)
				}
			}
			if !reflect.DeepEqual(before, after) {
				t.Fatalf("a refused %s changed the broker:\nbefore %+v\nafter  %+v", tc.op.name, before, after)
			}
			// The refusal is not fatal to the session: mallory carries on.
			if nc != nil {
				nc.mustOK("declare after refusal", wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 99, Name: "mallory-after"}))
			} else if r := tcl.call("declare_queue mallory-after"); r != wire.ReplyQueueDeclared {
				t.Fatalf("text session after a refusal: %q", r)
			}
			// Alice's queue still holds exactly her messages.
			alice := login(t, addr, "alice", acAlicePW)
			if got := alice.drain("alice-q"); !slices.Equal(got, aliceBodies) {
				t.Fatalf("alice-q after a refused %s holds %q, want %q", tc.op.name, got, aliceBodies)
			}
		})
	}
}

// TestTextPublishRefusalCarriesAccessCode: a text publish (and each line of
// a publish_batch) refused by a permission check is answered with code 601,
// like every other text command refused for access, and enqueues nothing.
func TestTextPublishRefusalCarriesAccessCode(t *testing.T) {
	srv, addr := startAccessServer(t)
	buildFixture(t, addr)
	before := snap(srv)
	c := dialText(t, addr)
	if r := c.call("publish alice-x " + routeKey("alice-x", "alice-q") + " " + envelope("m1")); !strings.HasPrefix(r, "Error: access refused") ||
		!strings.HasSuffix(r, "(code 601)") {
		t.Fatalf("refused publish answered %q, want an access refusal with code 601", r)
	}
	c.send("publish_batch alice-x " + routeKey("alice-x", "alice-q") + " [" + envelope("m2") + ", " + envelope("m3") + "]")
	for _, id := range []string{"m2", "m3"} {
		if r := c.line(); !strings.HasPrefix(r, "Error: access refused") || !strings.HasSuffix(r, "(code 601) for message "+id) {
			t.Fatalf("refused batch line answered %q, want an access refusal with code 601 for %s", r, id)
		}
	}
	if after := snap(srv); !reflect.DeepEqual(before, after) {
		t.Fatalf("refused text publishes changed the broker:\nbefore %+v\nafter  %+v", before, after)
	}
}

// TestMalloryCannotSpoilAliceOnShared: ids are deduplicated per user, so
// mallory publishing alice's predictable message ids on the exchange they
// share first does not turn alice's publishes into duplicates: hers are
// confirmed as new, enqueued and delivered.
func TestMalloryCannotSpoilAliceOnShared(t *testing.T) {
	srv, addr := startAccessServer(t)
	buildFixture(t, addr)
	alice := login(t, addr, "alice", acAlicePW)
	alice.mustOK("declare alice-inbox", wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: "alice-inbox"}))
	alice.mustOK("bind shared → alice-inbox", wire.AppendBind(nil, &wire.Bind{ReqID: 2, Exchange: "shared", Queue: "alice-inbox", Key: "inbox"}))

	ids := []string{"order-1", "order-2", "order-3"}
	mallory := login(t, addr, "mallory", acMalloryPW)
	for _, id := range ids {
		if f := mallory.publishWait("shared", "inbox", id, "forged "+id); f.FrameType() != wire.FrameConfirm {
			t.Fatalf("mallory's publish of %s on shared answered %#v", id, f)
		}
	}
	// The text protocol (mallory too) pre-publishes the same ids.
	tc := dialText(t, addr)
	for _, id := range ids {
		if r := tc.call("publish shared inbox " + envelope(id)); r != "ACK "+id {
			t.Fatalf("text publish of %s on shared answered %q", id, r)
		}
	}
	for _, id := range ids {
		if f := alice.publishWait("shared", "inbox", id, "genuine "+id); f.FrameType() != wire.FrameConfirm {
			t.Fatalf("alice's publish of %s after mallory's answered %#v, want a plain Confirm (not a duplicate)", id, f)
		}
	}
	if d := srv.Stats().Duplicates; d != uint64(len(ids)) {
		// mallory's text publishes repeat her own native ones: those, and
		// only those, are her duplicates.
		t.Fatalf("duplicates = %d, want %d (mallory's own repeats only)", d, len(ids))
	}
	got := alice.drain("alice-inbox")
	for _, id := range ids {
		if !slices.Contains(got, "genuine "+id) {
			t.Fatalf("alice-inbox delivered %q: alice's message %s is missing", got, id)
		}
	}
	if len(got) != 2*len(ids) {
		t.Fatalf("alice-inbox delivered %d messages (%q), want mallory's %d and alice's %d", len(got), got, len(ids), len(ids))
	}
}

// TestMalloryCannotTapAlice: binding her own queue to alice's exchange is
// refused (she has no read on it), over both protocols, so alice's
// traffic reaches alice's queue and nothing of it reaches mallory's.
func TestMalloryCannotTapAlice(t *testing.T) {
	srv, addr := startAccessServer(t)
	alice := login(t, addr, "alice", acAlicePW)
	alice.mustOK("declare alice-fan", wire.AppendDeclareExchange(nil, &wire.DeclareExchange{ReqID: 1, Name: "alice-fan", Type: wire.ExchangeFanout}))
	alice.mustOK("declare alice-q", wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 2, Name: "alice-q"}))
	alice.mustOK("bind", wire.AppendBind(nil, &wire.Bind{ReqID: 3, Exchange: "alice-fan", Queue: "alice-q"}))

	mallory := login(t, addr, "mallory", acMalloryPW)
	mallory.mustOK("declare mallory-tap", wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: "mallory-tap"}))
	if f, e := mallory.request(wire.AppendBind(nil, &wire.Bind{ReqID: 2, Exchange: "alice-fan", Queue: "mallory-tap"})); e == nil ||
		e.Code != uint16(broker.CodeAccessRefused) || !strings.Contains(e.Message, `bind from exchange "alice-fan"`) {
		t.Fatalf("mallory binding her queue to alice's exchange answered %#v", f)
	}
	if r := dialText(t, addr).call("bind alice-fan mallory-tap any"); !strings.Contains(r, `bind from exchange "alice-fan"`) || !strings.Contains(r, "(code 601)") {
		t.Fatalf("text bind of mallory's queue to alice's exchange answered %q", r)
	}
	for i := range 3 {
		if f := alice.publishWait("alice-fan", "k", fmt.Sprint("a-", i), "private"); f.FrameType() != wire.FrameConfirm {
			t.Fatalf("alice's publish answered %#v", f)
		}
	}
	if q := queueOf(srv, "alice-q"); q.Ready != 3 {
		t.Fatalf("alice-q holds %d messages, want 3", q.Ready)
	}
	if q := queueOf(srv, "mallory-tap"); q.Ready != 0 || q.Published != 0 {
		t.Fatalf("mallory-tap received alice's traffic: %+v", q)
	}
	if got := mallory.drain("mallory-tap"); len(got) != 0 {
		t.Fatalf("mallory fetched %q from her tap", got)
	}
}

// TestMalloryCannotDeleteDefaultQueue: the default topology is not hers.
func TestMalloryCannotDeleteDefaultQueue(t *testing.T) {
	srv, addr := startAccessServer(t)
	admin := login(t, addr, "admin", acAdminPW)
	if f := admin.publishWait(broker.DefaultExchange, broker.DefaultRoutingKey, "d-1", "keep me"); f.FrameType() != wire.FrameConfirm {
		t.Fatalf("admin publish to the default exchange answered %#v", f)
	}
	before := snap(srv)
	mallory := login(t, addr, "mallory", acMalloryPW)
	if f, e := mallory.request(wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: 1, Name: broker.DefaultQueue})); e == nil ||
		e.Code != uint16(broker.CodeAccessRefused) || !strings.Contains(e.Message, `delete queue "`+broker.DefaultQueue+`"`) {
		t.Fatalf("mallory deleting %s answered %#v", broker.DefaultQueue, f)
	}
	if f, e := mallory.request(wire.AppendDeleteExchange(nil, &wire.DeleteExchange{ReqID: 2, Name: broker.DefaultExchange})); e == nil ||
		e.Code != uint16(broker.CodeAccessRefused) {
		t.Fatalf("mallory deleting %s answered %#v", broker.DefaultExchange, f)
	}
	if after := snap(srv); !reflect.DeepEqual(before, after) {
		t.Fatalf("refused deletes changed the broker:\nbefore %+v\nafter  %+v", before, after)
	}
	if q := queueOf(srv, broker.DefaultQueue); q.Ready != 1 {
		t.Fatalf("%s holds %d messages after mallory's refused delete, want 1", broker.DefaultQueue, q.Ready)
	}
}
