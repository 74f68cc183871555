package bench

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

// fakeClock is a pacer's clock and sleep: sleeping advances time by the
// slept duration plus an overshoot, and every sleep is recorded.
type fakeClock struct {
	t         time.Duration
	overshoot time.Duration
	short     time.Duration // when set, every sleep ends this much early (a signal)
	slept     []time.Duration
}

func (c *fakeClock) now() time.Duration { return c.t }

func (c *fakeClock) sleep(d time.Duration) {
	c.slept = append(c.slept, d)
	if c.short > 0 && d > c.short {
		c.t += d - c.short
		return
	}
	c.t += d + c.overshoot
}

func (c *fakeClock) pacer(offset, interval time.Duration) *pacer {
	return &pacer{offset: offset, interval: interval, now: c.now, sleep: c.sleep}
}

// waitFor is p.wait for a run that is never cancelled.
func waitFor(p *pacer, seq uint64) time.Duration {
	at, err := p.wait(context.Background(), seq)
	if err != nil {
		panic(err) // context.Background is never cancelled
	}
	return at
}

func TestPacerIntendedTimesFollowTheSchedule(t *testing.T) {
	var c fakeClock
	p := c.pacer(50*time.Microsecond, 200*time.Microsecond)
	var got []time.Duration
	for seq := range uint64(4) {
		got = append(got, p.intended(seq))
	}
	want := []time.Duration{50 * time.Microsecond, 250 * time.Microsecond, 450 * time.Microsecond, 650 * time.Microsecond}
	if !slices.Equal(got, want) {
		t.Fatalf("intended times %v, want %v", got, want)
	}
}

func TestPacerSleepsUntilTheIntendedTime(t *testing.T) {
	c := fakeClock{t: 30 * time.Microsecond}
	p := c.pacer(0, 200*time.Microsecond)
	if at := waitFor(p, 1); at != 200*time.Microsecond || c.t != 200*time.Microsecond {
		t.Fatalf("wait(1) returned %v at %v, want 200µs at 200µs", at, c.t)
	}
	if !slices.Equal(c.slept, []time.Duration{170 * time.Microsecond}) {
		t.Fatalf("slept %v, want one sleep of the 170µs left", c.slept)
	}
}

// A sleep cut short (EINTR) is followed by another for what is left.
func TestPacerSleepsAgainAfterAnEarlyWakeUp(t *testing.T) {
	c := fakeClock{short: 40 * time.Microsecond}
	p := c.pacer(0, 100*time.Microsecond)
	waitFor(p, 1)
	if c.t < 100*time.Microsecond {
		t.Fatalf("wait returned at %v, before the intended 100µs", c.t)
	}
	if len(c.slept) < 2 || c.slept[0] != 100*time.Microsecond || c.slept[1] != 40*time.Microsecond {
		t.Fatalf("slept %v, want 100µs then the 40µs left", c.slept)
	}
}

// Behind schedule the pacer neither sleeps nor skips: each late message
// keeps its own intended time, so it is charged its whole delay, and the
// publisher catches up by sending back to back.
func TestPacerCatchesUpWithoutSleepingOrSkipping(t *testing.T) {
	c := fakeClock{t: 1000 * time.Microsecond} // stalled: 5 intervals late
	p := c.pacer(0, 200*time.Microsecond)
	var got []time.Duration
	for seq := range uint64(5) {
		got = append(got, waitFor(p, seq))
	}
	want := []time.Duration{0, 200 * time.Microsecond, 400 * time.Microsecond, 600 * time.Microsecond, 800 * time.Microsecond}
	if !slices.Equal(got, want) {
		t.Fatalf("intended times while behind %v, want every one of %v", got, want)
	}
	if len(c.slept) != 0 {
		t.Fatalf("slept %v while behind schedule", c.slept)
	}
	// Message 5 is due right now; message 6 is ahead and waits again.
	waitFor(p, 5)
	if at := waitFor(p, 6); at != 1200*time.Microsecond || !slices.Equal(c.slept, []time.Duration{200 * time.Microsecond}) {
		t.Fatalf("back on schedule: wait(6) = %v after sleeps %v; want 1200µs after one sleep of 200µs", at, c.slept)
	}
}

// With a spin, the pacer sleeps all but the spin and polls the clock for
// the rest; a wait shorter than the spin never sleeps.
func TestPacerSpinsTheEndOfEachWait(t *testing.T) {
	var c fakeClock
	ticks := 0
	p := c.pacer(0, 100*time.Microsecond)
	p.spin = 20 * time.Microsecond
	p.now = func() time.Duration {
		ticks++
		c.t += time.Microsecond // each clock read takes a while
		return c.t
	}
	if at := waitFor(p, 1); at != 100*time.Microsecond || c.t < at {
		t.Fatalf("wait(1) returned %v at %v", at, c.t)
	}
	if len(c.slept) != 1 || c.slept[0] != 79*time.Microsecond {
		t.Fatalf("slept %v, want one sleep of 99µs left minus the 20µs spin", c.slept)
	}
	if ticks < 10 {
		t.Fatalf("%d clock reads: the last 20µs were not spun", ticks)
	}
	c.slept, c.t = nil, 185*time.Microsecond
	waitFor(p, 2)
	if len(c.slept) != 0 {
		t.Fatalf("slept %v for a wait of 15µs, inside the spin", c.slept)
	}
}

// An overshooting sleep makes the next message late; the one after is on
// time again, because intended times do not drift with the lateness.
func TestPacerDoesNotDriftAfterAnOvershoot(t *testing.T) {
	c := fakeClock{overshoot: 300 * time.Microsecond}
	p := c.pacer(0, 200*time.Microsecond)
	waitFor(p, 1) // sleeps 200µs, wakes at 500µs
	if c.t != 500*time.Microsecond {
		t.Fatalf("now %v, want 500µs", c.t)
	}
	if at := waitFor(p, 2); at != 400*time.Microsecond || len(c.slept) != 1 {
		t.Fatalf("wait(2) = %v after %d sleeps; want 400µs without sleeping", at, len(c.slept))
	}
	c.overshoot = 0
	if at := waitFor(p, 3); at != 600*time.Microsecond || c.t != 600*time.Microsecond {
		t.Fatalf("wait(3) = %v at %v; want 600µs at 600µs", at, c.t)
	}
}

// The platform's pacing sleep really sleeps (no timing asserted beyond
// "not before it was asked to end"), and release can be called.
func TestLockPacingThreadSleeps(t *testing.T) {
	sleep, spin, release := lockPacingThread()
	defer release()
	start := time.Now()
	p := pacer{interval: time.Millisecond, now: func() time.Duration { return time.Since(start) }, sleep: sleep, spin: spin}
	for seq := range uint64(3) {
		at := waitFor(&p, seq)
		if el := time.Since(start); el < at {
			t.Fatalf("wait(%d) returned at %v, before its intended %v", seq, el, at)
		}
	}
}

// A message due far ahead is waited for in bounded sleeps, and a run
// cancelled meanwhile ends the wait at the next one with ctx's error.
func TestPacerLongWaitSleepsInSlicesAndStopsWhenCancelled(t *testing.T) {
	var c fakeClock
	p := c.pacer(0, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	sleep := p.sleep
	p.sleep = func(d time.Duration) {
		sleep(d)
		if len(c.slept) == 3 {
			cancel()
		}
	}
	at, err := p.wait(ctx, 1)
	if !errors.Is(err, context.Canceled) || at != time.Hour {
		t.Fatalf("wait cancelled during its sleeps = %v, %v; want 1h, context.Canceled", at, err)
	}
	if len(c.slept) != 3 || slices.Max(c.slept) > maxPacerSleep {
		t.Fatalf("slept %v; want 3 sleeps of at most %v, the last one noticing the cancel", c.slept, maxPacerSleep)
	}
}
