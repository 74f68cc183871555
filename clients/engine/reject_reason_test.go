package engine

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// A rejection's reason goes into its Reject frame; a reason with any other
// verdict is refused and settles nothing.
func TestSettleReasonGoesIntoTheReject(t *testing.T) {
	c := newCons(ConsumerConfig{})
	a := handle(t, c, 1, "a", Process)
	b := handle(t, c, 2, "b", Process)
	if err := c.SettleReason(a, Stored, wire.ReasonTampered); !errors.Is(err, ErrUnknownOutcome) {
		t.Fatalf("a reason with an ack: %v", err)
	}
	if err := c.SettleReason(a, Permanent, wire.ReasonNotRecipient); err != nil {
		t.Fatal(err)
	}
	settle(t, c, b, Permanent)
	out := c.Poll()
	if len(out) != 2 || out[0].Kind != SettleReject || out[0].Reason != wire.ReasonNotRecipient || out[1].Reason != wire.ReasonNone {
		t.Fatalf("settlements %+v", out)
	}
	want := wire.AppendReject(nil, &wire.Reject{DeliveryTag: 1, Reason: wire.ReasonNotRecipient})
	if got := out[0].AppendTo(nil); !bytes.Equal(got, want) {
		t.Fatalf("frame %x, want %x", got, want)
	}
	if f, ok := out[0].Frame().(*wire.Reject); !ok || f.Reason != wire.ReasonNotRecipient {
		t.Fatalf("Frame() %+v", out[0].Frame())
	}
}
