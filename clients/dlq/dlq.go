// Package dlq lists and replays a queue's dead-lettered messages over the
// client library: what `ciphermq dlq list` and `ciphermq dlq move` do. A
// queue's dead-letter queue is <queue>.dlq by convention
// (broker.DeadLetterQueueName). Listing reads envelope metadata only
// (envelope.Inspect): nothing is decrypted and no key is needed. Error
// messages name the command's flags.
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

// ReplayExchange is the direct exchange Move republishes through, bound to
// each queue it replays into with the queue's name as key. It is not the
// message's original exchange: republishing there would copy the message
// into every other queue bound to it, and the broker's dedup (per user and
// exchange) would take a replay inside the window of the original publish
// for a duplicate.
const ReplayExchange = "ciphermq.replay"

// Entry is one listed message.
type Entry struct {
	ID         string   `json:"id"`
	Reason     string   `json:"reason"`
	Size       int      `json:"size"`
	Format     string   `json:"format"`
	Sender     string   `json:"sender,omitempty"`
	SigValid   bool     `json:"signature_valid,omitempty"`
	Recipients []string `json:"recipients,omitempty"`
	Exchange   string   `json:"exchange"`
	RoutingKey string   `json:"routing_key"`
	Deliveries uint64   `json:"deliveries"`
	Problem    string   `json:"problem,omitempty"`
}

// Inspect describes a dead-lettered delivery from its metadata.
func Inspect(d *clients.Delivery) Entry {
	body := d.WholeBody()
	md := envelope.Inspect(body)
	e := Entry{ID: d.MessageID, Reason: d.DeadLetterReason.String(), Size: len(body), Format: md.Format.String(), Sender: md.SenderKeyID,
		SigValid: md.SignatureValid, Recipients: md.RecipientKeyIDs,
		Exchange: d.Exchange, RoutingKey: d.RoutingKey, Deliveries: d.DeliveryCount}
	if md.Err != nil {
		e.Problem = md.Err.Error()
	}
	return e
}

// Depth returns the messages held by queue, which no consumer may be
// handling. It reads the broker's stats page by page until the queue is
// listed, so it finds the queue however many others the broker holds.
func Depth(ctx context.Context, conn *clients.Conn, queue string) (int, error) {
	var (
		found bool
		q     broker.QueueStats
	)
	errFound := errors.New("found")
	err := conn.EachBrokerStatsPage(ctx, func(raw json.RawMessage) error {
		var st broker.Stats
		if err := json.Unmarshal(raw, &st); err != nil {
			return err
		}
		for _, x := range st.Queues {
			if x.Name == queue {
				found, q = true, x
				return errFound
			}
		}
		return nil
	})
	if err != nil && !found {
		return 0, fmt.Errorf("stats: %w", err)
	}
	if !found {
		return 0, fmt.Errorf("queue %s does not exist: the queue has no dead-letter queue by the <queue>.dlq convention", queue)
	}
	if q.Unacked > 0 {
		return 0, fmt.Errorf("%s has %d messages being handled by another consumer: stop it first", queue, q.Unacked)
	}
	return q.Ready, nil
}

// stopWhen waits until done is closed or ctx ends, then cancels cons.
func stopWhen(ctx context.Context, done <-chan struct{}, cons *clients.Consumer) {
	select {
	case <-done:
	case <-ctx.Done():
	}
	_ = cons.Cancel(context.WithoutCancel(ctx))
}

// errGiveBack makes the consumer requeue a delivery (a transient failure).
var errGiveBack = errors.New("dlq: given back")

// Listing is what List found in a dead-letter queue.
type Listing struct {
	DLQ     string
	N       int // messages the queue held when listing began
	Entries []Entry
}

// List takes each of the n messages of the dead-letter queue dlq once and
// gives it back, until it has seen n distinct ids or ctx ends.
func List(ctx context.Context, conn *clients.Conn, dlq string, n int) (Listing, error) {
	var (
		mu      sync.Mutex
		seen    = map[string]bool{}
		entries []Entry
		done    = make(chan struct{})
	)
	cons, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: dlq, Prefetch: n,
		BatchHandler: func(_ context.Context, ds []*clients.Delivery) []error {
			errs := make([]error, len(ds))
			mu.Lock()
			defer mu.Unlock()
			for i, d := range ds {
				errs[i] = errGiveBack
				if len(entries) < n && !seen[d.MessageID] {
					seen[d.MessageID] = true
					entries = append(entries, Inspect(d))
					if len(entries) == n {
						close(done)
					}
				}
			}
			return errs
		}})
	if err != nil {
		return Listing{}, fmt.Errorf("consume %s: %w", dlq, err)
	}
	stopWhen(ctx, done, cons)
	mu.Lock()
	defer mu.Unlock()
	return Listing{DLQ: dlq, N: n, Entries: slices.Clone(entries)}, nil
}

// Print writes the listing: one JSON object per message with asJSON, else
// a count line and one tab-separated line per message.
func (l Listing) Print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, e := range l.Entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	}
	fmt.Fprintf(w, "%s: %d message(s)\n", l.DLQ, l.N)
	for _, e := range l.Entries {
		sender := "-"
		if e.Sender != "" {
			sender = e.Sender
			if !e.SigValid {
				sender += " (signature does not verify)"
			}
		}
		fmt.Fprintf(w, "  %s\t%s\t%d bytes\t%s\tsender %s\trecipients %v\tfrom %s/%s\t%d deliveries", e.ID, e.Reason, e.Size, e.Format, sender, e.Recipients, e.Exchange, e.RoutingKey, e.Deliveries)
		if e.Problem != "" {
			fmt.Fprintf(w, "\t%s", e.Problem)
		}
		fmt.Fprintln(w)
	}
	return nil
}

// Err says when the listing stopped before it saw every message.
func (l Listing) Err() error {
	if len(l.Entries) < l.N {
		return fmt.Errorf("listed %d of %d messages before --timeout", len(l.Entries), l.N)
	}
	return nil
}

// Moved is what Move did.
type Moved struct {
	Queue, DLQ string
	N          int // messages the dead-letter queue held when Move began
	Moved      int // republished, confirmed and removed from the dead-letter queue
	Duplicates int // republishes the broker took for duplicates: left in the dead-letter queue
}

// Print writes the one-line result.
func (m Moved) Print(w io.Writer) {
	fmt.Fprintf(w, "moved %d of %d message(s) from %s back to %s\n", m.Moved, m.N, m.DLQ, m.Queue)
}

// Err says what was left behind: duplicates (a *DuplicatesError: run
// again once the broker's dedup window has passed), or messages not
// reached before ctx ended.
func (m Moved) Err() error {
	switch {
	case m.Duplicates > 0:
		return &DuplicatesError{Left: m.N - m.Moved, DLQ: m.DLQ, Duplicates: m.Duplicates}
	case m.Moved < m.N:
		return fmt.Errorf("moved %d of %d messages before --timeout", m.Moved, m.N)
	}
	return nil
}

// DuplicatesError is a Move that left messages in the dead-letter queue
// because the broker took their republish for a duplicate.
type DuplicatesError struct {
	Left       int // messages left in the dead-letter queue
	DLQ        string
	Duplicates int // of them, taken for duplicates
}

func (e *DuplicatesError) Error() string {
	return fmt.Sprintf("%d message(s) left in %s (%d of them because the broker took their republish for a duplicate: "+
		"moved once already within its dedup window); run dlq move again once the window has passed", e.Left, e.DLQ, e.Duplicates)
}

// Move republishes each of the n messages of the dead-letter queue dlq to
// queue through ReplayExchange with the same id and body, and removes it
// from dlq only once the broker confirmed the republish. A republish the
// broker took for a duplicate is left in dlq. It stops after n messages,
// at the first id it sees twice, at the first failed republish (the
// error, with what was moved until then), or when ctx ends. When it could
// not start (declaring the exchange, binding, consuming) it returns a zero
// Moved and the error.
func Move(ctx context.Context, conn *clients.Conn, queue, dlq string, n int) (Moved, error) {
	res := Moved{Queue: queue, DLQ: dlq, N: n}
	if err := conn.DeclareExchange(ctx, ReplayExchange, clients.Direct); err != nil {
		return Moved{}, fmt.Errorf("declare exchange %s: %w", ReplayExchange, err)
	}
	if err := conn.Bind(ctx, ReplayExchange, queue, queue); err != nil {
		return Moved{}, fmt.Errorf("bind %s to %s: %w", queue, ReplayExchange, err)
	}
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: ReplayExchange, RoutingKey: queue})
	if err != nil {
		return Moved{}, err
	}
	var (
		mu          sync.Mutex
		handled     = map[string]bool{}
		moved, dups int
		failed      error
		done        = make(chan struct{})
		once        sync.Once
		finish      = func() { once.Do(func() { close(done) }) }
		count       = func() int { return moved + dups }
	)
	// Prefetch up to n: every message present at the start is handed over
	// before a duplicate given back comes round again (which ends the run).
	cons, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: dlq, Prefetch: min(n, 1024),
		Handler: func(hctx context.Context, d *clients.Delivery) error {
			mu.Lock()
			stop := failed != nil || count() >= n || handled[d.MessageID]
			mu.Unlock()
			if stop {
				finish()
				return errGiveBack
			}
			c, err := pub.Publish(hctx, d.MessageID, d.WholeBody())
			if err == nil {
				err = c.Wait(hctx)
			}
			mu.Lock()
			defer mu.Unlock()
			handled[d.MessageID] = true
			switch {
			case err != nil:
				failed = fmt.Errorf("republish %s to %s: %w", d.MessageID, queue, err)
				finish()
				return errGiveBack
			case c.Duplicate():
				dups++
			default:
				moved++
			}
			if count() >= n {
				finish()
			}
			if c.Duplicate() {
				return errGiveBack // left in the dead-letter queue
			}
			return nil // acked: removed from the dead-letter queue
		}})
	if err != nil {
		return Moved{}, fmt.Errorf("consume %s: %w", dlq, err)
	}
	stopWhen(ctx, done, cons)
	mu.Lock()
	defer mu.Unlock()
	res.Moved, res.Duplicates = moved, dups
	return res, failed
}
