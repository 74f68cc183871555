package runner

import (
	"testing"

	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/clients/receiver/receivertest"
)

// The shared helpers of clients/receiver/receivertest, under the names
// these tests use.
var now = receivertest.Now

type keys = receivertest.Keys

var (
	newKeys   = receivertest.NewKeys
	sealer    = receivertest.Sealer
	opener    = receivertest.Opener
	openStore = receivertest.OpenStore
	readAll   = receivertest.ReadAll
)

func seal(t testing.TB, s envelope.Sealer, id, msg string) receiver.Delivery {
	t.Helper()
	env, err := s.Seal(nil, id, []byte(msg), now)
	if err != nil {
		t.Fatal(err)
	}
	return receiver.Delivery{MessageID: id, Queue: "q", Body: env, ReceivedAt: now}
}
