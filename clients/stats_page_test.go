package clients

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	brokersession "github.com/ciphermq/ciphermq/broker/protocol"

	"github.com/ciphermq/ciphermq/broker"
)

// TestEachBrokerStatsPage: a broker with more queues than one stats page
// holds is read whole by following the cursors, each page at most 1,000
// queues, the queues in name order exactly once.
func TestEachBrokerStatsPage(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	ctx := testCtx(t)
	const n = 2500
	for i := range n {
		if err := c.DeclareQueue(ctx, fmt.Sprintf("page-%04d", i), QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var queues, exchanges []string
	pages := 0
	err := c.EachBrokerStatsPage(ctx, func(doc json.RawMessage) error {
		var st broker.Stats
		if err := json.Unmarshal(doc, &st); err != nil {
			return err
		}
		pages++
		if len(st.Queues) > 1000 {
			t.Errorf("page %d lists %d queues", pages, len(st.Queues))
		}
		for _, q := range st.Queues {
			queues = append(queues, q.Name)
		}
		for _, x := range st.Exchanges {
			exchanges = append(exchanges, x.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, q := range b.stats().Queues {
		want = append(want, q.Name)
	}
	if !slices.Equal(queues, want) || len(queues) < n {
		t.Fatalf("paged %d queues, the broker has %d", len(queues), len(want))
	}
	if per := brokersession.MaxStatsEntries; pages != (len(want)+per-1)/per {
		t.Errorf("%d pages for %d queues", pages, len(want))
	}
	if len(exchanges) == 0 || !slices.IsSorted(exchanges) {
		t.Errorf("exchanges: %v", exchanges)
	}
	// fn's error ends the walk.
	stop := errors.New("stop")
	if err := c.EachBrokerStatsPage(ctx, func(json.RawMessage) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("fn's error: %v", err)
	}
	// One page from a name cursor.
	doc, err := c.BrokerStatsPage(ctx, StatsCursor{List: StatsQueues, After: "page-2497"})
	if err != nil || !strings.Contains(string(doc), `"page-2498"`) || strings.Contains(string(doc), `"page-2497"`) {
		t.Fatalf("page after page-2497: %v %.300s", err, doc)
	}
}

func TestBrokerStatsPageRefusesBadCursors(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	for _, cur := range []StatsCursor{
		{List: StatsQueues},
		{List: 3, After: "x"},
		{After: "x"},
		{Resume: 4},
		{List: StatsExchanges, After: strings.Repeat("x", 256)},
	} {
		if _, err := c.BrokerStatsPage(testCtx(t), cur); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v, want ErrInvalid", cur, err)
		}
	}
	// A token this connection never received: the broker's error.
	_, err := c.BrokerStatsPage(testCtx(t), StatsCursor{List: StatsQueues, Resume: 77})
	var be *BrokerError
	if !errors.As(err, &be) || be.Code != uint16(broker.CodeInvalidArgument) {
		t.Fatalf("unknown token: %v", err)
	}
	if _, err := c.BrokerStats(testCtx(t)); err != nil {
		t.Fatalf("the connection after a refused token: %v", err)
	}
}
