//go:build !linux

package bench

import "time"

// lockPacingThread returns time.Sleep, and no spin, where no more precise
// sleep is implemented: spinning would not make up for time.Sleep's
// millisecond overshoot. On Linux it locks the thread and sleeps in
// nanosleep(2) (pacer_linux.go).
func lockPacingThread() (sleep func(time.Duration), spin time.Duration, release func()) {
	return time.Sleep, 0, func() {}
}
