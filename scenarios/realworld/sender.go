package realworld

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/keyfile"
	"github.com/ciphermq/ciphermq/internal/check"
)

// SenderConfig configures RunSender, the publisher of a scenario. It runs
// as its own process (`ciphermq scenario sender`), so that a scenario can
// SIGKILL it like any real client.
type SenderConfig struct {
	Broker     string // address to dial (a fault proxy's)
	Exchange   string
	RoutingKey string
	// Queues are the queues the topology routes every message to; they go
	// into the history so the checker knows which copies are owed.
	Queues []string
	// ToKeys are recipient public key files (modern format), SignKey the
	// sender's Ed25519 signing key file.
	ToKeys  []string
	SignKey string
	// Publisher names the sender in the history and prefixes its message
	// ids: <Publisher>-<seq>.
	Publisher string
	// First is the sequence index of the first message, Count how many to
	// send (a restarted sender continues where its report ends).
	First, Count int
	// Size is the plaintext size in bytes (at least the message's header).
	Size int
	// Rate bounds publishes per second (0: as fast as the window allows),
	// so that faults land in the middle of the flow.
	Rate float64
	// Window bounds unconfirmed messages (default 64).
	Window int
	// Seed fixes the plaintexts.
	Seed uint64
	// Epoch is the start of the run; event times are measured from it.
	Epoch time.Time
	// Report is the JSON Lines file of check.Event the sender appends to.
	Report string
	// Timeout bounds the wait for outstanding confirms after the last
	// publish (default 1 minute).
	Timeout time.Duration
	// Logger receives connection events (default: discarded).
	Logger *slog.Logger `json:"-"`
}

// ErrUnresolved says a sender gave up on some confirms: a liveness failure
// when faults have stopped.
var ErrUnresolved = errors.New("sender: publishes left unresolved")

func (c *SenderConfig) validate() error {
	switch {
	case c.Broker == "":
		return errors.New("sender: no broker address")
	case c.Publisher == "":
		return errors.New("sender: no publisher name")
	case c.First < 1 || c.Count < 0:
		return fmt.Errorf("sender: messages %d..%d: the first index is 1 or more and the count not negative", c.First, c.First+c.Count-1)
	case c.Report == "":
		return errors.New("sender: no report file")
	case len(c.Queues) == 0:
		return errors.New("sender: no expected queue: give the queues the routing key reaches")
	case c.Rate < 0:
		return fmt.Errorf("sender: rate %v must not be negative", c.Rate)
	}
	return nil
}

// MessageID is the id of a sender's seq-th message.
func MessageID(publisher string, seq int) string { return fmt.Sprintf("%s-%06d", publisher, seq) }

// Plaintext is the seq-th plaintext of a publisher for a seed: printable,
// unique, size bytes (or longer if size is below its header), so receivers
// store it as text and the checker can compare digests.
func Plaintext(seed uint64, publisher string, seq, size int) []byte {
	x := splitmix(seed ^ uint64(seq)*0x9e3779b97f4a7c15)
	head := fmt.Sprintf("%s #%d %016x ", publisher, seq, x)
	out := make([]byte, max(size, len(head)))
	n := copy(out, head)
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	for i := n; i < len(out); i++ {
		x = splitmix(x)
		out[i] = alphabet[x%uint64(len(alphabet))]
	}
	return out
}

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// eventWriter appends events to the report, one write per line, so a
// SIGKILL leaves whole lines and at most one torn last line.
type eventWriter struct {
	mu  sync.Mutex
	w   io.Writer
	buf []byte
}

func (e *eventWriter) write(ev check.Event) error {
	line, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode report event: %w", err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.buf = append(append(e.buf[:0], line...), '\n')
	if _, err := e.w.Write(e.buf); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// SenderSummary counts how a sender's publishes ended.
type SenderSummary struct {
	Attempted, Confirmed, Duplicates, Refused, Unresolved int
	// Indeterminate counts refusals after a resend (clients.IsIndeterminate):
	// an earlier attempt may have been stored.
	Indeterminate int
}

// RunSender publishes cfg.Count sealed messages with confirms and records
// each attempt (before it is published) and each outcome in cfg.Report. It
// returns when every publish resolved, or with ErrUnresolved when the
// timeout left some unconfirmed (they stay unknown in the report).
func RunSender(ctx context.Context, cfg SenderConfig) (SenderSummary, error) {
	var sum SenderSummary
	if err := cfg.validate(); err != nil {
		return sum, err
	}
	if cfg.Window <= 0 {
		cfg.Window = 64
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Epoch.IsZero() {
		cfg.Epoch = time.Now()
	}
	sealer, err := loadSessionSealer(cfg.ToKeys, cfg.SignKey)
	if err != nil {
		return sum, err
	}
	f, err := os.OpenFile(cfg.Report, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return sum, fmt.Errorf("sender: open report: %w", err)
	}
	defer f.Close()
	rep := &eventWriter{w: f}

	conn, err := dialThroughFaults(ctx, cfg)
	if err != nil {
		return sum, fmt.Errorf("sender: connect to %s: %w", cfg.Broker, err)
	}
	defer conn.Close()
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: cfg.Exchange, RoutingKey: cfg.RoutingKey, Window: cfg.Window})
	if err != nil {
		return sum, fmt.Errorf("sender: %w", err)
	}

	// The outcome recorder waits for confirms in publish order.
	futures := make(chan *clients.Confirm, cfg.Window+1)
	recorded := make(chan error, 1)
	go func() {
		var werr error
		for fut := range futures {
			<-fut.Done() // Close below resolves every future
			ev, ok := outcomeEvent(time.Since(cfg.Epoch), cfg.Publisher, fut, &sum)
			if ok && werr == nil {
				werr = rep.write(ev)
			}
		}
		recorded <- werr
	}()

	start := time.Now()
	var env []byte
	var loopErr error
	for i := range cfg.Count {
		seq := cfg.First + i
		if cfg.Rate > 0 {
			due := start.Add(time.Duration(float64(i) / cfg.Rate * float64(time.Second)))
			if err := hold(ctx, time.Until(due)); err != nil {
				break
			}
		}
		id := MessageID(cfg.Publisher, seq)
		plain := Plaintext(cfg.Seed, cfg.Publisher, seq, cfg.Size)
		if env, err = sealer.Seal(env[:0], id, plain, time.Now()); err != nil {
			loopErr = fmt.Errorf("sender: seal %s: %w", id, err)
			break
		}
		// The attempt is on record before a single byte of it is sent.
		if err := rep.write(check.Attempt(time.Since(cfg.Epoch), cfg.Publisher, id, uint64(seq), check.DigestOf(plain), cfg.Queues...)); err != nil {
			loopErr = err
			break
		}
		sum.Attempted++
		fut, err := pub.Publish(ctx, id, env)
		if err != nil {
			if ctx.Err() == nil {
				loopErr = fmt.Errorf("sender: publish %s: %w", id, err)
			}
			break
		}
		futures <- fut
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Timeout)
	defer cancel()
	_ = pub.Close(wctx) // resolves everything; the unconfirmed are counted below
	close(futures)
	if err := <-recorded; err != nil && loopErr == nil {
		loopErr = err
	}
	if loopErr == nil && sum.Unresolved > 0 {
		loopErr = fmt.Errorf("%w: %d of %d after waiting %v for their confirms", ErrUnresolved, sum.Unresolved, sum.Attempted, cfg.Timeout)
	}
	return sum, loopErr
}

// outcomeEvent turns a resolved confirm into its history event and counts
// it; an unconfirmed publish has no event (its outcome stays unknown).
func outcomeEvent(at time.Duration, publisher string, fut *clients.Confirm, sum *SenderSummary) (check.Event, bool) {
	err := fut.Err()
	switch {
	case err == nil && fut.Duplicate():
		sum.Confirmed++
		sum.Duplicates++
		return check.ConfirmedDuplicate(at, publisher, fut.ID()), true
	case err == nil:
		sum.Confirmed++
		return check.Confirmed(at, publisher, fut.ID()), true
	}
	var be *clients.BrokerError
	if errors.As(err, &be) {
		if clients.IsIndeterminate(err) {
			// Refused after a resend: an earlier attempt may be stored.
			sum.Indeterminate++
			return check.Indeterminate(at, publisher, fut.ID(), be.Code, be.Reason), true
		}
		sum.Refused++
		return check.Refused(at, publisher, fut.ID(), be.Code, be.Reason), true
	}
	sum.Unresolved++
	return check.Event{}, false
}

func loadSessionSealer(toKeys []string, signKey string) (*envelope.SessionSealer, error) {
	if len(toKeys) == 0 || signKey == "" {
		return nil, errors.New("sender: give the receivers' public key files and the sender's signing key file")
	}
	recipients := make([]envelope.RecipientPublicKey, 0, len(toKeys))
	for _, p := range toKeys {
		k, err := keyfile.LoadRecipientPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("sender: recipient key: %w", err)
		}
		recipients = append(recipients, k)
	}
	signer, err := keyfile.LoadSigningPrivateKey(signKey)
	if err != nil {
		return nil, fmt.Errorf("sender: signing key: %w", err)
	}
	return envelope.NewSessionSealer(envelope.SessionOptions{Signer: signer, Recipients: recipients})
}

// dialThroughFaults makes the sender's first connection. clients.Dial fails
// fast on purpose (a user who mistyped the address wants to know at once),
// but a scenario's sender dials through a fault proxy that may already
// reset or drop its handshake: that is one of the faults under test, not a
// reason to end the run. It retries with a growing pause until cfg.Timeout,
// except for refusals that no retry can change (authentication, access).
func dialThroughFaults(ctx context.Context, cfg SenderConfig) (*clients.Conn, error) {
	opts := clients.Options{
		ClientName: "scenario-sender-" + cfg.Publisher, Logger: cfg.Logger,
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: 500 * time.Millisecond,
	}
	deadline := time.Now().Add(cfg.Timeout)
	pause := opts.ReconnectMin
	for attempt := 1; ; attempt++ {
		conn, err := clients.Dial(ctx, cfg.Broker, opts)
		if err == nil {
			return conn, nil
		}
		if clients.IsAuthFailed(err) || clients.IsAccessRefused(err) || ctx.Err() != nil || time.Now().Add(pause).After(deadline) {
			return nil, fmt.Errorf("attempt %d: %w", attempt, err)
		}
		cfg.Logger.Warn("first connection failed; retrying", "attempt", attempt, "err", err)
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, opts.ReconnectMax)
	}
}
