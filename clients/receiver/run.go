package receiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/clients"
)

// RunOptions configure Run.
type RunOptions struct {
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
	AfterBatch func(batch []Delivery, out []Outcome)
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

// Run consumes opts.Queue on conn into the receiver until ctx ends (it then
// returns nil) or the store fails (it returns the error; restart the
// receiver to recover). Deliveries are acked only after their batch's
// fsync; ids already stored durably are acked at once by the library.
func (r *Receiver) Run(ctx context.Context, conn *clients.Conn, opts RunOptions) error {
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
		batch []Delivery
		outs  []Outcome
	)
	handler := func(_ context.Context, ds []*clients.Delivery) []error {
		errs := make([]error, len(ds))
		// received_at is when the batch reached the receiver: the library
		// does not stamp frames, and the batch is handed over as it fills.
		received := opts.Now()
		batch = batch[:0]
		for _, d := range ds {
			batch = append(batch, Delivery{MessageID: d.MessageID, Queue: d.Queue, Prefix: d.Prefix, Body: d.Body, ReceivedAt: received, Redelivered: d.Redelivered})
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
			case Rejected:
				log.Warn("receiver: rejected a message",
					"id", batch[i].MessageID, "queue", batch[i].Queue, "reason", o.Reason, "to", rejectedTo, "err", o.Err)
				errs[i] = clients.Permanent(fmt.Errorf("%s: %w", o.Reason, o.Err))
			case Retry:
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
		Seen:         r.store.Seen, // durable ids only: safe to ack at once
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
	r.mu.Lock()
	base := r.driverDuplicates
	r.driverDuplicates = func() uint64 {
		n := cons.Stats().Duplicates
		if base != nil {
			n += base() // an earlier Run of this Receiver
		}
		return n
	}
	r.mu.Unlock()
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
