package receiver

import (
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// Every reason the receiver gives has a code of the same name in the
// broker's reject-reason table, so the runner can pass it on and
// `ciphermq dlq list` shows the same word recv logged.
func TestEveryRejectionReasonHasAWireCode(t *testing.T) {
	names := []string{"invalid-record", ReasonOf(nil)}
	for _, r := range reasons {
		names = append(names, r.reason)
	}
	for _, n := range names {
		code, ok := wire.ParseRejectReason(n)
		if !ok || code == wire.ReasonNone || code == wire.ReasonDeliveryLimit {
			t.Errorf("reason %q has no client code in the wire table (got %v, %v)", n, code, ok)
		}
	}
}
