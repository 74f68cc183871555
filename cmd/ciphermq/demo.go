package main

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
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/keyfile"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/clients/receiver/runner"
	"github.com/ciphermq/ciphermq/clients/sender"
	"github.com/ciphermq/ciphermq/clients/store"
)

type demoOptions struct {
	count    int
	size     int
	format   string
	dir      string
	window   int
	progress bool
	durable  bool // deprecated: durable is the default
	inMemory bool
}

func init() { register(newDemoCmd) }

func newDemoCmd() *cobra.Command {
	o := &demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a broker, a durable receiver and a sender in one process and move N encrypted messages",
		Long: `demo starts a broker on a free port of 127.0.0.1, generates keys (in a new temporary directory,
or in --dir, reusing keys already there), starts a durable receiver and a sender, moves --count end
to end encrypted messages, and prints what happened: sent, confirmed, received, duplicates, lost
(always 0), the throughput, and where the receiver's output file is. The broker is durable, as
'ciphermq server' is by default: it keeps its data directory in DIR/broker-data (the temporary
directory unless --dir; fsync always), default_queue is durable, and every confirm means the
message was on the broker's disk. --in-memory runs the broker without one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := runDemo(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
			if err != nil {
				return err
			}
			return res.failure()
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.count, "count", 10_000, "messages to move")
	f.IntVar(&o.size, "size", 100, "plaintext size of each message in bytes")
	f.StringVar(&o.format, "format", defaultFormat, "envelope format: modern or seed")
	f.StringVar(&o.dir, "dir", "", "directory for keys and the output file (default: a new temporary directory)")
	f.IntVar(&o.window, "window", 1024, "publisher window: most messages awaiting a confirm")
	f.BoolVar(&o.progress, "progress", false, "draw the progress bar even when standard error is not a terminal")
	f.BoolVar(&o.inMemory, "in-memory", false, "run the broker without a data directory: messages in memory only")
	f.BoolVar(&o.durable, "durable", false, "durable is the default now; kept for old scripts")
	_ = f.MarkHidden("durable")
	return cmd
}

type demoResult struct {
	send     sendSummary
	stats    receiver.Stats
	received int // confirmed messages found in the output file
	lost     int // confirmed messages not in the output file
	twice    int // confirmed messages stored more than once
	elapsed  time.Duration
	out      string
}

func (r demoResult) failure() error {
	if r.lost == 0 && r.twice == 0 && r.send.refused() == 0 && r.send.Unconfirmed == 0 {
		return nil
	}
	return fmt.Errorf("demo failed: %d lost, %d stored twice, %d refused, %d unconfirmed: this is a bug, please report it with the output above",
		r.lost, r.twice, r.send.refused(), r.send.Unconfirmed)
}

func runDemo(ctx context.Context, w, errW io.Writer, o *demoOptions) (demoResult, error) {
	var res demoResult
	format, err := envelope.ParseFormat(o.format)
	if err != nil {
		return res, fmt.Errorf("--format: %w", err)
	}
	if o.count <= 0 || o.size < 0 || o.window <= 0 {
		return res, errors.New("--count and --window must be >= 1, --size >= 0")
	}
	dir := o.dir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ciphermq-demo-"); err != nil {
			return res, fmt.Errorf("create a temporary directory: %w: pass --dir", err)
		}
	} else if err := os.MkdirAll(dir, 0o700); err != nil {
		return res, fmt.Errorf("create --dir: %w", err)
	}
	sealer, opener, err := demoKeys(filepath.Join(dir, "keys"), format, w)
	if err != nil {
		return res, err
	}
	log := quietLogger(errW)

	// The broker, in process, on a free port; unless --in-memory it keeps
	// its log in the demo's directory, so a second run with --dir reopens
	// it, and default_queue is durable.
	if o.durable && o.inMemory {
		return res, errors.New("--durable and --in-memory exclude each other")
	}
	cfg := server.DefaultConfig()
	queue, routingKey := defaultQueue, defaultRoutingKey
	if !o.inMemory {
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
	res.out = filepath.Join(dir, "received.jsonl")
	st, err := store.Open(res.out, store.Options{Logger: log})
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
		if _, err := runner.DeclareQueue(ctx, errW, rconn, queue, defaultExchange, routingKey, runner.DurableRequired); err != nil {
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
	fmt.Fprintf(w, "moving %d %s messages of %d bytes: broker %s (in process), receiver output %s\n", o.count, format.Label(), o.size, addr, res.out)
	var mu sync.Mutex
	confirmed := make(map[string]bool, o.count)
	start := time.Now()
	res.send, err = sendAll(ctx, sconn, sendPlan{
		exchange: defaultExchange, routingKey: routingKey, window: o.window, timeout: time.Minute, sealer: sealer,
	}, generatedSource(o.count, o.size), sender.NewBar(errW, o.count, o.progress || isTerminal(errW)), func(id string, err error) {
		if err == nil {
			mu.Lock()
			confirmed[id] = true
			mu.Unlock()
		}
	})
	if err != nil {
		return res, err
	}

	// Wait until the receiver has stored every confirmed message (or it
	// stopped, or the deadline passed: then the count shows what is lost).
	deadline := time.Now().Add(time.Minute + time.Duration(o.count)*time.Millisecond)
	for rcv.Stats().Stored < uint64(len(confirmed)) && time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case err := <-runErr:
			return res, fmt.Errorf("receiver stopped: %w", err)
		case <-time.After(2 * time.Millisecond): // polling interval
		}
	}
	res.elapsed = time.Since(start)
	stopReceiver()
	if err := <-runErr; err != nil {
		return res, fmt.Errorf("receiver: %w", err)
	}
	res.stats = rcv.Stats()
	if err := st.Sync(); err != nil {
		return res, err
	}
	res.received, res.lost, res.twice, err = countInFile(res.out, confirmed)
	if err != nil {
		return res, err
	}
	printDemo(w, res)
	return res, nil
}

// demoKeys loads the demo's keys from dir, or generates and writes them.
func demoKeys(dir string, format envelope.Format, w io.Writer) (envelope.Sealer, envelope.Opener, error) {
	if format == envelope.FormatSeed {
		priv, pub := filepath.Join(dir, "receiver_private.pem"), filepath.Join(dir, "receiver_public.pem")
		if _, err := os.Stat(priv); errors.Is(err, fs.ErrNotExist) {
			if err := runKeygen(io.Discard, &keygenOptions{format: "seed", dir: dir, name: "receiver"}); err != nil {
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
		if err := runKeygen(io.Discard, &keygenOptions{format: "modern", dir: dir, name: "receiver", senderName: "sender"}); err != nil {
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

// countInFile checks the output file against the confirmed ids.
func countInFile(path string, confirmed map[string]bool) (received, lost, twice int, err error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	count := make(map[string]int, len(confirmed))
	err = store.Scan(f, func(r store.Record) error {
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

func printDemo(w io.Writer, r demoResult) {
	rate := 0.0
	if r.elapsed > 0 {
		rate = float64(r.received) / r.elapsed.Seconds()
	}
	fmt.Fprintf(w, "  sent         %d\n", r.send.Sent)
	fmt.Fprintf(w, "  confirmed    %d (duplicates %d, refused %d, unconfirmed %d) %s\n", r.send.Confirmed, r.send.Duplicates, r.send.refused(), r.send.Unconfirmed, r.send.Where())
	fmt.Fprintf(w, "  received     %d decrypted and stored (fsync'd before ack), %d duplicate deliveries dropped, %d rejected\n",
		r.received, r.stats.Duplicates, r.stats.RejectedTotal())
	fmt.Fprintf(w, "  lost         %d\n", r.lost)
	fmt.Fprintf(w, "  stored twice %d\n", r.twice)
	fmt.Fprintf(w, "  throughput   %.0f msg/s end to end (seal, publish, confirm, deliver, open, fsync, ack) in %s\n", rate, r.elapsed.Round(time.Millisecond))
	fmt.Fprintf(w, "  output       %s\n", r.out)
}
