package sender

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/internal/check"
	"github.com/ciphermq/ciphermq/internal/testbroker"
)

// startBroker serves an in-process broker on a free local port.
func startBroker(t testing.TB) (*server.Server, string) {
	t.Helper()
	return testbroker.Start(t, server.DefaultConfig())
}

func dial(t testing.TB, addr string) *clients.Conn {
	t.Helper()
	c, err := clients.Dial(context.Background(), addr, clients.Options{ClientName: "sender-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func queueHolds(srv *server.Server, name string) int {
	for _, q := range srv.Stats().Queues {
		if q.Name == name {
			return q.Ready + q.Unacked
		}
	}
	return -1
}

// testSealer seals for a fixed test key; the tests never open what it seals
// (the receiver's tests do), they only need valid envelopes.
func testSealer(t testing.TB) envelope.Sealer {
	t.Helper()
	rng := rand.NewChaCha8([32]byte{42})
	rk, err := envelope.GenerateRecipientKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := envelope.GenerateSigningKey(rng)
	if err != nil {
		t.Fatal(err)
	}
	s, err := envelope.NewSessionSealer(envelope.SessionOptions{Signer: sk, Recipients: []envelope.RecipientPublicKey{rk.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// readReport decodes a JSON Lines report into a history.
func readReport(t testing.TB, path string) check.History {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h check.History
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var e check.Event
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&e); err != nil {
			t.Fatalf("report line %q: %v", sc.Text(), err)
		}
		h.Add(e)
	}
	return h
}

// recorder is an Observer that keeps what it saw, and can fail on demand.
type recorder struct {
	events     []string // "attempt <index> <id>" and "resolved <index> <id> <ok>"
	failAt     uint64   // Attempt of this index fails (0: never)
	onAttempt  func(Attempt)
	attempts   []Attempt
	results    []Result
	resolveErr error
}

func (r *recorder) Attempt(a Attempt) error {
	if r.onAttempt != nil {
		r.onAttempt(a)
	}
	if a.Index == r.failAt {
		return errStop
	}
	a.Plaintext = append([]byte(nil), a.Plaintext...)
	r.attempts = append(r.attempts, a)
	return nil
}

func (r *recorder) Resolved(res Result) error {
	r.results = append(r.results, res)
	return r.resolveErr
}

var errStop = &stopError{}

type stopError struct{}

func (*stopError) Error() string { return "test observer refuses" }

// consumeAll acks everything on default_queue.
func consumeAll() clients.ConsumerOptions {
	return clients.ConsumerOptions{Queue: "default_queue", Prefetch: 1024,
		BatchHandler: func(_ context.Context, ds []*clients.Delivery) []error { return make([]error, len(ds)) }}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
