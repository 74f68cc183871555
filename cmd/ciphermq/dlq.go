package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

// replayExchange is the direct exchange `dlq move` republishes through,
// bound to each queue it replays into with the queue's name as key. It is
// not the message's original exchange: republishing there would copy the
// message into every other queue bound to it, and the broker's dedup
// (per user and exchange) would take a replay inside the window of the
// original publish for a duplicate.
const replayExchange = "ciphermq.replay"

func init() { register(newDLQCmd) }

func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List and replay a queue's dead-lettered messages (<queue>.dlq)",
		Long: `Messages a receiver rejects (and messages past their queue's delivery limit) go to the
queue's dead-letter queue, named <queue>.dlq by convention: default_queue.dlq for default_queue,
and <queue>.dlq for every queue recv declares. dlq list shows them (metadata only: the broker
never holds plaintext); dlq move puts them back on their queue, for instance after fixing a
receiver's trust set or key, so that nothing rejected is lost.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newDLQListCmd(), newDLQMoveCmd())
	return cmd
}

func addDLQFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	addConfigFlag(cmd)
	addTLSFlags(cmd)
	f.String("broker", defaultBroker, "broker address host:port"+envHint(setBroker))
	f.String("queue", defaultQueue, "the queue whose dead-letter queue (<queue>.dlq) to use"+envHint(setQueue))
	f.Duration("timeout", 30*time.Second, "give up after this long")
}

func newDLQListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the messages in <queue>.dlq: id, reason, size, format, sender key id, recipients",
		Long: `list shows every message in <queue>.dlq without removing it: its id, why it was
dead-lettered (the reason the rejecting receiver gave, such as not-recipient or untrusted-sender;
delivery-limit for a message past its queue's delivery limit; unknown when the rejecting client
gave none, as text-protocol clients cannot), its size, its envelope format and, for the modern
format, the sender key id and recipient key ids read from the signed session header (no key
needed, nothing is decrypted) and whether that header's signature verifies. Listing takes each message once and gives it back (the broker counts it
as a delivery, and marks it redelivered).`,
		Example: "  ciphermq dlq list --queue orders",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDLQ(cmd, false)
		},
	}
	addDLQFlags(cmd)
	cmd.Flags().Bool("json", false, "one JSON object per message instead of a table")
	return cmd
}

func newDLQMoveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "move",
		Short: "Move the messages in <queue>.dlq back to <queue>, with their ids",
		Long: `move takes each message in <queue>.dlq, republishes it to <queue> with the same message id and
body, and removes it from <queue>.dlq only once the broker confirmed the republish: a crash in
between leaves a copy in both, and the receiver's dedup store drops the second. It republishes
through the direct exchange ` + replayExchange + ` (bound to <queue> with key <queue>), so other queues
bound to the original exchange get no copy. A message moved twice within the broker's dedup
window (say, rejected again after a first move) would be taken for a duplicate: move leaves it
in <queue>.dlq, says so and exits 3; run it again after the window (--dedup-window of the server).
Messages dead-lettered while move runs are left for the next run.`,
		Example: "  ciphermq dlq move --queue orders",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDLQ(cmd, true)
		},
	}
	addDLQFlags(cmd)
	return cmd
}

// dlqEntry is one listed message.
type dlqEntry struct {
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

func inspectDelivery(d *clients.Delivery) dlqEntry {
	body := d.WholeBody()
	md := envelope.Inspect(body)
	e := dlqEntry{ID: d.MessageID, Reason: d.DeadLetterReason.String(), Size: len(body), Format: md.Format.String(), Sender: md.SenderKeyID,
		SigValid: md.SignatureValid, Recipients: md.RecipientKeyIDs,
		Exchange: d.Exchange, RoutingKey: d.RoutingKey, Deliveries: d.DeliveryCount}
	if md.Err != nil {
		e.Problem = md.Err.Error()
	}
	return e
}

func runDLQ(cmd *cobra.Command, move bool) error {
	cfg, err := loadClientConfig(cmd)
	if err != nil {
		return err
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	stderr := cmd.ErrOrStderr()
	addr, queue := cfg.value(setBroker), cfg.value(setQueue)
	dlq := broker.DeadLetterQueueName(queue)
	dopts, err := cfg.dialOptions("ciphermq-dlq", quietLogger(stderr))
	if err != nil {
		return err
	}
	conn, err := clients.Dial(ctx, addr, dopts)
	if err != nil {
		return connectError(addr, err)
	}
	defer conn.Close()
	n, err := queueDepth(ctx, conn, dlq)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if n == 0 {
		fmt.Fprintf(w, "%s is empty\n", dlq)
		return nil
	}
	if !move {
		asJSON, _ := cmd.Flags().GetBool("json")
		return dlqList(ctx, w, conn, dlq, n, asJSON)
	}
	return dlqMove(ctx, w, conn, queue, dlq, n)
}

// queueDepth returns the messages held by queue (ready + unacked). It
// reads the broker's stats page by page until the queue is listed, so it
// finds the queue however many others the broker holds.
func queueDepth(ctx context.Context, conn *clients.Conn, queue string) (int, error) {
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

// errGiveBack makes the consumer requeue a delivery (a transient failure).
var errGiveBack = errors.New("dlq: given back")

func dlqList(ctx context.Context, w io.Writer, conn *clients.Conn, dlq string, n int, asJSON bool) error {
	var (
		mu      sync.Mutex
		seen    = map[string]bool{}
		entries []dlqEntry
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
					entries = append(entries, inspectDelivery(d))
					if len(entries) == n {
						close(done)
					}
				}
			}
			return errs
		}})
	if err != nil {
		return fmt.Errorf("consume %s: %w", dlq, err)
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	_ = cons.Cancel(context.WithoutCancel(ctx))
	mu.Lock()
	defer mu.Unlock()
	if asJSON {
		enc := json.NewEncoder(w)
		for _, e := range entries {
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
	} else {
		fmt.Fprintf(w, "%s: %d message(s)\n", dlq, n)
		for _, e := range entries {
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
	}
	if len(entries) < n {
		return fmt.Errorf("listed %d of %d messages before --timeout", len(entries), n)
	}
	return nil
}

func dlqMove(ctx context.Context, w io.Writer, conn *clients.Conn, queue, dlq string, n int) error {
	if err := conn.DeclareExchange(ctx, replayExchange, clients.Direct); err != nil {
		return fmt.Errorf("declare exchange %s: %w", replayExchange, err)
	}
	if err := conn.Bind(ctx, replayExchange, queue, queue); err != nil {
		return fmt.Errorf("bind %s to %s: %w", queue, replayExchange, err)
	}
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: replayExchange, RoutingKey: queue})
	if err != nil {
		return err
	}
	var (
		mu            sync.Mutex
		handled       = map[string]bool{}
		moved, dups   int
		failed        error
		done          = make(chan struct{})
		once          sync.Once
		finish        = func() { once.Do(func() { close(done) }) }
		count         = func() int { return moved + dups }
		handledAlways = func(id string) bool { return handled[id] }
	)
	// Prefetch up to n: every message present at the start is handed over
	// before a duplicate given back comes round again (which ends the run).
	cons, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: dlq, Prefetch: min(n, 1024),
		Handler: func(hctx context.Context, d *clients.Delivery) error {
			mu.Lock()
			stop := failed != nil || count() >= n || handledAlways(d.MessageID)
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
		return fmt.Errorf("consume %s: %w", dlq, err)
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
	_ = cons.Cancel(context.WithoutCancel(ctx))
	mu.Lock()
	defer mu.Unlock()
	fmt.Fprintf(w, "moved %d of %d message(s) from %s back to %s\n", moved, n, dlq, queue)
	switch {
	case failed != nil:
		return failed
	case dups > 0:
		return &exitError{exitNotConfirmed, fmt.Errorf("%d message(s) left in %s (%d of them because the broker took their republish for a duplicate: "+
			"moved once already within its dedup window); run dlq move again once the window has passed", n-moved, dlq, dups)}
	case moved < n:
		return fmt.Errorf("moved %d of %d messages before --timeout", moved, n)
	}
	return nil
}
