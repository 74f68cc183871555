package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

type sendFlags struct {
	stdin    bool
	count    int
	size     int
	window   int
	progress bool
	timeout  time.Duration
}

func init() { register(newSendCmd) }

func newSendCmd() *cobra.Command {
	o := &sendFlags{}
	cmd := &cobra.Command{
		Use:   "send [MESSAGE...]",
		Short: "Encrypt messages end to end and publish them with confirms",
		Long: `send seals each message for the receivers' public keys and publishes it, waiting for the
broker's confirm of every message. Messages come from the arguments, from standard input (one per
line, --stdin), or are generated (--count N of --size bytes).

The summary lists sent, confirmed, duplicates (the broker already had that id) and refused messages
with the broker's reasons. The exit code is non-zero if any message was refused or left unconfirmed.`,
		Example: `  ciphermq send --to-key receiver.pub --sign-key sender.key "hello"
  ciphermq send --to-key receiver.pub --sign-key sender.key --count 100000 --size 256
  ciphermq send --format seed --to-key receiver_public.pem "hello, reference receiver"`,
		RunE: func(cmd *cobra.Command, args []string) error { return runSend(cmd, o, args) },
	}
	f := cmd.Flags()
	addConfigFlag(cmd)
	f.String("broker", defaultBroker, "broker address host:port"+envHint(setBroker))
	f.String("exchange", defaultExchange, "exchange to publish to"+envHint(setExchange))
	f.String("routing-key", defaultRoutingKey, "routing key"+envHint(setRoutingKey))
	f.String("format", defaultFormat, "envelope format: modern or seed"+envHint(setFormat))
	f.StringSlice("to-key", nil, "recipient public key file (repeat for several recipients; seed format: exactly one)"+envHint(setToKey))
	f.String("sign-key", "", "sender Ed25519 signing key file (modern format)"+envHint(setSignKey))
	f.BoolVar(&o.stdin, "stdin", false, "read messages from standard input, one per line (LF or CRLF)")
	f.IntVar(&o.count, "count", 0, "generate this many messages")
	f.IntVar(&o.size, "size", 100, "size in bytes of each generated message (with --count)")
	f.IntVar(&o.window, "window", 1024, "most messages awaiting the broker's confirm at once")
	f.BoolVar(&o.progress, "progress", false, "draw the progress bar even when standard error is not a terminal")
	f.DurationVar(&o.timeout, "timeout", 2*time.Minute, "how long to wait for outstanding confirms after the last publish")
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
	switch {
	case sources == 0:
		return errors.New("nothing to send: give messages as arguments, or --stdin, or --count N")
	case sources > 1:
		return errors.New("choose one message source: arguments, --stdin or --count")
	case o.count > 0 && o.size < 0:
		return errors.New("--size must be >= 0")
	case o.window <= 0:
		return errors.New("--window must be >= 1")
	}
	sealer, err := loadSealer(cfg)
	if err != nil {
		return err
	}
	var next func() ([]byte, bool, error)
	switch {
	case len(args) > 0:
		next = sliceSource(args)
	case o.stdin:
		next = lineSource(cmd.InOrStdin())
	default:
		next = generatedSource(o.count, o.size)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	addr := cfg.value(setBroker)
	conn, err := clients.Dial(ctx, addr, clients.Options{ClientName: "ciphermq-send", Logger: quietLogger(cmd.ErrOrStderr())})
	if err != nil {
		return fmt.Errorf("connect to broker %s: %w: start one with `ciphermq server`, or pass --broker / set CIPHERMQ_BROKER", addr, err)
	}
	defer conn.Close()
	bar := newProgress(cmd.ErrOrStderr(), o.count, o.progress)
	sum, err := sendAll(ctx, conn, sendPlan{
		exchange:   cfg.value(setExchange),
		routingKey: cfg.value(setRoutingKey),
		window:     o.window,
		timeout:    o.timeout,
		sealer:     sealer,
	}, next, bar, nil)
	sum.print(cmd.OutOrStdout())
	if err != nil {
		return err
	}
	return sum.failure()
}

// loadSealer builds the sealer the settings ask for.
func loadSealer(cfg *clientConfig) (envelope.Sealer, error) {
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
		pub, err := envelope.LoadSeedPublicKey(toKeys[0])
		if err != nil {
			return nil, fmt.Errorf("recipient key: %w (for a modern receiver.pub use --format modern)", err)
		}
		return envelope.NewSeedSealer(pub, nil)
	}
	recipients := make([]envelope.RecipientPublicKey, 0, len(toKeys))
	for _, p := range toKeys {
		k, err := envelope.LoadRecipientPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("recipient key: %w (for a reference receiver_public.pem use --format seed)", err)
		}
		recipients = append(recipients, k)
	}
	signPath := cfg.pathValue(setSignKey)
	if signPath == "" {
		return nil, fmt.Errorf("no sender signing key (the modern format signs every session): %s, or run `ciphermq keygen` and use its sender.key", describe(setSignKey))
	}
	signer, err := envelope.LoadSigningPrivateKey(signPath)
	if err != nil {
		return nil, fmt.Errorf("sender signing key: %w", err)
	}
	return envelope.NewSessionSealer(envelope.SessionOptions{Signer: signer, Recipients: recipients})
}

// Message sources: each call returns the next plaintext, or false at the end.

func sliceSource(msgs []string) func() ([]byte, bool, error) {
	i := 0
	return func() ([]byte, bool, error) {
		if i == len(msgs) {
			return nil, false, nil
		}
		i++
		return []byte(msgs[i-1]), true, nil
	}
}

func lineSource(r io.Reader) func() ([]byte, bool, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), envelope.DefaultMaxEnvelopeSize)
	return func() ([]byte, bool, error) {
		if sc.Scan() {
			return sc.Bytes(), true, nil
		}
		if err := sc.Err(); err != nil {
			return nil, false, fmt.Errorf("read standard input: %w", err)
		}
		return nil, false, nil
	}
}

// generatedSource makes n printable messages of size bytes each,
// "message <i> " padded with dots, so receivers store them as text.
func generatedSource(n, size int) func() ([]byte, bool, error) {
	i := 0
	buf := make([]byte, size)
	return func() ([]byte, bool, error) {
		if i == n {
			return nil, false, nil
		}
		i++
		for j := range buf {
			buf[j] = '.'
		}
		copy(buf, "message "+strconv.Itoa(i)+" ")
		return buf, true, nil
	}
}

// newMessageID returns a random (version 4) UUID, the id format of the
// reference clients.
func newMessageID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

type sendPlan struct {
	exchange, routingKey string
	window               int
	timeout              time.Duration
	sealer               envelope.Sealer
}

type sendSummary struct {
	Sent        int
	Confirmed   int // including duplicates
	Duplicates  int
	Refused     map[string]int // by the broker's reason
	Unconfirmed int
	Elapsed     time.Duration
}

// sendAll seals and publishes every message next yields and waits for all
// confirms. onResolved (optional) sees each message id with its outcome.
func sendAll(ctx context.Context, conn *clients.Conn, p sendPlan, next func() ([]byte, bool, error),
	bar *progress, onResolved func(id string, err error)) (sendSummary, error) {
	sum := sendSummary{Refused: map[string]int{}}
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: p.exchange, RoutingKey: p.routingKey, Window: p.window})
	if err != nil {
		return sum, fmt.Errorf("publisher: %w", err)
	}
	start := time.Now()
	var pending []*clients.Confirm // in publish order
	settle := func(f *clients.Confirm) {
		err := f.Err()
		switch {
		case err == nil:
			sum.Confirmed++
			if f.Duplicate() {
				sum.Duplicates++
			}
		case errors.Is(err, clients.ErrUnconfirmed):
			sum.Unconfirmed++
		default:
			var be *clients.BrokerError
			if errors.As(err, &be) {
				sum.Refused[fmt.Sprintf("%s (code %d)", be.Reason, be.Code)]++
			} else {
				sum.Refused[err.Error()]++
			}
		}
		if onResolved != nil {
			onResolved(f.ID(), err)
		}
	}
	drain := func() {
		i := 0
		for ; i < len(pending); i++ {
			if errors.Is(pending[i].Err(), clients.ErrUnresolved) {
				break
			}
			settle(pending[i])
		}
		pending = pending[i:]
	}
	var env []byte
	var loopErr error
	for ctx.Err() == nil {
		msg, ok, err := next()
		if err != nil {
			loopErr = err
			break
		}
		if !ok {
			break
		}
		id := newMessageID()
		env, err = p.sealer.Seal(env[:0], id, msg, time.Now())
		if err != nil {
			loopErr = fmt.Errorf("seal message %d: %w", sum.Sent+1, err)
			break
		}
		f, err := pub.Publish(ctx, id, env)
		if err != nil {
			if ctx.Err() == nil {
				loopErr = fmt.Errorf("publish message %d: %w", sum.Sent+1, err)
			}
			break
		}
		sum.Sent++
		pending = append(pending, f)
		drain()
		bar.update(sum.Sent, sum.Confirmed)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.timeout)
	defer cancel()
	closeErr := pub.Close(wctx) // resolves everything: confirmed, refused or unconfirmed
	for _, f := range pending {
		settle(f)
	}
	pending = nil
	sum.Elapsed = time.Since(start)
	bar.update(sum.Sent, sum.Confirmed)
	bar.finish()
	if loopErr == nil && closeErr != nil {
		loopErr = closeErr
	}
	return sum, loopErr
}

func (s sendSummary) rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(s.Confirmed) / s.Elapsed.Seconds()
}

func (s sendSummary) print(w io.Writer) {
	fmt.Fprintf(w, "sent %d, confirmed %d (duplicates %d), refused %d, unconfirmed %d in %s (%.0f msg/s)\n",
		s.Sent, s.Confirmed, s.Duplicates, s.refused(), s.Unconfirmed, s.Elapsed.Round(time.Millisecond), s.rate())
	for _, reason := range slices.Sorted(maps.Keys(s.Refused)) {
		fmt.Fprintf(w, "  refused %d: %s\n", s.Refused[reason], reason)
	}
}

func (s sendSummary) refused() int {
	n := 0
	for _, v := range s.Refused {
		n += v
	}
	return n
}

// failure is the error that makes the exit code non-zero, or nil.
func (s sendSummary) failure() error {
	if s.refused() == 0 && s.Unconfirmed == 0 {
		return nil
	}
	return fmt.Errorf("%d messages refused and %d unconfirmed: see the reasons above; "+
		"unconfirmed messages may or may not have arrived (send them again to be sure)", s.refused(), s.Unconfirmed)
}

// quietLogger shows the library's warnings and errors (reconnects, ...) on
// w without the info chatter.
func quietLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// progress draws a one-line progress bar on a terminal.
type progress struct {
	w     io.Writer
	total int
	on    bool
	start time.Time
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, total int, force bool) *progress {
	return &progress{w: w, total: total, on: force || isTerminal(w), start: time.Now()}
}

func (p *progress) update(sent, confirmed int) {
	if p == nil || !p.on {
		return
	}
	now := time.Now()
	if p.drawn && now.Sub(p.last) < 100*time.Millisecond && sent != p.total {
		return
	}
	p.last, p.drawn = now, true
	rate := float64(confirmed) / max(now.Sub(p.start).Seconds(), 1e-9)
	if p.total > 0 {
		const width = 30
		fill := min(width, sent*width/p.total)
		bar := make([]byte, width)
		for i := range bar {
			bar[i] = ' '
			if i < fill {
				bar[i] = '='
			}
		}
		fmt.Fprintf(p.w, "\r[%s] %3d%% sent %d/%d confirmed %d %8.0f msg/s", bar, sent*100/p.total, sent, p.total, confirmed, rate)
		return
	}
	fmt.Fprintf(p.w, "\rsent %d confirmed %d %8.0f msg/s", sent, confirmed, rate)
}

func (p *progress) finish() {
	if p != nil && p.on && p.drawn {
		fmt.Fprintln(p.w)
	}
}
