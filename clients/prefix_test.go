package clients

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/internal/testutil"
)

// TestPrefixedPublishesArriveWhole: a publisher cycling through more
// prefixes than the window holds (so definitions are evicted and redefined)
// on a connection with shared prefixes, and another without them; consumers
// with and without the feature all get every whole body.
func TestPrefixedPublishesArriveWhole(t *testing.T) {
	b := startBroker(t)
	for _, tc := range []struct {
		name          string
		pubNo, consNo bool
		split         bool
	}{
		{"both negotiate", false, false, false},
		{"publisher does not negotiate", true, false, false},
		{"consumer does not negotiate", false, true, false},
		{"consumer splits the prefix", false, false, true},
		{"consumer splits, publisher does not negotiate", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pc := dial(t, b.addr, func(o *Options) { o.NoSharedPrefixes = tc.pubNo })
			cc := dial(t, b.addr, func(o *Options) { o.NoSharedPrefixes = tc.consNo })
			setupQueue(t, pc, "pq", QueueOptions{})
			ctx := testCtx(t)
			p := newPublisher(t, pc, PublisherOptions{Exchange: "ex", RoutingKey: "pq"})
			const n, k = 400, 40 // k prefixes > the window of 32, used round robin
			prefixes := make([]*Prefix, k)
			for i := range prefixes {
				prefixes[i] = NewPrefix(fmt.Appendf(nil, "header-%02d|", i))
			}
			want := map[string]string{}
			for i := range n {
				id := fmt.Sprintf("%s-%d", strings.ReplaceAll(tc.name, " ", "_"), i) // message ids have no spaces
				pre := prefixes[(i/3)%k]
				if i%7 == 0 {
					pre = nil // some messages carry no prefix
				}
				rest := fmt.Appendf(nil, "rest-%d", i)
				want[id] = string(pre.Bytes()) + string(rest)
				if _, err := p.PublishPrefixed(ctx, "ex", "pq", id, pre, rest); err != nil {
					t.Fatal(err)
				}
			}
			if err := p.Close(ctx); err != nil {
				t.Fatal(err)
			}
			rec := newRecorder()
			cs := consume(t, cc, ConsumerOptions{Queue: "pq", SplitPrefix: tc.split, Handler: func(_ context.Context, d *Delivery) error {
				rec.add(d)
				return nil
			}})
			eventually(t, "every delivery", func() bool { return rec.distinct() >= n })
			_ = cs
			rec.mu.Lock()
			defer rec.mu.Unlock()
			split := 0
			for _, d := range rec.ds {
				if got := string(d.WholeBody()); got != want[d.MessageID] {
					t.Fatalf("%s: body %q, want %q", d.MessageID, got, want[d.MessageID])
				}
				if d.Prefix != nil {
					split++
				}
			}
			// Split deliveries happen exactly when the consumer asks and
			// the prefix travelled by reference end to end.
			if wantSplit := tc.split && !tc.pubNo; (split > 0) != wantSplit {
				t.Fatalf("%d deliveries came split, want split deliveries: %v", split, wantSplit)
			}
		})
	}
}

// TestBrokerPrefixIDReuseEndsTheSession: a broker that defines prefix id 1
// twice (with other bytes) breaks the protocol; taking either definition
// could hand the consumer the wrong bytes. The client ends the session with
// an error naming both ids, delivers nothing of it, and starts again at id
// 1 on the next connection.
func TestBrokerPrefixIDReuseEndsTheSession(t *testing.T) {
	var consumes atomic.Int64 // one per connection
	hello := wire.HelloOK{ServerName: "reuse", MaxFrameSize: 1 << 20, MaxMessageSize: 1 << 19, Features: wire.FeatureSharedPrefixes}
	addr := startScriptedBrokerHello(t, hello, func(typ wire.FrameType, payload []byte) []byte {
		if typ != wire.FrameConsume {
			return nil
		}
		var f wire.Consume
		if err := wire.DecodeConsume(payload, &f); err != nil {
			t.Errorf("decode consume: %v", err)
			return nil
		}
		out := wire.AppendConsumeOK(nil, &wire.ConsumeOK{ReqID: f.ReqID, ConsumerTag: f.ConsumerTag})
		d := wire.Deliver{ConsumerTag: []byte(f.ConsumerTag), DeliveryTag: 1, DeliveryCount: 1, Queue: []byte("q"), Body: []byte("x")}
		if consumes.Add(1) == 1 {
			out = wire.AppendPrefix(out, &wire.Prefix{ID: 1, Bytes: []byte("A|")})
			out = wire.AppendPrefix(out, &wire.Prefix{ID: 1, Bytes: []byte("B|")})
			d.MessageID = []byte("first")
		} else {
			out = wire.AppendPrefix(out, &wire.Prefix{ID: 1, Bytes: []byte("C|")})
			d.MessageID = []byte("second")
		}
		return wire.AppendDeliverRef(out, &wire.DeliverRef{PrefixID: 1, Deliver: d})
	})
	var logs testutil.SyncBuffer
	c := dial(t, addr, func(o *Options) {
		o.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	rec := newRecorder()
	consume(t, c, ConsumerOptions{Queue: "q", Tag: "t", Handler: func(_ context.Context, d *Delivery) error {
		rec.add(d)
		return nil
	}})
	eventually(t, "the delivery on the second connection", func() bool { return rec.distinct() >= 1 })
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.ds) != 1 || rec.ds[0].MessageID != "second" || string(rec.ds[0].WholeBody()) != "C|x" {
		for _, d := range rec.ds {
			t.Errorf("delivered %s: %q", d.MessageID, d.WholeBody())
		}
		t.Fatal("want only the second connection's delivery, C|x")
	}
	if got := logs.String(); !strings.Contains(got, "got id 1 after id 1") {
		t.Fatalf("the client's log does not name the ids of the bad definition:\n%s", got)
	}
}
