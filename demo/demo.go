// Package demo is `ciphermq demo`: a broker, a durable receiver and a
// sender in one process, moving end-to-end encrypted messages over
// loopback and checking afterwards that every confirmed message was stored
// exactly once. It is a harness of the real pieces (broker/server, the
// clients library, clients/sender, clients/receiver/runner), not a copy of
// them; the command only parses flags and calls Run.
package demo

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/keyfile"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/clients/receiver/runner"
	"github.com/ciphermq/ciphermq/clients/sender"
)

// Options are the demo's settings (the flags of `ciphermq demo`; error
// messages name them).
type Options struct {
	Count  int    // messages to move (>= 1)
	Size   int    // plaintext bytes of each (>= 0)
	Format string // envelope format: "modern" (or "cmq1") or "seed"
	// Dir holds the keys (Dir/keys, reused when there), the receiver's
	// output file and the broker's data directory; "" makes a new
	// temporary directory.
	Dir      string
	Window   int  // publisher window (>= 1)
	InMemory bool // run the broker without a data directory
	// Durable is the old --durable flag: durability is the default, and
	// with InMemory it is refused.
	Durable bool
	// Bar draws the sender's progress bar on Err.
	Bar bool
	// Out receives the report, Err the warnings, errors and the bar
	// (default: io.Discard).
	Out, Err io.Writer
}

// Result is what a demo run observed.
type Result struct {
	Send     sender.Summary
	Stats    receiver.Stats
	Received int // confirmed messages found in the output file
	Lost     int // confirmed messages not in the output file
	Twice    int // confirmed messages stored more than once
	Elapsed  time.Duration
	Out      string // the receiver's output file
}

// refused counts every refusal, the indeterminate ones (refused after a
// resend) included: the demo treats any as a failure.
func (r Result) refused() int { return r.Send.RefusedTotal() + r.Send.Indeterminate }

// Failure is the error the command exits with: nil when every message was
// confirmed and stored exactly once.
func (r Result) Failure() error {
	if r.Lost == 0 && r.Twice == 0 && r.refused() == 0 && r.Send.Unconfirmed == 0 {
		return nil
	}
	return fmt.Errorf("demo failed: %d lost, %d stored twice, %d refused, %d unconfirmed: this is a bug, please report it with the output above",
		r.Lost, r.Twice, r.refused(), r.Send.Unconfirmed)
}

// Run runs the demo: the keys, the broker on a free port of 127.0.0.1, the
// receiver and the sender; it prints what happened on o.Out (Print) and
// returns it. An error means the demo could not run; a run that lost or
// duplicated messages returns no error but a Result whose Failure says so.
func Run(ctx context.Context, o Options) (Result, error) {
	var res Result
	w, errW := o.Out, o.Err
	if w == nil {
		w = io.Discard
	}
	if errW == nil {
		errW = io.Discard
	}
	format, err := envelope.ParseFormat(o.Format)
	if err != nil {
		return res, fmt.Errorf("--format: %w", err)
	}
	if o.Count <= 0 || o.Size < 0 || o.Window <= 0 {
		return res, errors.New("--count and --window must be >= 1, --size >= 0")
	}
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ciphermq-demo-"); err != nil {
			return res, fmt.Errorf("create a temporary directory: %w: pass --dir", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("create --dir: %w", err)
	}
	sealer, opener, err := Keys(filepath.Join(dir, "keys"), format, w)
	if err != nil {
		return res, err
	}
	log := slog.New(slog.NewTextHandler(errW, &slog.HandlerOptions{Level: slog.LevelWarn}))

	// The broker, in process, on a free port; unless InMemory it keeps
	// its log in the demo's directory, so a second run with --dir reopens
	// it, and default_queue is durable.
	if o.Durable && o.InMemory {
		return res, errors.New("--durable and --in-memory exclude each other")
	}
	cfg := server.DefaultConfig()
	queue, routingKey := broker.DefaultQueue, broker.DefaultRoutingKey
	if !o.InMemory {
		cfg.DataDir = filepath.Join(dir, "broker-data")
	}
	srv, err := server.New(cfg, log)
	if err != nil {
		return res, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		<-served
	}()
	addr := l.Addr().String()

	// The durable receiver.
	res.Out = filepath.Join(dir, "received.jsonl")
	st, err := inbox.Open(res.Out, inbox.Options{Logger: log})
	if err != nil {
		return res, err
	}
	defer st.Close()
	rcv, err := receiver.New(st, opener)
	if err != nil {
		return res, err
	}
	// The demo's client connections log errors only: with the broker in the
	// same process there is nothing to reconnect to, and the library logs
	// the broker's answer to our own Close at WARN (reported to its owner).
	// Any real trouble shows in the counts, and lost > 0 fails the demo.
	connLog := slog.New(slog.NewTextHandler(errW, &slog.HandlerOptions{Level: slog.LevelError}))
	rconn, err := clients.Dial(ctx, addr, clients.Options{ClientName: "demo-receiver", Logger: connLog})
	if err != nil {
		return res, err
	}
	defer rconn.Close()
	if cfg.DataDir != "" {
		if _, err := runner.DeclareQueue(ctx, errW, rconn, queue, broker.DefaultExchange, routingKey, runner.DurableRequired, false); err != nil {
			return res, err
		}
		fmt.Fprintf(w, "durable queue %s, broker data directory %s (fsync always)\n", queue, cfg.DataDir)
	} else {
		fmt.Fprintf(w, "in-memory broker (--in-memory): queue %s is lost if the broker stops\n", queue)
	}
	rctx, stopReceiver := context.WithCancel(ctx)
	defer stopReceiver()
	runErr := make(chan error, 1)
	go func() {
		runErr <- runner.Run(rctx, rcv, rconn, runner.Options{Queue: queue, Prefetch: 2048, Logger: log})
	}()

	// The sender.
	sconn, err := clients.Dial(ctx, addr, clients.Options{ClientName: "demo-sender", Logger: connLog})
	if err != nil {
		return res, err
	}
	defer sconn.Close()
	fmt.Fprintf(w, "moving %d %s messages of %d bytes: broker %s (in process), receiver output %s\n", o.Count, format.Label(), o.Size, addr, res.Out)
	confirmed := &confirmedSet{ids: make(map[string]bool, o.Count)}
	bar := sender.NewBar(errW, o.Count, o.Bar)
	start := time.Now()
	res.Send, err = sender.Run(ctx, sconn, sender.Options{
		Exchange: broker.DefaultExchange, RoutingKey: routingKey, Window: o.Window, Timeout: time.Minute, Sealer: sealer,
		Progress: bar.Update, Observer: confirmed,
	}, sender.Generated(sender.GenerateOptions{Count: o.Count, Size: o.Size}))
	bar.Finish()
	if err != nil {
		return res, err
	}

	// Wait until the receiver has stored every confirmed message (or it
	// stopped, or the deadline passed: then the count shows what is lost).
	deadline := time.Now().Add(time.Minute + time.Duration(o.Count)*time.Millisecond)
	for rcv.Stats().Stored < uint64(len(confirmed.ids)) && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case err := <-runErr:
			return res, fmt.Errorf("receiver stopped: %w", err)
		case <-time.After(2 * time.Millisecond): // polling interval
		}
	}
	res.Elapsed = time.Since(start)
	stopReceiver()
	if err := <-runErr; err != nil {
		return res, fmt.Errorf("receiver: %w", err)
	}
	res.Stats = rcv.Stats()
	if err := st.Sync(); err != nil {
		return res, err
	}
	res.Received, res.Lost, res.Twice, err = CountInFile(res.Out, confirmed.ids)
	if err != nil {
		return res, err
	}
	Print(w, res)
	return res, nil
}

// confirmedSet is the sender's Observer: it collects the ids the broker
// confirmed.
type confirmedSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (*confirmedSet) Attempt(sender.Attempt) error { return nil }

func (c *confirmedSet) Resolved(r sender.Result) error {
	if r.Err == nil {
		c.mu.Lock()
		c.ids[r.ID] = true
		c.mu.Unlock()
	}
	return nil
}

// Keys loads the demo's keys from dir, or generates and writes them
// (keyfile.Generate) when the receiver's private key is not there, and
// says on w which keys it uses.
func Keys(dir string, format envelope.Format, w io.Writer) (envelope.Sealer, envelope.Opener, error) {
	if format == envelope.FormatSeed {
		priv, pub := filepath.Join(dir, "receiver_private.pem"), filepath.Join(dir, "receiver_public.pem")
		if _, err := os.Stat(priv); errors.Is(err, fs.ErrNotExist) {
			if _, err := keyfile.Generate(keyfile.GenerateOptions{Format: format, Dir: dir, Name: "receiver"}); err != nil {
				return nil, nil, err
			}
		}
		k, err := keyfile.LoadSeedPrivateKey(priv)
		if err != nil {
			return nil, nil, err
		}
		pk, err := keyfile.LoadSeedPublicKey(pub)
		if err != nil {
			return nil, nil, err
		}
		s, err := envelope.NewSeedSealer(pk, nil)
		if err != nil {
			return nil, nil, err
		}
		so, err := envelope.NewSeedOpener(k)
		if err != nil {
			return nil, nil, err
		}
		o, err := envelope.NewOpener(so, nil)
		fmt.Fprintf(w, "keys: %s (RSA-2048 + AES-GCM, the reference format)\n", dir)
		return s, o, err
	}
	if _, err := os.Stat(filepath.Join(dir, "receiver.key")); errors.Is(err, fs.ErrNotExist) {
		if _, err := keyfile.Generate(keyfile.GenerateOptions{Format: format, Dir: dir, Name: "receiver", SenderName: "sender"}); err != nil {
			return nil, nil, err
		}
	}
	rk, err := keyfile.LoadRecipientPrivateKey(filepath.Join(dir, "receiver.key"))
	if err != nil {
		return nil, nil, err
	}
	sk, err := keyfile.LoadSigningPrivateKey(filepath.Join(dir, "sender.key"))
	if err != nil {
		return nil, nil, err
	}
	s, err := envelope.NewSessionSealer(envelope.SessionOptions{Signer: sk, Recipients: []envelope.RecipientPublicKey{rk.Public()}})
	if err != nil {
		return nil, nil, err
	}
	so, err := envelope.NewSessionOpener(envelope.SessionOpenerOptions{Key: rk, Trusted: []ed25519.PublicKey{sk.Public().(ed25519.PublicKey)}})
	if err != nil {
		return nil, nil, err
	}
	o, err := envelope.NewOpener(nil, so)
	fmt.Fprintf(w, "keys: %s (ML-KEM-768 + X25519 HPKE, Ed25519-signed sessions, AES-256-GCM)\n", dir)
	return s, o, err
}

// CountInFile checks the receiver's output file at path against the
// confirmed ids: how many of them it holds, how many it lacks (lost) and
// how many it holds more than once. Records of other ids (an earlier run
// into the same --dir) are ignored.
func CountInFile(path string, confirmed map[string]bool) (received, lost, twice int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	count := make(map[string]int, len(confirmed))
	err = inbox.Scan(f, func(r inbox.Record) error {
		if confirmed[r.MessageID] {
			count[r.MessageID]++
		}
		return nil
	})
	if err != nil {
		return 0, 0, 0, fmt.Errorf("read back %s: %w", path, err)
	}
	for id := range confirmed {
		switch c := count[id]; {
		case c == 0:
			lost++
		case c > 1:
			twice++
		}
		if count[id] > 0 {
			received++
		}
	}
	return received, lost, twice, nil
}

// Print writes the demo's report of r.
func Print(w io.Writer, r Result) {
	rate := 0.0
	if r.Elapsed > 0 {
		rate = float64(r.Received) / r.Elapsed.Seconds()
	}
	fmt.Fprintf(w, "  sent         %d\n", r.Send.Sent)
	fmt.Fprintf(w, "  confirmed    %d (duplicates %d, refused %d, unconfirmed %d) %s\n", r.Send.Confirmed, r.Send.Duplicates, r.refused(), r.Send.Unconfirmed, r.Send.Where())
	fmt.Fprintf(w, "  received     %d decrypted and stored (fsync'd before ack), %d duplicate deliveries dropped, %d rejected\n",
		r.Received, r.Stats.Duplicates, r.Stats.RejectedTotal())
	fmt.Fprintf(w, "  lost         %d\n", r.Lost)
	fmt.Fprintf(w, "  stored twice %d\n", r.Twice)
	fmt.Fprintf(w, "  throughput   %.0f msg/s end to end (seal, publish, confirm, deliver, open, fsync, ack) in %s\n", rate, r.Elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  output       %s\n", r.Out)
}
