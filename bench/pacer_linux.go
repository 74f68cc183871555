package bench

import (
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// pacingTimerSlack is the timer slack of the pacing thread. Linux lets a
// sleeping thread wake up to its timer slack late (50 µs by default) so it
// can batch wake-ups; the pacer wants its wake-ups on time.
const pacingTimerSlack = 1000 // nanoseconds

// pacingSpin is the end of each wait spent spinning on the clock instead of
// sleeping (pacer.spin): it took the send lag's p50 from about 25 µs to
// about 2 µs without a visible rise in CPU (docs/performance.md, "Latency").
const pacingSpin = 20 * time.Microsecond

// lockPacingThread prepares the calling goroutine for precise sleeps and
// returns the sleep to use, how long to spin at the end of each wait, and a
// release to call when the goroutine stops pacing.
//
// time.Sleep is useless for pacing at sub-millisecond intervals here: when
// nothing else is runnable, the Go runtime waits for its timers in
// epoll_pwait, whose timeout is in whole milliseconds, so a 200 µs sleep
// lasts about 1 ms. Instead the goroutine locks its OS thread, lowers that
// thread's timer slack to 1 µs, and sleeps in nanosleep(2), which blocks
// only this thread (the runtime hands its P to other goroutines while it
// sleeps). release restores the thread's timer slack before unlocking it,
// so no other goroutine inherits it.
func lockPacingThread() (sleep func(time.Duration), spin time.Duration, release func()) {
	runtime.LockOSThread()
	old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0)
	lowered := err == nil && unix.Prctl(unix.PR_SET_TIMERSLACK, pacingTimerSlack, 0, 0, 0) == nil
	sleep = func(d time.Duration) {
		ts := unix.NsecToTimespec(int64(d))
		// EINTR (the runtime's preemption signal) returns early; the pacer
		// sleeps again for what is left.
		_ = unix.Nanosleep(&ts, nil)
	}
	release = func() {
		if lowered {
			_ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0)
		}
		runtime.UnlockOSThread()
	}
	return sleep, pacingSpin, release
}
