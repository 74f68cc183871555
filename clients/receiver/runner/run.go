// Package runner drives a receiver.Receiver from the networked client
// library: it consumes a queue, hands each batch to Receiver.Process and
// acks, rejects or requeues by its verdicts. It is the receiver's network
// half, kept apart so that the receiver itself (which the simulator runs)
// does not link sockets and goroutines.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/receiver"
)

// Options configure Run.
type Options struct {
	// Queue to consume (required).
	Queue string
	// Prefetch bounds the unacked deliveries, and so the batch size
	// (default: the library's).
	Prefetch int
	// Now is the clock for received_at and stored_at (default time.Now).
	Now func() time.Time
	// AfterBatch, if set, is called after every durable batch with the
	// outcomes (for progress displays and --print). It runs on the
	// consumer's goroutine: keep it short.
	AfterBatch func(batch []receiver.Delivery, out []receiver.Outcome)
	// Logger receives rejections (one line each) and failures (default
	// slog.Default()).
	Logger *slog.Logger
	// RejectedTo names where the broker puts rejected messages (the
	// queue's dead-letter queue), for the rejection log lines; empty:
	// "the queue's dead-letter queue".
	RejectedTo string
	// Started, if set, is called once the broker accepted the consumer.
	Started func()
}

// Run consumes opts.Queue on conn into r until ctx ends (it then
// returns nil) or the store fails (it returns the error; restart the
// receiver to recover). Deliveries are acked only after their batch's
// fsync; ids already stored durably are acked at once by the library.
func Run(ctx context.Context, r *receiver.Receiver, conn *clients.Conn, opts Options) error {
	if opts.Queue == "" {
		return errors.New("receiver: no queue to consume")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	rejectedTo := opts.RejectedTo
	if rejectedTo == "" {
		rejectedTo = "the queue's dead-letter queue"
	}
	fatal := make(chan error, 1)
	var (
		batch []receiver.Delivery
		outs  []receiver.Outcome
	)
	handler := func(_ context.Context, ds []*clients.Delivery) []error {
		errs := make([]error, len(ds))
		// received_at is when the batch reached the receiver: the library
		// does not stamp frames, and the batch is handed over as it fills.
		received := opts.Now()
		batch = batch[:0]
		for _, d := range ds {
			batch = append(batch, receiver.Delivery{MessageID: d.MessageID, Queue: d.Queue, Prefix: d.Prefix, Body: d.Body, ReceivedAt: received, Redelivered: d.Redelivered})
		}
		var err error
		outs, err = r.Process(batch, opts.Now(), outs)
		if err != nil {
			for i := range errs {
				errs[i] = err
			}
			select {
			case fatal <- err:
			default:
			}
			return errs
		}
		for i, o := range outs {
			switch o.Verdict {
			case receiver.Rejected:
				log.Warn("receiver: rejected a message",
					"id", batch[i].MessageID, "queue", batch[i].Queue, "reason", o.Reason, "to", rejectedTo, "err", o.Err)
				// The reason's name is the wire table's: the broker records
				// it on the dead-lettered copy (`ciphermq dlq list` shows it).
				code, ok := wire.ParseRejectReason(o.Reason)
				if !ok || code == wire.ReasonNone {
					code = wire.ReasonOther
				}
				errs[i] = clients.PermanentReason(code, fmt.Errorf("%s: %w", o.Reason, o.Err))
			case receiver.Retry:
				errs[i] = o.Err
			}
		}
		if opts.AfterBatch != nil {
			opts.AfterBatch(batch, outs)
		}
		return errs
	}
	cons, err := conn.Consume(ctx, clients.ConsumerOptions{
		Queue:        opts.Queue,
		Prefetch:     opts.Prefetch,
		BatchHandler: handler,
		Seen:         r.Store().Seen, // durable ids only: safe to ack at once
		// cmq1 envelopes whose header travelled as a shared prefix are
		// opened in their two parts: no copy of the header per message.
		SplitPrefix: true,
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before the consumer was up: nothing to undo
		}
		return fmt.Errorf("receiver: consume %q: %w", opts.Queue, err)
	}
	if opts.Started != nil {
		opts.Started()
	}
	r.AddDriverDuplicates(func() uint64 { return cons.Stats().Duplicates })
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-fatal:
		log.Error("receiver: store failed; stopping (restart to recover: the store is rebuilt from the file)", "err", runErr)
	case <-cons.Done():
		runErr = cons.Err()
		if runErr == nil {
			runErr = errors.New("receiver: consumer ended")
		}
	}
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = cons.Cancel(cctx) // waits for the batch in hand to finish
	return runErr
}
