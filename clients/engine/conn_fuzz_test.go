package engine

import (
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// FuzzConnReceive feeds arbitrary frames from a "broker" to a connection
// engine that has publishes in flight and shared prefixes granted. Whatever
// arrives, the engine must not panic, must resolve each message at most
// once, must be down after every EventClosed, and must write only whole
// frames.
func FuzzConnReceive(f *testing.F) {
	var s []byte
	s = wire.AppendConfirm(s, &wire.Confirm{First: 1, Last: 2})
	s = wire.AppendNack(s, &wire.Nack{Seq: 3, Code: 301, Reason: "full"})
	s = wire.AppendConfirmDup(s, &wire.ConfirmDup{Seq: 3})
	s = wire.AppendPrefix(s, &wire.Prefix{ID: 1, Bytes: []byte("hdr")})
	s = wire.AppendDeliverRef(s, &wire.DeliverRef{PrefixID: 1, Deliver: wire.Deliver{DeliveryTag: 1, MessageID: []byte("m"), Body: []byte("x")}})
	s = wire.AppendDeliver(s, &wire.Deliver{DeliveryTag: 2, MessageID: []byte("m")})
	s = wire.AppendBlocked(s, &wire.Blocked{Reason: "mem"})
	s = wire.AppendUnblocked(s)
	s = wire.AppendOK(s, &wire.OK{ReqID: 4, Count: 1})
	s = wire.AppendError(s, &wire.Error{ReqID: 5, Code: 404, Message: "no"})
	f.Add(s)
	f.Add(wire.AppendConfirm(nil, &wire.Confirm{First: 1, Last: ^uint64(0)}))
	f.Add(wire.AppendClose(nil, &wire.Close{Code: 320, Reason: "bye"}))
	f.Add(append(wire.AppendPrefix(nil, &wire.Prefix{ID: 2, Bytes: []byte("a")}), 0xff, 0, 0, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		c := NewConn(ConnConfig{Features: wire.FeatureSharedPrefixes | wire.FeatureRejectReasons})
		c.Handshake(nil, t0)
		c.TakeOutput(nil)
		c.Receive(wire.FrameHelloOK, wire.AppendHelloOK(nil, &wire.HelloOK{Features: wire.FeatureSharedPrefixes})[wire.FrameHeaderSize:], t0)
		p := NewPublisher(PublisherConfig{})
		c.AddPublisher(p, t0)
		pre := NewPrefix([]byte("shared"))
		for _, id := range []string{"a", "b", "c", "d"} {
			_ = p.Add(Message{ID: id, Exchange: "x", Prefix: pre, Body: []byte(id)})
		}
		c.Pump(p, t0)
		resolved := map[string]int{}
		for len(in) > 0 {
			typ, payload, n, err := wire.SplitFrame(in, 0)
			if err != nil || n == 0 {
				break
			}
			in = in[n:]
			ev := c.Receive(typ, payload, t0)
			switch ev.Kind {
			case EventClosed:
				if c.Ready() {
					t.Fatalf("%s closed the connection but the engine is still up", typ)
				}
			case EventDeliver:
				if ref, dec := c.Consumer().Handle(ev.Deliver); dec == Process {
					_ = c.Consumer().Settle(ref, Stored)
				}
				c.FlushSettlements()
			}
			for _, r := range p.Resolutions() {
				if resolved[r.ID]++; resolved[r.ID] > 1 {
					t.Fatalf("message %s resolved twice", r.ID)
				}
			}
			c.Pump(p, t0)
		}
		out := c.TakeOutput(nil)
		for len(out) > 0 {
			_, _, n, err := wire.SplitFrame(out, 0)
			if err != nil || n == 0 {
				t.Fatalf("the engine wrote a broken frame stream: %v", err)
			}
			out = out[n:]
		}
		if p.Pending()+len(resolved) != 4 {
			t.Fatalf("pending %d + resolved %d != 4 added", p.Pending(), len(resolved))
		}
	})
}
