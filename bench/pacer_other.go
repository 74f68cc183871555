//go:build !linux

package bench

import "time"

// lockPacingThread returns time.Sleep where no more precise sleep is
// implemented; on Linux it locks the thread and sleeps in nanosleep(2)
// (pacer_linux.go).
func lockPacingThread() (sleep func(time.Duration), release func()) {
	return time.Sleep, func() {}
}
