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
