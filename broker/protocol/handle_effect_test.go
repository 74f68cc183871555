package protocol_test

import (
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// guardCore passes every call to the real core and fails the test when a
// call comes while a session is inside HandleEffect: the driver loop
// (broker/driver) routes the effects of one Drain while iterating over the
// slice Drain returned, which a core call from HandleEffect could overwrite.
type guardCore struct {
	protocol.Core
	t        *testing.T
	handling bool
}

func (g *guardCore) check(method string) {
	if g.handling {
		g.t.Errorf("HandleEffect called the core (%s)", method)
	}
}

// TestHandleEffectNeverCallsTheCore drives native and text sessions
// through every kind of effect a session receives (confirm, duplicate
// confirm, refusal, delivery, redelivery, cancellation) and fails if any
// HandleEffect calls the core (Session.HandleEffect's promise).
func TestHandleEffectNeverCallsTheCore(t *testing.T) {
	core := broker.New(broker.Config{})
	g := &guardCore{Core: core, t: t}
	now := epoch
	cfg := protocol.Config{Heartbeat: time.Second, HandshakeTimeout: 5 * time.Second,
		TextAckTimeout: 30 * time.Second, TextPacingGap: 20 * time.Millisecond}
	sessions := map[broker.ConnID]protocol.Session{
		1: protocol.NewNative(g, 1, cfg, now),
		2: protocol.NewNative(g, 2, cfg, now),
		3: protocol.NewText(g, 3, cfg, now),
	}
	kinds := map[broker.EffectKind]int{}
	feed := func(id broker.ConnID, in []byte) {
		t.Helper()
		if _, err := sessions[id].Feed(in, now); err != nil {
			t.Fatalf("conn %d: %v", id, err)
		}
		for {
			effects := core.Drain()
			if len(effects) == 0 {
				break
			}
			for _, e := range effects {
				kinds[e.Kind]++
				g.handling = true
				sessions[e.Conn].HandleEffect(e, now)
				g.handling = false
			}
		}
		for _, s := range sessions {
			s.Wrote(len(s.Output()), now)
		}
	}
	hello := func() []byte {
		return wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion, ClientName: "t"})
	}
	feed(1, hello())
	feed(2, hello())
	feed(2, wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: "tmp"}))
	feed(2, wire.AppendConsume(nil, &wire.Consume{ReqID: 2, Queue: "tmp", Prefetch: 5}))
	feed(2, wire.AppendConsume(nil, &wire.Consume{ReqID: 3, Queue: broker.DefaultQueue, Prefetch: 5, AckTimeoutMs: 100}))
	feed(3, []byte("consume default_queue\n"))
	feed(1, publishFrame(1, "a"))
	feed(1, publishFrame(2, "a")) // duplicate
	feed(1, wire.AppendPublish(nil, &wire.Publish{Seq: 3, Exchange: []byte("nowhere"), MessageID: []byte("b")}))
	feed(3, []byte("publish default_exchange default_key "+envelope("c")+"\n"))
	now = now.Add(time.Second) // the native consumer's ack timeout: redelivery
	core.Tick(now)
	feed(1, wire.AppendDeleteQueue(nil, &wire.DeleteQueue{ReqID: 4, Name: "tmp"})) // cancels conn 2's consumer
	for _, k := range []broker.EffectKind{broker.EffectConfirm, broker.EffectRefuse, broker.EffectDeliver, broker.EffectCancelled} {
		if kinds[k] == 0 {
			t.Errorf("no effect of kind %v happened: the test does not cover it (%v)", k, kinds)
		}
	}
}

func (g *guardCore) Open(conn broker.ConnID, now time.Time) {
	g.check("Open")
	g.Core.Open(conn, now)
}

func (g *guardCore) OpenAs(conn broker.ConnID, owner broker.Owner, now time.Time) {
	g.check("OpenAs")
	g.Core.OpenAs(conn, owner, now)
}

func (g *guardCore) SetOutboundLimit(conn broker.ConnID, limit int64) {
	g.check("SetOutboundLimit")
	g.Core.SetOutboundLimit(conn, limit)
}

func (g *guardCore) Writable(conn broker.ConnID, pending int64, now time.Time) {
	g.check("Writable")
	g.Core.Writable(conn, pending, now)
}

func (g *guardCore) Close(conn broker.ConnID, now time.Time) {
	g.check("Close")
	g.Core.Close(conn, now)
}

func (g *guardCore) DeclareExchange(name string, typ broker.ExchangeType) error {
	g.check("DeclareExchange")
	return g.Core.DeclareExchange(name, typ)
}

func (g *guardCore) DeclareExchangeAs(owner broker.Owner, name string, typ broker.ExchangeType) error {
	g.check("DeclareExchangeAs")
	return g.Core.DeclareExchangeAs(owner, name, typ)
}

func (g *guardCore) DeleteExchange(name string) error {
	g.check("DeleteExchange")
	return g.Core.DeleteExchange(name)
}

func (g *guardCore) DeclareQueue(name string, opts broker.QueueOptions) error {
	g.check("DeclareQueue")
	return g.Core.DeclareQueue(name, opts)
}

func (g *guardCore) DeclareQueueAs(owner broker.Owner, name string, opts broker.QueueOptions) error {
	g.check("DeclareQueueAs")
	return g.Core.DeclareQueueAs(owner, name, opts)
}

func (g *guardCore) DeleteQueue(name string, now time.Time) (discarded int, err error) {
	g.check("DeleteQueue")
	return g.Core.DeleteQueue(name, now)
}

func (g *guardCore) QueueExists(name string) bool {
	g.check("QueueExists")
	return g.Core.QueueExists(name)
}

func (g *guardCore) ExchangeExists(name string) bool {
	g.check("ExchangeExists")
	return g.Core.ExchangeExists(name)
}

func (g *guardCore) Bind(exchange, queue, key string) error {
	g.check("Bind")
	return g.Core.Bind(exchange, queue, key)
}

func (g *guardCore) BindAs(owner broker.Owner, exchange, queue, key string) error {
	g.check("BindAs")
	return g.Core.BindAs(owner, exchange, queue, key)
}

func (g *guardCore) Unbind(exchange, queue, key string) error {
	g.check("Unbind")
	return g.Core.Unbind(exchange, queue, key)
}

func (g *guardCore) Publish(conn broker.ConnID, p *broker.Publish, now time.Time) {
	g.check("Publish")
	g.Core.Publish(conn, p, now)
}

func (g *guardCore) Refuse(conn broker.ConnID, seq uint64, err *broker.Error, now time.Time) {
	g.check("Refuse")
	g.Core.Refuse(conn, seq, err, now)
}

func (g *guardCore) Consume(conn broker.ConnID, opts broker.ConsumeOptions, now time.Time) (tag string, err error) {
	g.check("Consume")
	return g.Core.Consume(conn, opts, now)
}

func (g *guardCore) Cancel(conn broker.ConnID, tag string, now time.Time) error {
	g.check("Cancel")
	return g.Core.Cancel(conn, tag, now)
}

func (g *guardCore) Ack(conn broker.ConnID, tag uint64, multiple bool, now time.Time) error {
	g.check("Ack")
	return g.Core.Ack(conn, tag, multiple, now)
}

func (g *guardCore) Nack(conn broker.ConnID, tag uint64, multiple, requeue bool, now time.Time) error {
	g.check("Nack")
	return g.Core.Nack(conn, tag, multiple, requeue, now)
}

func (g *guardCore) Reject(conn broker.ConnID, tag uint64, now time.Time) error {
	g.check("Reject")
	return g.Core.Reject(conn, tag, now)
}

func (g *guardCore) NackReason(conn broker.ConnID, tag uint64, multiple, requeue bool, reason wire.RejectReason, now time.Time) error {
	g.check("NackReason")
	return g.Core.NackReason(conn, tag, multiple, requeue, reason, now)
}

func (g *guardCore) RejectReason(conn broker.ConnID, tag uint64, reason wire.RejectReason, now time.Time) error {
	g.check("RejectReason")
	return g.Core.RejectReason(conn, tag, reason, now)
}

func (g *guardCore) Fetch(conn broker.ConnID, queue string, now time.Time) (broker.Delivery, bool, error) {
	g.check("Fetch")
	return g.Core.Fetch(conn, queue, now)
}

func (g *guardCore) Stats() broker.Stats {
	g.check("Stats")
	return g.Core.Stats()
}

func (g *guardCore) StatsSummary() broker.Stats {
	g.check("StatsSummary")
	return g.Core.StatsSummary()
}

func (g *guardCore) EachQueue(after string, fn func(broker.QueueStats) bool) {
	g.check("EachQueue")
	g.Core.EachQueue(after, fn)
}

func (g *guardCore) EachExchange(after string, fn func(broker.ExchangeStats) bool) {
	g.check("EachExchange")
	g.Core.EachExchange(after, fn)
}

func (g *guardCore) Usage(user string) broker.Usage {
	g.check("Usage")
	return g.Core.Usage(user)
}

func (g *guardCore) EachVhostQueue(vhost, after string, fn func(broker.QueueStats) bool) {
	g.check("EachVhostQueue")
	g.Core.EachVhostQueue(vhost, after, fn)
}

func (g *guardCore) EachVhostExchange(vhost, after string, fn func(broker.ExchangeStats) bool) {
	g.check("EachVhostExchange")
	g.Core.EachVhostExchange(vhost, after, fn)
}
