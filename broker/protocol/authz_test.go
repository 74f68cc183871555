package protocol_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Permission checks through both protocols, generated from the operation
// table: every operation is run once by a user allowed everything and once
// by a user allowed everything but denied exactly the permission the
// operation needs on its resource. A granted operation must take effect; a
// denied one must answer code 601 naming the operation and the resource,
// and change nothing in the core.

// external opens a native session authenticated by a client certificate
// (no password to verify) as user on vhost.
func external(t *testing.T, w *world, user, vhost string) *protocol.Native {
	t.Helper()
	_, s := w.nativeFrom(protocol.Peer{TLS: true, CertIdentity: user})
	w.send(s, helloAuth(&wire.Auth{Mechanism: "EXTERNAL", Vhost: vhost}))
	wantHelloOK(t, w, s)
	return s
}

// request sends one request frame and returns the frames answered.
func request(t *testing.T, w *world, s *protocol.Native, frame []byte) []wire.Frame {
	t.Helper()
	w.send(s, frame)
	if closed, why := s.Closed(); closed {
		t.Fatalf("session closed: %s", why)
	}
	return frames(t, w.take(s))
}

func findQueue(st broker.Stats, name string) (broker.QueueStats, bool) {
	for _, q := range st.Queues {
		if q.Name == name {
			return q, true
		}
	}
	return broker.QueueStats{}, false
}

func findExchange(st broker.Stats, name string) (broker.ExchangeStats, bool) {
	for _, x := range st.Exchanges {
		if x.Name == name {
			return x, true
		}
	}
	return broker.ExchangeStats{}, false
}

// tableOp is one operation of the table as both protocols spell it.
type tableOp struct {
	name   string
	deny   access.Deny // refuses exactly this operation on its resource
	names  string      // what the refusal names
	native []byte      // the request (ReqID 7, or publish seq 1)
	text   string      // the text command; "" where the protocol has none
	okLine string      // the text protocol's success reply
	effect func(before, after broker.Stats) string
}

const reqID = 7

func exists(q bool, name string, want bool) func(before, after broker.Stats) string {
	return func(_, after broker.Stats) string {
		var got bool
		if q {
			_, got = findQueue(after, name)
		} else {
			_, got = findExchange(after, name)
		}
		if got != want {
			return fmt.Sprintf("%q exists = %v, want %v", name, got, want)
		}
		return ""
	}
}

func bindingsOfX(delta int) func(before, after broker.Stats) string {
	return func(before, after broker.Stats) string {
		b, _ := findExchange(before, "x")
		a, _ := findExchange(after, "x")
		if a.Bindings != b.Bindings+delta {
			return fmt.Sprintf("x has %d bindings, want %d", a.Bindings, b.Bindings+delta)
		}
		return ""
	}
}

func queueQ(check func(q broker.QueueStats) string) func(before, after broker.Stats) string {
	return func(_, after broker.Stats) string {
		q, ok := findQueue(after, "q")
		if !ok {
			return "queue q is gone"
		}
		return check(q)
	}
}

var operationTable = []tableOp{
	{
		name: "declare exchange", deny: access.Deny{Configure: "^x2$"}, names: `declare exchange "x2"`,
		native: wire.AppendDeclareExchange(nil, &wire.DeclareExchange{ReqID: reqID, Name: "x2", Type: wire.ExchangeDirect}),
		text:   "declare_exchange x2", okLine: "Exchange declared",
		effect: exists(false, "x2", true),
	},
	{
		name: "delete exchange", deny: access.Deny{Configure: "^x$"}, names: `delete exchange "x"`,
		native: wire.AppendDeleteExchange(nil, &wire.DeleteExchange{ReqID: reqID, Name: "x"}),
		effect: exists(false, "x", false),
	},
	{
		name: "declare queue", deny: access.Deny{Configure: "^q2$"}, names: `declare queue "q2"`,
		native: wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: reqID, Name: "q2"}),
		text:   "declare_queue q2", okLine: "Queue declared",
		effect: exists(true, "q2", true),
	},
	{
		name: "declare queue with a dead-letter queue", deny: access.Deny{Write: "^dlq$"}, names: `dead-letter into queue "dlq"`,
		native: wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: reqID, Name: "q2", DeadLetterQueue: "dlq"}),
		effect: exists(true, "q2", true),
	},
	{
		name: "delete queue", deny: access.Deny{Configure: "^q$"}, names: `delete queue "q"`,
		native: wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: reqID, Name: "q"}),
		effect: exists(true, "q", false),
	},
	{
		name: "bind without write on the queue", deny: access.Deny{Write: "^q$"}, names: `bind to queue "q"`,
		native: wire.AppendBind(nil, &wire.Bind{ReqID: reqID, Exchange: "x", Queue: "q", Key: "k2"}),
		text:   "bind x q k2", okLine: "Queue bound",
		effect: bindingsOfX(+1),
	},
	{
		name: "bind without read on the exchange", deny: access.Deny{Read: "^x$"}, names: `bind from exchange "x"`,
		native: wire.AppendBind(nil, &wire.Bind{ReqID: reqID, Exchange: "x", Queue: "q", Key: "k2"}),
		text:   "bind q x k2", okLine: "Queue bound", // the other argument order
		effect: bindingsOfX(+1),
	},
	{
		name: "unbind without write on the queue", deny: access.Deny{Write: "^q$"}, names: `unbind queue "q"`,
		native: wire.AppendUnbind(nil, &wire.Unbind{ReqID: reqID, Exchange: "x", Queue: "q", Key: "k"}),
		effect: bindingsOfX(-1),
	},
	{
		name: "unbind without read on the exchange", deny: access.Deny{Read: "^x$"}, names: `unbind from exchange "x"`,
		native: wire.AppendUnbind(nil, &wire.Unbind{ReqID: reqID, Exchange: "x", Queue: "q", Key: "k"}),
		effect: bindingsOfX(-1),
	},
	{
		name: "publish", deny: access.Deny{Write: "^x$"}, names: `publish to exchange "x"`,
		native: wire.AppendPublish(nil, &wire.Publish{Seq: 1, Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m1"), Body: []byte(envelope("m1"))}),
		text:   "publish x k " + envelope("m1"), okLine: "ACK m1",
		effect: queueQ(func(q broker.QueueStats) string {
			if q.Ready != 2 {
				return fmt.Sprintf("q holds %d ready, want 2", q.Ready)
			}
			return ""
		}),
	},
	{
		name: "consume", deny: access.Deny{Read: "^q$"}, names: `consume from queue "q"`,
		native: wire.AppendConsume(nil, &wire.Consume{ReqID: reqID, Queue: "q", Prefetch: 1}),
		text:   "consume q", okLine: "Subscribed to queue",
		effect: queueQ(func(q broker.QueueStats) string {
			if q.Consumers != 1 {
				return fmt.Sprintf("q has %d consumers, want 1", q.Consumers)
			}
			return ""
		}),
	},
	{
		name: "fetch", deny: access.Deny{Read: "^q$"}, names: `fetch from queue "q"`,
		native: wire.AppendFetch(nil, &wire.Fetch{ReqID: reqID, Queue: "q"}),
		text:   "fetch q", okLine: "Message: m0 " + envelope("m0"),
		effect: queueQ(func(q broker.QueueStats) string {
			if q.Ready != 0 || q.Unacked != 1 {
				return fmt.Sprintf("q holds %d ready and %d unacked, want 0 and 1", q.Ready, q.Unacked)
			}
			return ""
		}),
	},
}

// tableWorld is a world with the users admin (everything) and actor
// (everything, minus deny), and the fixture: direct exchange x bound to
// queue q with key k, queue dlq, and message m0 ready in q.
func tableWorld(t *testing.T, deny access.Deny, mutate bool) *world {
	t.Helper()
	w := newWorld(t, broker.Config{})
	w.cfg.MutationSkipPublishPermission = mutate
	actor := all
	actor.Deny = deny
	withUsers(t, w,
		authUser{name: "admin", perms: map[string]access.Permissions{"/": all}},
		authUser{name: "actor", perms: map[string]access.Permissions{"/": actor}},
	)
	admin := external(t, w, "admin", "/")
	var in []byte
	in = wire.AppendDeclareExchange(in, &wire.DeclareExchange{ReqID: 1, Name: "x", Type: wire.ExchangeDirect})
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 2, Name: "q"})
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 3, Name: "dlq"})
	in = wire.AppendBind(in, &wire.Bind{ReqID: 4, Exchange: "x", Queue: "q", Key: "k"})
	in = wire.AppendPublish(in, &wire.Publish{Seq: 1, Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("m0"), Body: []byte(envelope("m0"))})
	got := request(t, w, admin, in)
	want := []wire.Frame{&wire.OK{ReqID: 1}, &wire.OK{ReqID: 2}, &wire.OK{ReqID: 3}, &wire.OK{ReqID: 4}, &wire.Confirm{First: 1, Last: 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("fixture: %#v", got)
	}
	w.cfg.TextUser = "actor"
	return w
}

// runTableOp runs op over proto ("native" or "text") as the actor, denied
// or not, and returns what is wrong with the outcome.
func runTableOp(t *testing.T, op tableOp, proto string, denied, mutate bool) []string {
	t.Helper()
	deny := access.Deny{}
	if denied {
		deny = op.deny
	}
	w := tableWorld(t, deny, mutate)
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	var before, after broker.Stats
	var answer any
	switch proto {
	case "native":
		s := external(t, w, "actor", "/")
		before = w.core.Stats()
		fs := request(t, w, s, op.native)
		after = w.core.Stats()
		answer = fs
		if len(fs) == 0 {
			bad("no answer")
			break
		}
		isPublish := op.name == "publish"
		switch f := fs[0].(type) {
		case *wire.Error:
			if !denied {
				bad("refused: %d %s", f.Code, f.Message)
			} else if f.ReqID != reqID || f.Code != uint16(broker.CodeAccessRefused) || !strings.Contains(f.Message, op.names) || isPublish {
				bad("refusal %#v, want ReqID %d, code 601 and %q", f, reqID, op.names)
			}
		case *wire.Nack:
			if !denied {
				bad("refused: %d %s", f.Code, f.Reason)
			} else if f.Seq != 1 || f.Code != uint16(broker.CodeAccessRefused) || !strings.Contains(f.Reason, op.names) || !isPublish {
				bad("refusal %#v, want seq 1, code 601 and %q", f, op.names)
			}
		default:
			if denied {
				bad("accepted: %#v", fs)
				break
			}
			var ok bool
			switch op.name {
			case "publish":
				ok = reflect.DeepEqual(f, &wire.Confirm{First: 1, Last: 1})
			case "consume":
				c, isC := f.(*wire.ConsumeOK)
				ok = isC && c.ReqID == reqID
			case "fetch":
				c, isC := f.(*wire.FetchOK)
				ok = isC && c.ReqID == reqID && string(c.Deliver.MessageID) == "m0"
			default:
				c, isC := f.(*wire.OK)
				ok = isC && c.ReqID == reqID
			}
			if !ok {
				bad("success answered %#v", fs)
			}
		}
	case "text":
		_, s := w.text()
		before = w.core.Stats()
		w.send(s, []byte(op.text+"\n"))
		got := lines(t, w.take(s))
		after = w.core.Stats()
		answer = got
		if len(got) != 1 {
			bad("%d reply lines", len(got))
			break
		}
		refused := strings.HasPrefix(got[0], "Error: ")
		switch {
		case denied && !refused:
			bad("accepted: %q", got[0])
		case denied && (!strings.HasPrefix(got[0], "Error: access refused: ") || !strings.Contains(got[0], op.names) || !strings.HasSuffix(got[0], "(code 601)")):
			bad("refusal %q, want an access refusal naming %q with (code 601)", got[0], op.names)
		case !denied && got[0] != op.okLine:
			bad("reply %q, want %q", got[0], op.okLine)
		}
	}
	if denied {
		// Nothing changes, but a refused publish is counted as refused.
		if op.name == "publish" {
			if after.Refused != before.Refused+1 {
				bad("refused publishes %d -> %d, want +1", before.Refused, after.Refused)
			}
			after.Refused = before.Refused
		}
		if !reflect.DeepEqual(before, after) {
			bad("the core changed:\nbefore %+v\nafter  %+v", before, after)
		}
	} else if msg := op.effect(before, after); msg != "" {
		bad("%s", msg)
	}
	if len(problems) > 0 {
		problems = append(problems, fmt.Sprintf("(answer %#v)", answer))
	}
	return problems
}

func TestPermissionTableBothProtocols(t *testing.T) {
	for _, op := range operationTable {
		for _, proto := range []string{"native", "text"} {
			if proto == "text" && op.text == "" {
				continue
			}
			for _, denied := range []bool{false, true} {
				verdict := "granted"
				if denied {
					verdict = "denied"
				}
				t.Run(proto+"/"+op.name+"/"+verdict, func(t *testing.T) {
					for _, p := range runTableOp(t, op, proto, denied, false) {
						t.Error(p)
					}
				})
			}
		}
	}
}

// TestMutationSkipPublishPermissionIsCaught shows the table above catches
// a session that forgets the publish permission check: with the mutation
// the denied publish is accepted, and the checker reports it.
func TestMutationSkipPublishPermissionIsCaught(t *testing.T) {
	var publish tableOp
	for _, op := range operationTable {
		if op.name == "publish" {
			publish = op
		}
	}
	for _, proto := range []string{"native", "text"} {
		if p := runTableOp(t, publish, proto, true, false); len(p) != 0 {
			t.Fatalf("%s: without the mutation the denied publish is not clean: %q", proto, p)
		}
		problems := runTableOp(t, publish, proto, true, true)
		if len(problems) == 0 {
			t.Errorf("%s: with MutationSkipPublishPermission the denied-publish case still passes", proto)
			continue
		}
		if !strings.Contains(problems[0], "accepted") {
			t.Errorf("%s: the checker noticed something other than the accepted publish: %q", proto, problems)
		}
		// The mutation must not break what is allowed anyway.
		if p := runTableOp(t, publish, proto, false, true); len(p) != 0 {
			t.Errorf("%s: the mutation broke a granted publish: %q", proto, p)
		}
	}
}
