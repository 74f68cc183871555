//go:build unix

package runner

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/keyfile"
	"github.com/ciphermq/ciphermq/clients/receiver"
)

// The receiver child: the test binary re-executed with these variables set
// runs a real receiver (store + opener + library consumer) until killed.
const (
	envChildBroker = "CIPHERMQ_RECEIVER_CHILD_BROKER"
	envChildDir    = "CIPHERMQ_RECEIVER_CHILD_DIR"
	// envChildMode "ack-before-sync" runs a deliberately broken receiver
	// that acks as soon as a record is appended, before any fsync, to show
	// that the checker catches the loss.
	envChildMode = "CIPHERMQ_RECEIVER_CHILD_MODE"
)

func TestMain(m *testing.M) {
	if addr := os.Getenv(envChildBroker); addr != "" {
		os.Exit(receiverChild(addr, os.Getenv(envChildDir)))
	}
	os.Exit(m.Run())
}

func receiverChild(addr, dir string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "receiver child:", err); return 2 }
	key, err := keyfile.LoadRecipientPrivateKey(filepath.Join(dir, "receiver.key"))
	if err != nil {
		return fail(err)
	}
	trust, err := keyfile.LoadSigningPublicKey(filepath.Join(dir, "sender.pub"))
	if err != nil {
		return fail(err)
	}
	so, err := envelope.NewSessionOpener(envelope.SessionOpenerOptions{Key: key, Trusted: []ed25519.PublicKey{trust}})
	if err != nil {
		return fail(err)
	}
	st, err := inbox.Open(filepath.Join(dir, "out.jsonl"), inbox.Options{})
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	r, err := receiver.New(st, so)
	if err != nil {
		return fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	conn, err := clients.Dial(ctx, addr, clients.Options{ClientName: "receiver-child", ReconnectMax: 200 * time.Millisecond})
	if err != nil {
		return fail(err)
	}
	defer conn.Close()
	if os.Getenv(envChildMode) == "ack-before-sync" {
		cons, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: "default_queue", Prefetch: 16, Seen: st.Has,
			Handler: func(_ context.Context, d *clients.Delivery) error {
				plain, _, err := so.Open(nil, d.MessageID, d.Body, time.Now())
				if err != nil {
					return clients.Permanent(err)
				}
				_ = st.Append(inbox.Record{MessageID: d.MessageID, Queue: d.Queue, Message: plain})
				return nil // acked while the record may sit in the buffer
			}})
		if err != nil {
			return fail(err)
		}
		<-ctx.Done()
		_ = cons.Cancel(context.Background())
		return 0
	}
	// Small batches make kills land between, inside and after fsyncs.
	if err := Run(ctx, r, conn, Options{Queue: "default_queue", Prefetch: 16}); err != nil {
		return fail(err)
	}
	return 0
}

// countLines counts complete records in the output file.
func countLines(path string) int {
	b, _ := os.ReadFile(path)
	return bytes.Count(b, []byte{'\n'})
}

// TestSigkillExactlyOnce runs the receiver as a real process, SIGKILLs it at
// seeded random moments while a publisher streams confirmed messages,
// restarts it each time, and then checks that the output file holds every
// confirmed message exactly once and nothing else.
func TestSigkillExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several receiver processes; run without -short")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CIPHERMQ_SIGKILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (replay the kill schedule with CIPHERMQ_SIGKILL_SEED=%d)", seed, seed)
	for _, v := range killScenario(t, seed, 3000, 6, "") {
		t.Error(v)
	}
}

// TestSigkillCheckerCatchesAckBeforeSync runs the same scenario against a
// receiver that acks before its records are durable: the kills must lose
// confirmed messages, and the checker must say so.
func TestSigkillCheckerCatchesAckBeforeSync(t *testing.T) {
	if testing.Short() {
		t.Skip("starts several receiver processes; run without -short")
	}
	violations := killScenario(t, 42, 1500, 3, "ack-before-sync")
	if len(violations) == 0 {
		t.Fatal("a receiver that acks before fsync survived three SIGKILLs without losing a message: the checker cannot see loss")
	}
	t.Logf("checker found %d violations, first: %s", len(violations), violations[0])
}

// killScenario publishes n confirmed messages while killing the receiver
// kills times, and returns the checker's violations.
func killScenario(t *testing.T, seed uint64, n, kills int, mode string) []string {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5ec))

	srv, addr := startBroker(t)
	dir := t.TempDir()
	k := newKeys(t, seed)
	if err := keyfile.WriteRecipientKeyFiles(filepath.Join(dir, "receiver.key"), filepath.Join(dir, "receiver.pub"), k.Recipient, false); err != nil {
		t.Fatal(err)
	}
	if err := keyfile.WriteSigningKeyFiles(filepath.Join(dir, "sender.key"), filepath.Join(dir, "sender.pub"), k.Signer, false); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out.jsonl")

	var logs bytes.Buffer
	var logsMu sync.Mutex
	start := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envChildBroker+"="+addr, envChildDir+"="+dir, envChildMode+"="+mode)
		w := &lockedWriter{w: &logs, mu: &logsMu}
		cmd.Stdout, cmd.Stderr = w, w
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	defer func() {
		if t.Failed() && mode == "" {
			logsMu.Lock()
			t.Logf("receiver logs:\n%s", logs.String())
			logsMu.Unlock()
		}
	}()

	// The publisher: every message sealed and published with confirms.
	sent := make(map[string]string, n) // id -> plaintext
	for i := range n {
		sent[fmt.Sprintf("msg-%05d", i)] = fmt.Sprintf("plaintext %d %x", i, rng.Uint64())
	}
	confirmed := make(chan map[string]bool, 1)
	pubErr := make(chan error, 1)
	go func() {
		conn, err := clients.Dial(context.Background(), addr, clients.Options{ClientName: "publisher", Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			pubErr <- err
			return
		}
		defer conn.Close()
		pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key", Window: 64})
		if err != nil {
			pubErr <- err
			return
		}
		s := sealer(t, k, k.Signer)
		ctx := context.Background()
		futures := make([]*clients.Confirm, 0, n)
		for i := range n {
			id := fmt.Sprintf("msg-%05d", i)
			env, err := s.Seal(nil, id, []byte(sent[id]), time.Now())
			if err != nil {
				pubErr <- err
				return
			}
			f, err := pub.Publish(ctx, id, env)
			if err != nil {
				pubErr <- err
				return
			}
			futures = append(futures, f)
		}
		ok := make(map[string]bool, n)
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		for _, f := range futures {
			if err := f.Wait(wctx); err == nil {
				ok[f.ID()] = true
			}
		}
		confirmed <- ok
	}()

	cmd := start()
	// Kill points: record counts observed in the file, spread over the run.
	for i := range kills {
		target := (i+1)*n/(kills+1) + rng.IntN(n/(kills+1)/2)
		waitFor(t, fmt.Sprintf("%d acks before kill %d", target, i+1), 60*time.Second, func() bool {
			return acked(srv) >= target
		})
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		t.Logf("kill %d after %d acks, %d records in the file", i+1, acked(srv), countLines(out))
		cmd = start()
	}

	var ok map[string]bool
	select {
	case ok = <-confirmed:
	case err := <-pubErr:
		t.Fatalf("publisher: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("publisher did not finish")
	}
	if len(ok) != n {
		t.Fatalf("only %d of %d messages confirmed by a healthy broker", len(ok), n)
	}
	// The broker's queue empties once everything is acked; the file then
	// holds whatever the receiver kept.
	waitFor(t, "the queue to drain", 60*time.Second, func() bool { return queueDepth(srv, "default_queue") == 0 })
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Errorf("last receiver did not exit cleanly on SIGTERM: %v", err)
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return checkExactlyOnce(raw, sent, ok)
}

func queueStats(srv interface{ Stats() broker.Stats }, name string) broker.QueueStats {
	for _, q := range srv.Stats().Queues {
		if q.Name == name {
			return q
		}
	}
	return broker.QueueStats{}
}

func queueDepth(srv interface{ Stats() broker.Stats }, name string) int {
	q := queueStats(srv, name)
	return q.Ready + q.Unacked
}

// acked counts the messages the receivers acked so far, as the broker sees
// it (the same measure for a correct and a broken receiver).
func acked(srv interface{ Stats() broker.Stats }) int {
	return int(queueStats(srv, "default_queue").Acked)
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
