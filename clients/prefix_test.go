package clients

import (
	"context"
	"fmt"
	"testing"
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
	}{
		{"both negotiate", false, false},
		{"publisher does not negotiate", true, false},
		{"consumer does not negotiate", false, true},
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
				id := fmt.Sprintf("%s-%d", tc.name, i)
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
			cs := consume(t, cc, ConsumerOptions{Queue: "pq", Handler: func(_ context.Context, d *Delivery) error {
				rec.add(d)
				return nil
			}})
			eventually(t, "every delivery", func() bool { return rec.distinct() >= n })
			_ = cs
			rec.mu.Lock()
			defer rec.mu.Unlock()
			for _, d := range rec.ds {
				if string(d.Body) != want[d.MessageID] {
					t.Fatalf("%s: body %q, want %q", d.MessageID, d.Body, want[d.MessageID])
				}
			}
		})
	}
}
