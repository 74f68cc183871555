package broker

import (
	"errors"
	"fmt"
	"testing"
)

func TestRefusalsMatchSentinels(t *testing.T) {
	h := newHarness(t, Config{})
	h.topology("q")
	h.open(1)
	_, _, err := h.c.Fetch(1, "nope", h.now)
	if !errors.Is(err, ErrQueueNotFound) || errors.Is(err, ErrExchangeNotFound) {
		t.Fatalf("errors.Is does not match by code: %v", err)
	}
	wrapped := fmt.Errorf("fetching: %w", err)
	if !errors.Is(wrapped, ErrQueueNotFound) || CodeOf(wrapped) != CodeQueueNotFound {
		t.Fatalf("wrapped refusal lost its code: %v", wrapped)
	}
	if CodeOf(nil) != CodeOK || CodeOf(errors.New("disk on fire")) != CodeInternal {
		t.Fatal("CodeOf of nil or a foreign error")
	}
	if err := h.c.Ack(1, 5, false, h.now); !errors.Is(err, ErrUnknownDeliveryTag) {
		t.Fatalf("ack refusal %v", err)
	}
}
