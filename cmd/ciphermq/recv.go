package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/clients/receiver/runner"
)

const defaultOut = "received.jsonl"

type recvFlags struct {
	print    bool
	progress bool
	prefetch int
	durable  bool
	inMemory bool
	asIs     bool
	timeout  time.Duration
}

// errRecvTimeout is the cause of the context that --timeout ends.
var errRecvTimeout = errors.New("--timeout passed")

func init() { register(newRecvCmd) }

func newRecvCmd() *cobra.Command {
	o := &recvFlags{}
	cmd := &cobra.Command{
		Use:   "recv",
		Short: "Consume a queue, decrypt every message and store it durably, exactly once",
		Long: `recv consumes a queue, opens every envelope (modern or seed, detected per message) and
appends it to the output file, a JSON Lines file that is also the receiver's dedup record. A batch
of deliveries is acked only after its records are fsync'd, so a crash never loses an acked
message, and a redelivered message is never stored twice. A record whose delivery the broker
flagged as a redelivery (an earlier delivery was not acked) carries "redelivered":true.

Envelopes that cannot be opened (tampered, untrusted sender, not for this key, ...) are rejected:
the broker moves them to the queue's dead-letter queue, <queue>.dlq by convention, where
` + "`ciphermq dlq`" + ` lists them and moves them back once the cause is fixed. recv logs one line per
rejection and its summary says how many went where, by reason.

recv declares its dead-letter queue and its queue if they are missing (the queue with
<queue>.dlq as its dead-letter queue) and binds the queue to --exchange with --routing-key. Both
are durable by default, so what they hold survives broker restarts: on a broker started
--in-memory (no data directory) recv says so and falls back to in-memory queues. --durable
insists (an error instead of a fallback); --in-memory asks for in-memory queues.

A queue that already exists with options recv did not set (declared by another client, perhaps
without a dead-letter queue) is refused: recv cannot tell where its rejections would go, and a
queue declared with no dead-letter queue discards them. --queue-as-is consumes it anyway: its
rejections then go where its own options say.

Ctrl-C (SIGINT) or SIGTERM prints a summary and exits: 0 if nothing was rejected, 5 if some
messages were rejected (see docs/clients.md for the exit codes).

--timeout bounds the whole run (connecting, declaring, receiving): when it passes, recv stops as
on Ctrl-C and exits as above if it was connected to the broker at that moment, or with code 4 if
the broker could not be reached (never connected, or the connection was lost and not repaired).`,
		Example: `  ciphermq recv --key receiver.key --trust sender.pub --out received.jsonl
  ciphermq recv --key receiver_private.pem --print          # seed format, like the reference Receiver.py
  ciphermq recv --key receiver.key --trust sender.pub --durable --queue orders --routing-key orders
  ciphermq recv --key receiver.key --trust sender.pub --in-memory --queue scratch --routing-key scratch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRecv(cmd, o) },
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	addTLSFlags(cmd)
	f.String("broker", defaultBroker, "broker address host:port"+envHint(setBroker))
	f.String("queue", defaultQueue, "queue to consume"+envHint(setQueue))
	f.String("exchange", defaultExchange, "exchange the queue is bound to"+envHint(setExchange))
	f.String("routing-key", defaultRoutingKey, "routing key of that binding"+envHint(setRoutingKey))
	f.StringSlice("key", nil, "receiver private key file (modern receiver.key and/or seed receiver_private.pem)"+envHint(setKey))
	f.StringSlice("trust", nil, "public key file of a sender to accept (modern format; repeat for several)"+envHint(setTrust))
	f.String("out", "", "output file, JSON Lines (default "+defaultOut+")"+envHint(setOut))
	f.BoolVar(&o.print, "print", false, "also print every stored message on standard output")
	f.BoolVar(&o.progress, "progress", false, "show the running count even when standard error is not a terminal")
	f.IntVar(&o.prefetch, "prefetch", 1024, "most unacked deliveries at once (also the largest batch per fsync)")
	f.BoolVar(&o.durable, "durable", false, "insist on a durable queue: an error instead of falling back to an in-memory one (durable is the default)")
	f.BoolVar(&o.inMemory, "in-memory", false, "declare the queue in memory: its messages are lost if the broker stops")
	f.BoolVar(&o.asIs, "queue-as-is", false, "consume a queue that exists with options recv did not set: its rejections go where its own options say (discarded if it has no dead-letter queue)")
	f.DurationVar(&o.timeout, "timeout", 0, "end the whole run (connecting, declaring, receiving) after this long: a clean stop, or exit code 4 if the broker was unreachable (0: no limit)")
	return cmd
}

func runRecv(cmd *cobra.Command, o *recvFlags) error {
	cfg, err := loadClientConfig(cmd)
	if err != nil {
		return err
	}
	if o.prefetch <= 0 {
		return errors.New("--prefetch must be >= 1")
	}
	if o.durable && o.inMemory {
		return errors.New("--durable and --in-memory exclude each other: pick one")
	}
	if o.timeout < 0 {
		return errors.New("--timeout must be >= 0 (0: no limit)")
	}
	opener, err := loadOpener(cmd.ErrOrStderr(), cfg)
	if err != nil {
		return err
	}
	out := cfg.pathValue(setOut)
	if out == "" {
		out = defaultOut
	}
	stderr := cmd.ErrOrStderr()
	counter := runner.NewCount(stderr, o.progress || isTerminal(stderr))
	st, err := inbox.Open(out, inbox.Options{Logger: quietLogger(counter)})
	if err != nil {
		return err
	}
	defer st.Close()
	if rec := st.Recovery(); rec.Repaired() {
		fmt.Fprintf(stderr, "repaired %s: cut a torn last line (line %d, %d bytes: %s) left by a crash; its message was never acked and will be delivered again\n",
			out, rec.CutLine, rec.CutBytes, rec.CutReason)
	}
	r, err := receiver.New(st, opener)
	if err != nil {
		return err
	}
	if o.print {
		w := cmd.OutOrStdout()
		r.OnStored(func(rec inbox.Record) { runner.PrintRecord(w, rec) })
	}

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first signal, a second one is no longer caught: it ends the
	// process at once, should the clean stop hang on a stuck broker.
	context.AfterFunc(ctx, stop)
	var deadline time.Time
	if o.timeout > 0 {
		var cancel context.CancelFunc
		deadline = time.Now().Add(o.timeout)
		ctx, cancel = context.WithDeadlineCause(ctx, deadline, errRecvTimeout)
		defer cancel()
	}
	// The clock too, not only the context: a connection deadline taken from
	// the context can expire a moment before the context's own timer fires.
	timedOut := func() bool {
		return errors.Is(context.Cause(ctx), errRecvTimeout) || (!deadline.IsZero() && !time.Now().Before(deadline))
	}
	addr, queue := cfg.value(setBroker), cfg.value(setQueue)
	dopts, err := cfg.dialOptions("ciphermq-recv", quietLogger(counter))
	if err != nil {
		return err
	}
	unreachable := func(what string, err error) error {
		fmt.Fprintf(cmd.OutOrStdout(), "received 0: --timeout (%s) passed while %s broker %s\n", o.timeout, what, addr)
		return &exitError{exitTimedOut, fmt.Errorf("--timeout passed while %s broker %s (%v): nothing was received", what, addr, err)}
	}
	conn, err := clients.Dial(ctx, addr, dopts)
	if err != nil {
		if timedOut() {
			return unreachable("connecting to", err)
		}
		return connectError(addr, err)
	}
	defer conn.Close()
	dlq, err := runner.DeclareQueue(ctx, stderr, conn, queue, cfg.value(setExchange), cfg.value(setRoutingKey), o.durability(), o.asIs)
	if err != nil {
		if timedOut() {
			return unreachable("declaring queue "+queue+" on", err)
		}
		return err
	}
	start := time.Now()
	runErr := runner.Run(ctx, r, conn, runner.Options{
		Queue:    queue,
		Prefetch: o.prefetch,
		Logger:   quietLogger(counter),
		RejectedTo: func() string {
			if dlq == "" {
				return "unknown: the queue's own options decide"
			}
			return dlq
		}(),
		Started: func() {
			fmt.Fprintf(stderr, "receiving from queue %s on %s into %s (%d messages stored before); Ctrl-C to stop\n", queue, addr, out, st.Len())
		},
		AfterBatch: func([]receiver.Delivery, []receiver.Outcome) { counter.Show(r.Stats()) },
	})
	// Whether the broker was there when --timeout ended the run, taken
	// before the summary (the stop itself does not change it).
	lostBroker := timedOut() && !conn.Connected()
	counter.Finish(r.Stats())
	sum := runner.Summary{Stats: r.Stats(), Elapsed: time.Since(start), Out: out, Total: st.Len(), Queue: queue, DLQ: dlq}
	sum.Print(cmd.OutOrStdout())
	if runErr != nil {
		return fmt.Errorf("receiver stopped: %w", runErr)
	}
	if lostBroker {
		fmt.Fprintf(cmd.OutOrStdout(), "  --timeout (%s) passed while broker %s was unreachable (connection lost, not repaired)\n", o.timeout, addr)
		return &exitError{exitTimedOut, fmt.Errorf("--timeout passed while broker %s was unreachable: the connection was lost and not repaired", addr)}
	}
	if err := sum.RejectedErr(); err != nil {
		return &exitError{exitRejected, err}
	}
	return nil
}

// exitRejected is recv's exit code when it rejected messages.
const exitRejected = 5

func (o *recvFlags) durability() runner.Durability {
	// --durable with --in-memory is refused in runRecv.
	switch {
	case o.durable:
		return runner.DurableRequired
	case o.inMemory:
		return runner.InMemory
	}
	return runner.DurableIfPossible
}

// loadOpener builds an opener from the receiver's key files: modern keys
// need trusted senders, seed keys accept anyone holding the public key. It
// prints the id of every key it uses on w.
func loadOpener(w io.Writer, cfg *clientConfig) (envelope.Opener, error) {
	keys := cfg.pathValues(setKey)
	if len(keys) == 0 {
		return nil, fmt.Errorf("no receiver key: %s, or run `ciphermq keygen`", describe(setKey))
	}
	var seed *envelope.SeedOpener
	var modern *envelope.RecipientPrivateKey
	for _, path := range keys {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("receiver key: %w", err)
		}
		rk, err := envelope.ParseRecipientPrivateKey(data)
		if err == nil {
			if modern != nil {
				return nil, errors.New("two modern receiver keys given: a receiver has one; run one recv per key")
			}
			modern = rk
			printKeyID(w, "receiver key", path, rk.ID().Short(), data)
			continue
		}
		if !errors.Is(err, envelope.ErrWrongPEMType) {
			return nil, fmt.Errorf("receiver key %s: %w", path, err)
		}
		sk, serr := envelope.ParseSeedPrivateKey(data)
		if serr != nil {
			return nil, fmt.Errorf("receiver key %s is neither a modern receiver key (%v) nor a seed RSA private key (%w)", path, err, serr)
		}
		if seed != nil {
			return nil, errors.New("two seed receiver keys given: a receiver has one; run one recv per key")
		}
		printKeyID(w, "receiver key (seed)", path, seedPrivID(sk), data)
		if seed, err = envelope.NewSeedOpener(sk); err != nil {
			return nil, err
		}
	}
	var session *envelope.SessionOpener
	if modern != nil {
		trustPaths := cfg.pathValues(setTrust)
		if len(trustPaths) == 0 {
			return nil, fmt.Errorf("no trusted sender: the modern format accepts only messages signed by senders you trust: %s "+
				"with the sender's public key (sender.pub from `ciphermq keygen`)", describe(setTrust))
		}
		trusted := make([]ed25519.PublicKey, 0, len(trustPaths))
		for _, p := range trustPaths {
			k, err := loadKey(w, "trusted sender", p, envelope.ParseSigningPublicKey, envelope.SignerKeyID)
			if err != nil {
				return nil, err
			}
			trusted = append(trusted, k)
		}
		var err error
		if session, err = envelope.NewSessionOpener(envelope.SessionOpenerOptions{Key: modern, Trusted: trusted}); err != nil {
			return nil, err
		}
	}
	return envelope.NewOpener(seed, session)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
