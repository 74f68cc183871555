package runner

import (
	"bytes"
	"os"
	"testing"

	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/clients/receiver/receivertest"
	"github.com/ciphermq/ciphermq/clients/store"
)

// The shared helpers of clients/receiver/receivertest, under the names
// these tests use.
var now = receivertest.Now

type keys = receivertest.Keys

var (
	newKeys = receivertest.NewKeys
	sealer  = receivertest.Sealer
	opener  = receivertest.Opener
)

func seal(t testing.TB, s envelope.Sealer, id, msg string) receiver.Delivery {
	t.Helper()
	env, err := s.Seal(nil, id, []byte(msg), now)
	if err != nil {
		t.Fatal(err)
	}
	return receiver.Delivery{MessageID: id, Queue: "q", Body: env, ReceivedAt: now}
}

func openStore(t *testing.T, path string, opts store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func readAll(t *testing.T, path string) []store.Record {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []store.Record
	if err := store.Scan(bytes.NewReader(raw), func(r store.Record) error { out = append(out, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}
