package main

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/sender"
)

type sendFlags struct {
	stdin           bool
	count           int
	size            int
	window          int
	progress        bool
	timeout         time.Duration
	grace           time.Duration
	report          string
	reportPublisher string
	reportQueues    []string
	idPrefix        string
	first           uint64
	seed            uint64
}

func init() { register(newSendCmd) }

func newSendCmd() *cobra.Command {
	o := &sendFlags{}
	cmd := &cobra.Command{
		Use:   "send [MESSAGE...]",
		Short: "Encrypt messages end to end and publish them with confirms",
		Long: `send seals each message for the receivers' public keys and publishes it, waiting for the
broker's confirm of every message. Messages come from the arguments, from standard input (one per
line, --stdin), or are generated (--count N of --size bytes; --content-seed S makes their content
reproducible).

Message ids are random UUIDs, or with --id-prefix P the sequence P-1, P-2, ... (--first N starts it
at P-N, so a restarted sender can continue where it stopped).

The summary lists sent, confirmed, duplicates (the broker already had that id) and refused messages
with the broker's reasons, and how many were never sent when the run stopped early.

--timeout bounds the whole run (connecting, sending, waiting for confirms). The first Ctrl-C stops
sending and waits up to --grace for outstanding confirms; a second Ctrl-C quits at once.

Exit codes: 0 every message confirmed; 1 an error (flags, keys, broker unreachable); 3 some messages
refused or unconfirmed; 4 --timeout passed; 130 interrupted (Ctrl-C or SIGTERM).

--report FILE appends one JSON line per event (the scenario checker's event model, internal/check):
a "publish" line written before each message is published, then an "outcome" line when the broker
answers. A message with no outcome line was never answered: its outcome is unknown.`,
		Example: `  ciphermq send --to-key receiver.pub --sign-key sender.key "hello"
  ciphermq send --to-key receiver.pub --sign-key sender.key --count 100000 --size 256
  ciphermq send --to-key receiver.pub --sign-key sender.key --count 1000 --content-seed 7 --id-prefix p1 --report p1.jsonl
  ciphermq send --format seed --to-key receiver_public.pem "hello, reference receiver"`,
		RunE: func(cmd *cobra.Command, args []string) error { return runSend(cmd, o, args) },
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	addTLSFlags(cmd)
	f.String("broker", defaultBroker, "broker address host:port"+envHint(setBroker))
	f.String("exchange", defaultExchange, "exchange to publish to"+envHint(setExchange))
	f.String("routing-key", defaultRoutingKey, "routing key"+envHint(setRoutingKey))
	f.String("format", defaultFormat, "envelope format: modern or seed"+envHint(setFormat))
	f.StringSlice("to-key", nil, "recipient public key file (repeat for several recipients; seed format: exactly one)"+envHint(setToKey))
	f.String("sign-key", "", "sender Ed25519 signing key file (modern format)"+envHint(setSignKey))
	f.BoolVar(&o.stdin, "stdin", false, "read messages from standard input, one per line (LF or CRLF)")
	f.IntVar(&o.count, "count", 0, "generate this many messages")
	f.IntVar(&o.size, "size", 100, "size in bytes of each generated message (with --count)")
	f.Uint64Var(&o.seed, "content-seed", 0, "fill generated messages with pseudo-random text from this number, the same in every run (with --count)")
	deprecatedAlias(f, "seed", "content-seed")
	f.IntVar(&o.window, "window", sender.DefaultWindow, "most messages awaiting the broker's confirm at once")
	f.BoolVar(&o.progress, "progress", false, "draw the progress bar even when standard error is not a terminal")
	f.DurationVar(&o.timeout, "timeout", 0, "end the whole run (connecting, sending, waiting for confirms) after this long, with exit code 4 "+
		"(default: no limit; the wait for confirms after the last publish is then at most "+sender.DefaultTimeout.String()+")")
	f.DurationVar(&o.grace, "grace", defaultGrace, "after the first Ctrl-C, how long to wait for outstanding confirms (a second Ctrl-C quits at once)")
	f.StringVar(&o.idPrefix, "id-prefix", "", "name messages PREFIX-N (N from --first) instead of random UUIDs")
	f.Uint64Var(&o.first, "first", 1, "index of the first message: its id with --id-prefix, its seq in the report, its number in generated text")
	f.StringVar(&o.report, "report", "", "append a JSON Lines history of every attempt and outcome to this file")
	f.StringVar(&o.reportPublisher, "report-publisher", "", "publisher name in the report (default: the --id-prefix, else ciphermq-send)")
	f.StringSliceVar(&o.reportQueues, "report-queue", nil, "queue the messages are routed to, written in each attempt of the report (repeat; default: none, the reader fills them in)")
	return cmd
}

func runSend(cmd *cobra.Command, o *sendFlags, args []string) error {
	cfg, err := loadClientConfig(cmd)
	if err != nil {
		return err
	}
	sources := 0
	for _, on := range []bool{len(args) > 0, o.stdin, o.count > 0} {
		if on {
			sources++
		}
	}
	seeded := changed(cmd.Flags(), "content-seed", "seed")
	switch {
	case sources == 0:
		return errors.New("nothing to send: give messages as arguments, or --stdin, or --count N")
	case sources > 1:
		return errors.New("choose one message source: arguments, --stdin or --count")
	case o.count > 0 && o.size < 0:
		return errors.New("--size must be >= 0")
	case o.window <= 0:
		return errors.New("--window must be >= 1")
	case o.first == 0:
		return errors.New("--first must be >= 1 (indexes start at 1)")
	case seeded && o.count == 0:
		return errors.New("--content-seed only applies to generated messages: add --count N")
	case o.report == "" && (o.reportPublisher != "" || len(o.reportQueues) > 0):
		return errors.New("--report-publisher and --report-queue describe the report: add --report FILE")
	}
	ids := sender.RandomIDs(rand.Reader)
	if cmd.Flags().Changed("id-prefix") {
		if ids, err = sender.Sequential(o.idPrefix); err != nil {
			return fmt.Errorf("--id-prefix: %w", err)
		}
	}
	sealer, err := loadSealer(cmd.ErrOrStderr(), cfg)
	if err != nil {
		return err
	}
	var src sender.Source
	switch {
	case len(args) > 0:
		src = sender.Messages(args)
	case o.stdin:
		src = sender.Lines(cmd.InOrStdin())
	default:
		g := sender.GenerateOptions{Count: o.count, Size: o.size, First: o.first}
		if seeded {
			g.Seed = &o.seed
		}
		src = sender.Generated(g)
	}
	var observer sender.Observer
	if o.report != "" {
		f, err := os.OpenFile(o.report, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("--report: %w", err)
		}
		defer f.Close()
		publisher := cmp.Or(o.reportPublisher, o.idPrefix, "ciphermq-send")
		rep, err := sender.NewReport(f, sender.ReportOptions{Publisher: publisher, Queues: o.reportQueues})
		if err != nil {
			return err
		}
		observer = rep
	}
	total := -1 // messages the run was asked to send; -1: unknown (stdin)
	switch {
	case len(args) > 0:
		total = len(args)
	case o.count > 0:
		total = o.count
	}
	stderr := cmd.ErrOrStderr()
	bar := sender.NewBar(stderr, o.count, o.progress || isTerminal(stderr))
	st := newSendStop(cmd.Context(), o.timeout, o.grace, bar)
	defer st.close()
	addr := cfg.value(setBroker)
	dopts, err := cfg.dialOptions("ciphermq-send", quietLogger(bar))
	if err != nil {
		return err
	}
	conn, err := clients.Dial(st.publish, addr, dopts)
	if err != nil {
		sender.Summary{Refused: map[string]int{}}.PrintRun(cmd.OutOrStdout(), total, st.reason())
		if code, why := st.outcome(); code != 0 {
			return &exitError{code, fmt.Errorf("%s while connecting to broker %s: nothing was sent", why, addr)}
		}
		return connectError(addr, err)
	}
	defer conn.Close()
	timeout := o.timeout // the confirm wait after the last publish
	if timeout <= 0 {
		timeout = sender.DefaultTimeout
	}
	sum, err := sender.Run(st.publish, conn, sender.Options{
		Exchange:   cfg.value(setExchange),
		RoutingKey: cfg.value(setRoutingKey),
		Window:     o.window,
		Timeout:    timeout,
		Sealer:     sealer,
		IDs:        ids,
		FirstIndex: o.first,
		Observer:   observer,
		Progress:   st.progress,
		Abort:      st.abort,
	}, src)
	st.close()
	bar.Finish()
	sum.PrintRun(cmd.OutOrStdout(), total, st.reason())
	if err != nil {
		if code, why := st.outcome(); code != 0 {
			return &exitError{code, fmt.Errorf("%s: %w", why, err)}
		}
		return err
	}
	complete := sum.Sent == total && sum.Unconfirmed == 0
	if code, why := st.outcome(); code != 0 && !(code == exitTimedOut && complete) {
		return &exitError{code, fmt.Errorf("%s: %d sent, %d confirmed, %s", why, sum.Sent, sum.Confirmed, sender.NeverSent(total, sum.Sent))}
	}
	if err := sum.Err(); err != nil {
		return &exitError{exitNotConfirmed, err}
	}
	return nil
}

// Exit codes of send (and the documented table in docs/clients.md).
const (
	exitNotConfirmed = 3   // the run finished, but some messages were refused or left unconfirmed
	exitTimedOut     = 4   // --timeout ended the run
	exitInterrupted  = 130 // Ctrl-C (SIGINT) or SIGTERM ended the run
)

// defaultGrace is how long send waits for outstanding confirms after the
// first Ctrl-C.
const defaultGrace = 5 * time.Second

// sendStop decides when a send run stops publishing (publish) and when it
// stops waiting for confirms (abort): the first SIGINT/SIGTERM (or the
// command's context ending) stops publishing and starts the grace, a second
// signal or the end of the grace aborts, and --timeout ends both.
type sendStop struct {
	publish context.Context
	abort   context.Context

	stopPublish, stopAbort context.CancelFunc
	sigs                   chan os.Signal
	done                   chan struct{}
	finished               sync.WaitGroup
	once                   sync.Once

	sent, confirmed atomic.Int64
	bar             *sender.Bar

	mu          sync.Mutex
	interrupted bool
	forced      bool
	timedOut    bool
	deadline    time.Time
}

func newSendStop(parent context.Context, timeout, grace time.Duration, bar *sender.Bar) *sendStop {
	s := &sendStop{sigs: make(chan os.Signal, 2), done: make(chan struct{}), bar: bar}
	signal.Notify(s.sigs, os.Interrupt, syscall.SIGTERM)
	base := context.WithoutCancel(parent)
	var cancelBase context.CancelFunc = func() {}
	if timeout > 0 {
		s.deadline = time.Now().Add(timeout)
		base, cancelBase = context.WithDeadline(base, s.deadline)
	}
	s.publish, s.stopPublish = context.WithCancel(base)
	s.abort, s.stopAbort = context.WithCancel(base)
	s.finished.Add(1)
	go func() {
		defer s.finished.Done()
		defer cancelBase()
		select {
		case <-s.sigs:
		case <-parent.Done():
		case <-base.Done():
			s.setTimedOut()
			return
		case <-s.done:
			return
		}
		s.mu.Lock()
		s.interrupted = true
		s.mu.Unlock()
		s.stopPublish()
		outstanding := s.sent.Load() - s.confirmed.Load()
		s.bar.Logf("interrupted: stopped sending; waiting up to %s for %d outstanding confirms (Ctrl-C again to quit at once)", grace, outstanding)
		t := time.NewTimer(grace)
		defer t.Stop()
		select {
		case <-s.sigs:
			s.mu.Lock()
			s.forced = true
			s.mu.Unlock()
			s.bar.Logf("interrupted again: quitting without waiting for confirms")
		case <-t.C:
			s.bar.Logf("grace of %s over: the messages still unanswered count as unconfirmed", grace)
		case <-base.Done():
			s.setTimedOut()
		case <-s.done:
			return
		}
		s.stopAbort()
	}()
	return s
}

func (s *sendStop) setTimedOut() {
	s.mu.Lock()
	s.timedOut = true
	s.mu.Unlock()
}

// progress is the sender's Progress callback: it keeps the counts for the
// interrupt message and draws the bar.
func (s *sendStop) progress(sent, confirmed int) {
	s.sent.Store(int64(sent))
	s.confirmed.Store(int64(confirmed))
	s.bar.Update(sent, confirmed)
}

// close stops watching signals; it is idempotent.
func (s *sendStop) close() {
	s.once.Do(func() {
		close(s.done)
		s.finished.Wait()
		signal.Stop(s.sigs)
		s.stopPublish()
		s.stopAbort()
	})
}

// outcome is the exit code and reason of a run that stopped early, or 0.
func (s *sendStop) outcome() (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.deadline.IsZero() && !time.Now().Before(s.deadline) {
		s.timedOut = true
	}
	switch {
	case s.interrupted && s.forced:
		return exitInterrupted, "interrupted twice: stopped without waiting for confirms"
	case s.interrupted:
		return exitInterrupted, "interrupted"
	case s.timedOut:
		return exitTimedOut, "--timeout passed"
	}
	return 0, ""
}

func (s *sendStop) reason() string {
	_, why := s.outcome()
	return why
}

// loadSealer builds the sealer the settings ask for, printing the id of
// every key it uses on w.
func loadSealer(w io.Writer, cfg *clientConfig) (envelope.Sealer, error) {
	format, err := envelope.ParseFormat(cfg.value(setFormat))
	if err != nil {
		return nil, fmt.Errorf("--format: %w", err)
	}
	toKeys := cfg.pathValues(setToKey)
	if len(toKeys) == 0 {
		return nil, fmt.Errorf("no recipient public key: %s, or run `ciphermq keygen` and use its receiver public key", describe(setToKey))
	}
	if format == envelope.FormatSeed {
		if len(toKeys) > 1 {
			return nil, errors.New("the seed format has one recipient per message: give exactly one --to-key, or use --format modern")
		}
		pub, err := loadKey(w, "recipient key (seed)", toKeys[0], envelope.ParseSeedPublicKey, seedPubID)
		if err != nil {
			return nil, fmt.Errorf("%w (for a modern receiver.pub use --format modern)", err)
		}
		return envelope.NewSeedSealer(pub, nil)
	}
	recipients := make([]envelope.RecipientPublicKey, 0, len(toKeys))
	for _, p := range toKeys {
		k, err := loadKey(w, "recipient key", p, envelope.ParseRecipientPublicKey, recipientID)
		if err != nil {
			return nil, fmt.Errorf("%w (for a reference receiver_public.pem use --format seed)", err)
		}
		recipients = append(recipients, k)
	}
	signPath := cfg.pathValue(setSignKey)
	if signPath == "" {
		return nil, fmt.Errorf("no sender signing key (the modern format signs every session): %s, or run `ciphermq keygen` and use its sender.key", describe(setSignKey))
	}
	signer, err := loadKey(w, "signing key", signPath, envelope.ParseSigningPrivateKey, signerPrivID)
	if err != nil {
		return nil, err
	}
	return envelope.NewSessionSealer(envelope.SessionOptions{Signer: signer, Recipients: recipients})
}

// quietLogger shows the library's warnings and errors (reconnects, ...) on
// w without the info chatter.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
