package bench

import (
	"context"
	"time"
)

// pacer spaces an open-loop publisher's sends on a fixed schedule: message
// seq is meant to go at offset + seq*interval after the run's start.
//
// Latency is measured from those intended times, so the pacer's own
// lateness counts against the broker; it therefore sleeps with the most
// precise sleep the platform offers (see lockPacingThread) and reports how
// late each send actually was, for the send-lag figures that let readers
// tell the harness from the broker.
//
// Behind schedule it does not sleep, and it never skips a message: every
// seq keeps its own intended time, so a late publisher catches up by
// sending back to back, and each of those messages is charged its full
// delay.
type pacer struct {
	offset   time.Duration
	interval time.Duration
	now      func() time.Duration // time since the run's start
	// sleep sleeps for about d; it may return early (a signal), the pacer
	// then sleeps again for what is left.
	sleep func(d time.Duration)
	// spin is how much of each wait is spent polling the clock instead of
	// sleeping: waking a thread from nanosleep takes some 20 µs here, so
	// the pacer wakes that much early and spins the rest. Kept short: it
	// burns the CPU the broker needs.
	spin time.Duration
}

// intended is the time message seq is meant to be sent.
func (p *pacer) intended(seq uint64) time.Duration {
	return p.offset + time.Duration(seq)*p.interval
}

// maxPacerSleep bounds one sleep of the pacer, so that a wait for a
// message due far ahead (a low rate) notices a cancelled run: the sleep
// cannot be interrupted. Waits this long have no precision to lose.
const maxPacerSleep = 10 * time.Millisecond

// wait blocks until message seq's intended send time and returns that time,
// or returns ctx's error if ctx ends first.
func (p *pacer) wait(ctx context.Context, seq uint64) (time.Duration, error) {
	return p.waitUntil(ctx, p.intended(seq))
}

// waitUntil blocks until at, the time since the run's start, and returns
// it, or returns ctx's error if ctx ends first.
func (p *pacer) waitUntil(ctx context.Context, at time.Duration) (time.Duration, error) {
	for {
		left := at - p.now()
		switch {
		case left <= 0:
			return at, nil
		case left > p.spin:
			if err := ctx.Err(); err != nil {
				return at, err
			}
			p.sleep(min(left-p.spin, maxPacerSleep))
		}
	}
}
