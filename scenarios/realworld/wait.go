package realworld

import (
	"context"
	"fmt"
	"time"
)

// pollEvery is how often waitUntil re-evaluates its condition.
const pollEvery = 20 * time.Millisecond

// waitUntil polls cond until it holds, fails, or ctx ends. It is how the
// harness waits for processes: on conditions with a deadline, never on a
// fixed sleep.
func waitUntil(ctx context.Context, what string, cond func() (bool, error)) error {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

// hold keeps a fault in place for d (or until ctx ends). This is the one
// place the harness lets real time pass on purpose: a fault's duration is
// part of the scenario, not a guess about when something will be ready.
func hold(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
