package bench

import "time"

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

// wait blocks until message seq's intended send time and returns that time.
func (p *pacer) wait(seq uint64) time.Duration {
	at := p.intended(seq)
	for {
		left := at - p.now()
		switch {
		case left <= 0:
			return at
		case left > p.spin:
			p.sleep(left - p.spin)
		}
	}
}
