package server

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Shared prefixes (docs/protocol.md §5a) through a real server over TCP:
// hostile input closes only its own connection, limits are refusals, and
// windows, restarts and plain readers see whole bodies.

var withPrefixes = wire.Hello{ClientName: "prefixes", Features: wire.FeatureSharedPrefixes}

func prefixFrame(id uint64, b []byte) []byte {
	return wire.AppendPrefix(nil, &wire.Prefix{ID: id, Bytes: b})
}

func publishRefFrame(seq, prefixID uint64, key, id string, rest []byte) []byte {
	return wire.AppendPublishRef(nil, &wire.PublishRef{PrefixID: prefixID, Publish: wire.Publish{Seq: seq,
		Exchange: []byte(broker.DefaultExchange), RoutingKey: []byte(key), MessageID: []byte(id), Body: rest}})
}

// logicalBody reads the next delivery on c, resolving a DeliverRef through
// the definitions c received (defs, updated), and returns its tag, id and
// whole body. It also counts the Confirm frames it passes (confirms may be
// nil when none is expected).
func logicalBody(t *testing.T, c *nativeClient, defs *wire.InboundPrefixes[[]byte], confirms *int) (tag uint64, id string, body []byte) {
	t.Helper()
	for {
		switch f := c.next().(type) {
		case *wire.Prefix:
			if err := defs.Define(f.ID, f.Bytes); err != nil {
				t.Fatalf("server's definition: %v", err)
			}
		case *wire.DeliverRef:
			pre, err := defs.Lookup(f.PrefixID)
			if err != nil {
				t.Fatalf("server's reference: %v", err)
			}
			return f.Deliver.DeliveryTag, string(f.Deliver.MessageID), append(append([]byte(nil), pre...), f.Deliver.Body...)
		case *wire.Deliver:
			return f.DeliveryTag, string(f.MessageID), f.Body
		case *wire.Confirm:
			if confirms == nil {
				t.Fatalf("unexpected %#v", f)
			}
			*confirms += int(f.Last - f.First + 1)
		default:
			t.Fatalf("want a delivery, got %#v", f)
		}
	}
}

func TestPrefixHostileInputClosesOnlyItsConnection(t *testing.T) {
	cfg := testConfig()
	cfg.MaxFrameSize = 256 << 10
	cfg.MaxMessageSize = 64 << 10
	_, addr := startServer(t, cfg)
	// A bystander that publishes by reference and consumes with prefixes,
	// before, between and after the hostile connections.
	good := dialNative(t, addr, withPrefixes)
	good.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue, ConsumerTag: "c", Prefetch: 100}))
	if f, ok := good.next().(*wire.ConsumeOK); !ok {
		t.Fatalf("consume answered %#v", f)
	}
	good.send(prefixFrame(1, []byte("GOOD|")))
	var defs wire.InboundPrefixes[[]byte]
	checkGood := func(name string) {
		t.Helper()
		good.send(publishRefFrame(good.seq(), 1, broker.DefaultRoutingKey, name, []byte("rest")))
		confirms := 0
		tag, id, body := logicalBody(t, good, &defs, &confirms)
		if id != name || string(body) != "GOOD|rest" {
			t.Fatalf("%s: the bystander got %s %q", name, id, body)
		}
		if confirms == 0 {
			if _, ok := good.next().(*wire.Confirm); !ok {
				t.Fatalf("%s: the bystander's publish was not confirmed", name)
			}
		}
		good.send(wire.AppendAck(nil, &wire.Ack{DeliveryTag: tag}))
	}
	checkGood("before")

	var evicted []byte
	for id := uint64(1); id <= wire.PrefixWindow+1; id++ {
		evicted = append(evicted, prefixFrame(id, fmt.Appendf(nil, "P%d|", id))...)
	}
	evicted = append(evicted, publishRefFrame(1, 1, broker.DefaultRoutingKey, "evicted", []byte("x"))...)
	// Frames whose fields are wrong but whose framing is fine, written by
	// hand where the codec refuses to write them.
	rawFrame := func(typ wire.FrameType, payload ...byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(1+len(payload))), append([]byte{byte(typ)}, payload...)...)
	}
	hugePrefix := binary.AppendUvarint(binary.AppendUvarint(nil, 1), wire.MaxPrefixSize+1)
	hugePrefix = append(hugePrefix, make([]byte, wire.MaxPrefixSize+1)...)
	cases := []struct {
		name  string
		hello wire.Hello
		in    []byte
		code  broker.Code
		says  string
	}{
		{"prefix without the feature", wire.Hello{}, prefixFrame(1, []byte("p")), broker.CodeProtocol, "did not negotiate"},
		{"publish ref without the feature", wire.Hello{}, publishRefFrame(1, 1, "k", "m", []byte("x")), broker.CodeProtocol, "did not negotiate"},
		{"prefix id 0", withPrefixes, rawFrame(wire.FramePrefix, 0, 1, 'p'), broker.CodeMalformed, "prefix ids start at 1"},
		{"publish ref to id 0", withPrefixes, publishRefFrame(1, 0, "k", "m", []byte("x")), broker.CodeMalformed, "prefix ids start at 1"},
		{"empty prefix", withPrefixes, rawFrame(wire.FramePrefix, 1, 0), broker.CodeMalformed, "at least one byte"},
		{"prefix above MaxPrefixSize", withPrefixes, rawFrame(wire.FramePrefix, hugePrefix...), broker.CodeMalformed, "bytes"},
		{"prefix above the frame size", withPrefixes, prefixFrame(1, make([]byte, cfg.MaxFrameSize)), broker.CodeTooLarge, "frame"},
		{"reference never defined", withPrefixes, publishRefFrame(1, 1, "k", "m", []byte("x")), broker.CodeProtocol, "id 1 (last defined 0"},
		{"reference evicted exactly window+1 back", withPrefixes, evicted, broker.CodeProtocol, fmt.Sprintf("id 1 (last defined %d", wire.PrefixWindow+1)},
		{"definition repeats the last id", withPrefixes, append(prefixFrame(1, []byte("a")), prefixFrame(1, []byte("b"))...), broker.CodeProtocol, "got id 1 after id 1"},
		{"definition skips an id", withPrefixes, append(prefixFrame(1, []byte("a")), prefixFrame(3, []byte("b"))...), broker.CodeProtocol, "got id 3 after id 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := dialNative(t, addr, c.hello)
			bad.send(c.in)
			e, ok := bad.next().(*wire.Error)
			if !ok || e.ReqID != 0 || e.Code != uint16(c.code) || !strings.Contains(e.Message, c.says) {
				t.Fatalf("answered %#v, want a connection Error %d saying %q", e, c.code, c.says)
			}
			expectClosed(t, bad.nc)
			checkGood(strings.ReplaceAll(c.name, " ", "-")) // message ids have no spaces
		})
	}
}

// TestPrefixedPublishOverMaxMessageSizeIsNacked: the logical body counts
// against max_message_size; over it is a Nack 102 and the connection (and
// its window) stays usable.
func TestPrefixedPublishOverMaxMessageSizeIsNacked(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageSize = 1024
	_, addr := startServer(t, cfg)
	c := dialNative(t, addr, withPrefixes)
	pre := bytes.Repeat([]byte{'h'}, 1000)
	in := prefixFrame(1, pre)
	in = append(in, publishRefFrame(1, 1, broker.DefaultRoutingKey, "big", make([]byte, 25))...)
	in = append(in, publishRefFrame(2, 1, broker.DefaultRoutingKey, "fits", make([]byte, 24))...)
	c.send(in)
	if n, ok := c.next().(*wire.Nack); !ok || n.Seq != 1 || n.Code != uint16(broker.CodeTooLarge) {
		t.Fatalf("1000 + 25 bytes over a 1024-byte limit: %#v, want Nack 102", n)
	}
	if f, ok := c.next().(*wire.Confirm); !ok || f.First != 2 || f.Last != 2 {
		t.Fatalf("1000 + 24 bytes: %#v, want a confirm", f)
	}
}

// TestPrefixWindowsResetOnReconnect: a consumer that got a DeliverRef and
// reconnects gets the prefix defined again under id 1 on the new
// connection; a publisher that reconnects cannot refer to its old ids.
func TestPrefixWindowsResetOnReconnect(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	pub := dialNative(t, addr, withPrefixes)
	pub.send(append(prefixFrame(1, []byte("HDR|")), publishRefFrame(1, 1, broker.DefaultRoutingKey, "m", []byte("rest"))...))
	if _, ok := pub.next().(*wire.Confirm); !ok {
		t.Fatal("publish not confirmed")
	}
	for round := 1; round <= 2; round++ {
		cons := dialNative(t, addr, withPrefixes)
		cons.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue, ConsumerTag: "c"}))
		if f, ok := cons.next().(*wire.ConsumeOK); !ok {
			t.Fatalf("consume answered %#v", f)
		}
		if p, ok := cons.next().(*wire.Prefix); !ok || p.ID != 1 || string(p.Bytes) != "HDR|" {
			t.Fatalf("round %d: %#v, want the prefix defined as id 1 on this connection", round, p)
		}
		if d, ok := cons.next().(*wire.DeliverRef); !ok || d.PrefixID != 1 || string(d.Deliver.Body) != "rest" {
			t.Fatalf("round %d: %#v, want a DeliverRef to id 1", round, d)
		}
		cons.nc.Close() // unacked: requeued for the next round
		eventually(t, "the delivery to be requeued", func() bool { return queueOf(srv, broker.DefaultQueue).Ready == 1 })
	}
	pub.nc.Close()
	pub2 := dialNative(t, addr, withPrefixes)
	pub2.send(publishRefFrame(1, 1, broker.DefaultRoutingKey, "m2", []byte("rest")))
	if e, ok := pub2.next().(*wire.Error); !ok || e.Code != uint16(broker.CodeProtocol) {
		t.Fatalf("a reference to the previous connection's id: %#v, want Error 104", e)
	}
}

// TestDurablePrefixedMessageSurvivesRestartByteIdentical: a message
// published by reference into a durable queue, and its dead-lettered copy,
// come back after a restart with the same whole body, to a consumer with
// prefixes, to Fetch, and to a text consumer.
func TestDurablePrefixedMessageSurvivesRestartByteIdentical(t *testing.T) {
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	srv, addr := startServer(t, cfg)
	c := dialNative(t, addr, withPrefixes)
	var in []byte
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 1, Name: "dlq", Durable: true})
	in = wire.AppendDeclareQueue(in, &wire.DeclareQueue{ReqID: 2, Name: "d", Durable: true, DeadLetterQueue: "dlq"})
	in = wire.AppendBind(in, &wire.Bind{ReqID: 3, Exchange: broker.DefaultExchange, Queue: "d", Key: "d"})
	c.send(in)
	for id := uint64(1); id <= 3; id++ {
		if f := c.next(); !reflect.DeepEqual(f, &wire.OK{ReqID: id}) {
			t.Fatalf("request %d answered %#v", id, f)
		}
	}
	env := envelope("m1")
	pre, rest := []byte(env[:40]), []byte(env[40:])
	in = prefixFrame(1, pre)
	for i, id := range []string{"m1", "m2", "m3"} {
		in = append(in, publishRefFrame(uint64(i+1), 1, "d", id, rest)...)
	}
	c.send(in)
	if confirmed, nacks := confirmAll(t, c, 3); len(confirmed) != 3 || len(nacks) != 0 {
		t.Fatalf("confirmed %v, nacks %v", confirmed, nacks)
	}
	// m1 goes to the dead-letter queue.
	c.send(wire.AppendFetch(nil, &wire.Fetch{ReqID: 4, Queue: "d"}))
	f, ok := c.next().(*wire.FetchOK)
	if !ok || string(f.Deliver.MessageID) != "m1" || string(f.Deliver.Body) != env {
		t.Fatalf("fetch before restart: %#v", f)
	}
	c.send(wire.AppendReject(nil, &wire.Reject{DeliveryTag: f.Deliver.DeliveryTag}))
	eventually(t, "the copy in the dead-letter queue", func() bool { return queueOf(srv, "dlq").Ready == 1 })
	c.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	_, addr = startServer(t, cfg)
	cons := dialNative(t, addr, withPrefixes)
	cons.send(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: "dlq", ConsumerTag: "c"}))
	if f, ok := cons.next().(*wire.ConsumeOK); !ok {
		t.Fatalf("consume answered %#v", f)
	}
	var defs wire.InboundPrefixes[[]byte]
	if _, id, body := logicalBody(t, cons, &defs, nil); id != "m1" || string(body) != env {
		t.Fatalf("dead-lettered copy after restart: %s %q, want %q", id, body, env)
	}
	cons.send(wire.AppendFetch(nil, &wire.Fetch{ReqID: 2, Queue: "d"}))
	if f, ok := cons.next().(*wire.FetchOK); !ok || string(f.Deliver.MessageID) != "m2" || string(f.Deliver.Body) != env {
		t.Fatalf("fetch after restart: %#v, want m2 whole", f)
	}
	txt := dialText(t, addr)
	txt.send("consume d")
	if got := txt.line(); !strings.HasPrefix(got, "Subscribed") {
		t.Fatalf("text consume answered %q", got)
	}
	if got, want := txt.line(), "Message: m3 "+env; got != want {
		t.Fatalf("text consumer after restart: %q, want %q", got, want)
	}
}
