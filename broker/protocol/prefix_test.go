package protocol_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// openWithFeatures returns a native session past a Hello asking for
// features, and the features HelloOK granted.
func openWithFeatures(t *testing.T, w *world, features uint64) (*protocol.Native, uint64) {
	t.Helper()
	_, s := w.native()
	in := wire.AppendPreamble(nil)
	in = wire.AppendHello(in, &wire.Hello{Version: wire.ProtocolVersion, ClientName: "test", Features: features})
	w.feed(s, in)
	fs := frames(t, w.take(s))
	ok, isOK := fs[0].(*wire.HelloOK)
	if len(fs) != 1 || !isOK {
		t.Fatalf("hello answered with %#v", fs)
	}
	return s, ok.Features
}

func publishRef(seq, prefixID uint64, id, rest string) []byte {
	return wire.AppendPublishRef(nil, &wire.PublishRef{PrefixID: prefixID, Publish: wire.Publish{Seq: seq,
		Exchange: []byte(broker.DefaultExchange), RoutingKey: []byte(broker.DefaultRoutingKey), MessageID: []byte(id), Body: []byte(rest)}})
}

func consumeOn(t *testing.T, w *world, s *protocol.Native) {
	t.Helper()
	w.feed(s, wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: broker.DefaultQueue, ConsumerTag: "c"}))
	if fs := frames(t, w.take(s)); len(fs) != 1 || fs[0].FrameType() != wire.FrameConsumeOK {
		t.Fatalf("consume: %#v", fs)
	}
}

func TestFeatureNegotiation(t *testing.T) {
	w := newWorld(t, broker.Config{})
	// Every bit but FeatureAuth, which is not a negotiation (an Auth frame
	// must follow; auth_test.go).
	if _, got := openWithFeatures(t, w, 0xFF&^wire.FeatureAuth); got != wire.SupportedFeatures&^wire.FeatureAuth {
		t.Fatalf("client asks for 0xFD: granted %#x, want only what the server supports", got)
	}
	if _, got := openWithFeatures(t, w, 0); got != 0 {
		t.Fatalf("client asks for nothing: granted %#x", got)
	}
	w.cfg.NoFeatures = true
	if _, got := openWithFeatures(t, w, wire.FeatureSharedPrefixes); got != 0 {
		t.Fatalf("server with no features granted %#x", got)
	}
}

// TestPrefixedPublishReachesEveryKindOfConsumer: one PublishRef stream; a
// consumer with the feature gets the prefix once and DeliverRefs, one
// without it plain Delivers of the whole body, Fetch a whole body too.
func TestPrefixedPublishReachesEveryKindOfConsumer(t *testing.T) {
	w := newWorld(t, broker.Config{})
	ref, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
	consumeOn(t, w, ref)
	pub, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
	in := wire.AppendPrefix(nil, &wire.Prefix{ID: 1, Bytes: []byte("HDR|")})
	in = append(in, publishRef(1, 1, "a", "one")...)
	in = append(in, publishRef(2, 1, "b", "two")...)
	w.feed(pub, in)
	if fs := frames(t, w.take(pub)); len(fs) != 1 || fs[0].FrameType() != wire.FrameConfirm {
		t.Fatalf("publisher got %#v, want one confirm range", fs)
	}
	fs := frames(t, w.take(ref))
	if len(fs) != 3 {
		t.Fatalf("consumer with the feature got %d frames %#v, want Prefix and two DeliverRefs", len(fs), fs)
	}
	if p, ok := fs[0].(*wire.Prefix); !ok || p.ID != 1 || string(p.Bytes) != "HDR|" {
		t.Fatalf("first frame %#v, want the prefix definition", fs[0])
	}
	for i, want := range []string{"one", "two"} {
		d, ok := fs[1+i].(*wire.DeliverRef)
		if !ok || d.PrefixID != 1 || string(d.Deliver.Body) != want {
			t.Fatalf("frame %d: %#v", 1+i, fs[1+i])
		}
	}

	// Same traffic to a consumer without the feature and to Fetch.
	w2 := newWorld(t, broker.Config{})
	plain, _ := openWithFeatures(t, w2, 0)
	consumeOn(t, w2, plain)
	pub2, _ := openWithFeatures(t, w2, wire.FeatureSharedPrefixes)
	w2.feed(pub2, append(wire.AppendPrefix(nil, &wire.Prefix{ID: 1, Bytes: []byte("HDR|")}), publishRef(1, 1, "a", "one")...))
	w2.feed(pub2, publishRef(2, 1, "b", "two"))
	fs = frames(t, w2.take(plain))
	if len(fs) != 2 {
		t.Fatalf("plain consumer got %#v", fs)
	}
	if d, ok := fs[0].(*wire.Deliver); !ok || string(d.Body) != "HDR|one" {
		t.Fatalf("plain consumer: %#v, want the whole body", fs[0])
	}
	w2.feed(plain, wire.AppendCancel(nil, &wire.Cancel{ReqID: 2, ConsumerTag: "c"}))
	w2.feed(plain, wire.AppendNackDelivery(nil, &wire.NackDelivery{DeliveryTag: 2, Requeue: true}))
	w2.take(plain)
	w2.feed(pub2, wire.AppendFetch(nil, &wire.Fetch{ReqID: 3, Queue: broker.DefaultQueue}))
	fs = frames(t, w2.take(pub2))
	if f, ok := fs[0].(*wire.FetchOK); !ok || string(f.Deliver.Body) != "HDR|two" {
		t.Fatalf("fetch: %#v, want the whole body", fs)
	}
}

func TestOutboundWindowRedefinesEvictedPrefixes(t *testing.T) {
	w := newWorld(t, broker.Config{})
	cons, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
	consumeOn(t, w, cons)
	pub, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
	// PrefixWindow+1 different prefixes, then the first one again.
	var in []byte
	for i := 1; i <= wire.PrefixWindow+1; i++ {
		in = wire.AppendPrefix(in, &wire.Prefix{ID: uint64(i), Bytes: fmt.Appendf(nil, "P%d|", i)})
		in = append(in, publishRef(uint64(i), uint64(i), fmt.Sprint("m", i), "x")...)
	}
	w.feed(pub, in)
	w.take(pub)
	fs := frames(t, w.take(cons))
	if len(fs) != 2*(wire.PrefixWindow+1) {
		t.Fatalf("consumer got %d frames, want a definition and a reference per message", len(fs))
	}
	// The publisher's first prefix is out of its window now.
	if _, err := pub.Feed(publishRef(100, 1, "late", "x"), w.now); err == nil {
		t.Fatal("a reference to an evicted prefix id was accepted")
	}
	if closed, _ := pub.Closed(); !closed {
		t.Fatal("a reference to an evicted prefix id did not close the connection")
	}
	if defined, evicted := cons.PrefixStats(); defined != wire.PrefixWindow+1 || evicted != 1 {
		t.Fatalf("consumer session: %d defined, %d evicted", defined, evicted)
	}
}

func TestPrefixProtocolErrorsAreFatal(t *testing.T) {
	cases := []struct {
		name     string
		features uint64
		in       []byte
	}{
		{"prefix without the feature", 0, wire.AppendPrefix(nil, &wire.Prefix{ID: 1, Bytes: []byte("p")})},
		{"publish ref without the feature", 0, publishRef(1, 1, "m", "x")},
		{"reference never defined", wire.FeatureSharedPrefixes, publishRef(1, 1, "m", "x")},
		{"definition skips an id", wire.FeatureSharedPrefixes, wire.AppendPrefix(nil, &wire.Prefix{ID: 2, Bytes: []byte("p")})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t, broker.Config{})
			s, _ := openWithFeatures(t, w, c.features)
			if _, err := s.Feed(c.in, w.now); err == nil {
				t.Fatal("no error")
			}
			fs := frames(t, s.Output())
			e, ok := fs[len(fs)-1].(*wire.Error)
			if !ok || e.ReqID != 0 || e.Code != uint16(broker.CodeProtocol) {
				t.Fatalf("answer %#v, want a fatal Error 104", fs)
			}
		})
	}
}

// TestRepeatedDefinitionIsFatal: a definition whose id is not the last + 1
// (here the last id again, with other bytes, then an older one) is a client
// bug on the in-order transport shared prefixes need: the connection ends
// with Error 104 naming both ids, and the message referring to it is not
// published with either prefix.
func TestRepeatedDefinitionIsFatal(t *testing.T) {
	for _, tc := range []struct {
		name string
		ids  []uint64
		want string
	}{
		{"last id again", []uint64{1, 1}, "got id 1 after id 1"},
		{"an older id", []uint64{1, 2, 1}, "got id 1 after id 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, broker.Config{})
			cons, _ := openWithFeatures(t, w, 0)
			consumeOn(t, w, cons)
			pub, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
			var in []byte
			for i, id := range tc.ids {
				in = wire.AppendPrefix(in, &wire.Prefix{ID: id, Bytes: fmt.Appendf(nil, "P%d|", i)})
			}
			in = append(in, publishRef(1, 1, "m", "x")...)
			if _, err := pub.Feed(in, w.now); err == nil {
				t.Fatal("a repeated definition was accepted")
			}
			fs := frames(t, pub.Output())
			e, ok := fs[len(fs)-1].(*wire.Error)
			if !ok || e.ReqID != 0 || e.Code != uint16(broker.CodeProtocol) || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("answer %#v, want a fatal Error 104 saying %q", fs, tc.want)
			}
			w.settle()
			if fs := frames(t, w.take(cons)); len(fs) != 0 {
				t.Fatalf("the other connection got %#v after the offender's protocol error", fs)
			}
		})
	}
}

// FuzzNativeSessionWithPrefixes is FuzzNativeSession on a connection that
// negotiated shared prefixes and consumes the default queue, so whatever
// it publishes comes back as Prefix and DeliverRef frames: no panic, whole
// frames only, and every DeliverRef refers to a prefix defined before it on
// the same connection.
func FuzzNativeSessionWithPrefixes(f *testing.F) {
	in := wire.AppendPrefix(nil, &wire.Prefix{ID: 1, Bytes: []byte("H|")})
	in = append(in, publishRef(1, 1, "a", "x")...)
	in = wire.AppendPrefix(in, &wire.Prefix{ID: 2, Bytes: []byte("G|")})
	in = append(in, publishRef(2, 2, "b", "y")...)
	in = append(in, publishRef(3, 1, "c", "z")...)
	f.Add(in, uint8(4))
	f.Add(append(in, publishRef(4, 9, "d", "w")...), uint8(9))
	f.Fuzz(func(t *testing.T, in []byte, chunk uint8) {
		w := newWorld(t, broker.Config{})
		s, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
		consumeOn(t, w, s)
		feedInChunks(t, w, s, in, int(chunk)+1)
		var defined wire.InboundPrefixes[[]byte]
		for _, fr := range frames(t, s.Output()) {
			switch fr := fr.(type) {
			case *wire.Prefix:
				if err := defined.Define(fr.ID, fr.Bytes); err != nil {
					t.Fatalf("server's prefix definition: %v", err)
				}
			case *wire.DeliverRef:
				if _, err := defined.Lookup(fr.PrefixID); err != nil {
					t.Fatalf("server's DeliverRef: %v", err)
				}
			}
		}
	})
}

// TestTextConsumerGetsWholeBodiesOfPrefixedMessages: the text protocol has
// no shared prefixes; a message published by reference over the native
// protocol is pushed (and fetched) whole.
func TestTextConsumerGetsWholeBodiesOfPrefixedMessages(t *testing.T) {
	w := newWorld(t, broker.Config{})
	pub, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
	env := envelope("p1")
	in := wire.AppendPrefix(nil, &wire.Prefix{ID: 1, Bytes: []byte(env[:20])})
	in = append(in, publishRef(1, 1, "p1", env[20:])...)
	in = append(in, publishRef(2, 1, "p2", env[20:])...)
	w.feed(pub, in)
	w.take(pub)
	_, s := w.text()
	w.feed(s, []byte("fetch default_queue\n"))
	if got, want := string(w.take(s)), "Message: p1 "+env+"\n"; got != want {
		t.Fatalf("fetch: %q, want %q", got, want)
	}
	w.feed(s, []byte("consume default_queue\n"))
	w.take(s)
	w.advance(time.Second)
	if got, want := string(w.take(s)), "Message: p2 "+env+"\n"; got != want {
		t.Fatalf("push: %q, want %q", got, want)
	}
}

// TestPrefixedTrafficAllocatesNoMoreThanPlain: a PublishRef that refers to
// a live prefix, delivered as a DeliverRef and acked, costs no more
// allocations than the same message as plain Publish and Deliver.
func TestPrefixedTrafficAllocatesNoMoreThanPlain(t *testing.T) {
	allocs := func(prefixed bool) float64 {
		w := newWorld(t, broker.Config{DedupWindow: -1})
		s, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
		consumeOn(t, w, s)
		w.feed(s, wire.AppendPrefix(nil, &wire.Prefix{ID: 1, Bytes: make([]byte, 1200)}))
		var seq uint64
		var in []byte
		ex, key := []byte(broker.DefaultExchange), []byte(broker.DefaultRoutingKey)
		rest, whole := make([]byte, 560), make([]byte, 1760)
		ids := make([][]byte, 1000)
		for i := range ids {
			ids[i] = fmt.Append(nil, i)
		}
		step := func() {
			seq++
			id := ids[seq%1000]
			if prefixed {
				in = wire.AppendPublishRef(in[:0], &wire.PublishRef{PrefixID: 1, Publish: wire.Publish{Seq: seq,
					Exchange: ex, RoutingKey: key, MessageID: id, Body: rest}})
			} else {
				in = wire.AppendPublish(in[:0], &wire.Publish{Seq: seq, Exchange: ex, RoutingKey: key, MessageID: id, Body: whole})
			}
			in = wire.AppendAck(in, &wire.Ack{DeliveryTag: seq})
			if _, err := s.Feed(in, w.now); err != nil {
				t.Fatal(err)
			}
			w.settle()
			s.Wrote(len(s.Output()), w.now)
		}
		for range 2000 {
			step()
		}
		return testing.AllocsPerRun(500, step)
	}
	plain, prefixed := allocs(false), allocs(true)
	t.Logf("allocations per message: plain %.2f, prefixed %.2f", plain, prefixed)
	if prefixed > plain {
		t.Fatalf("prefixed traffic allocates %.2f per message, plain %.2f", prefixed, plain)
	}
}

// TestUnusedDefinitionsStayBounded: a client that defines prefix after
// prefix and never uses them costs the session at most the window, 32 ×
// the largest prefix, however many it sends.
func TestUnusedDefinitionsStayBounded(t *testing.T) {
	w := newWorld(t, broker.Config{})
	s, _ := openWithFeatures(t, w, wire.FeatureSharedPrefixes)
	const n = 10 * wire.PrefixWindow
	bytes := make([]byte, wire.MaxPrefixSize)
	var in []byte
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	for id := uint64(1); id <= n; id++ {
		bytes[0] = byte(id)
		in = wire.AppendPrefix(in[:0], &wire.Prefix{ID: id, Bytes: bytes})
		if _, err := s.Feed(in, w.now); err != nil {
			t.Fatalf("definition %d: %v", id, err)
		}
	}
	held := int64(heap()) - int64(before)
	bound := int64(wire.PrefixWindow*wire.MaxPrefixSize + 2<<20) // the window plus slack for the runtime
	t.Logf("%d definitions of %d bytes: the session holds %d bytes more", n, wire.MaxPrefixSize, held)
	if held > bound {
		t.Fatalf("%d unused definitions hold %d bytes, more than the window's %d", n, held, bound)
	}
	runtime.KeepAlive(s)
}
