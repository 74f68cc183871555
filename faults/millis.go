package faults

import "time"

// Millis is a span or an instant of virtual time in milliseconds since the
// start of a run. Plans use whole milliseconds because they are written by
// hand; the simulator converts with Duration.
type Millis int64

// Duration converts m to a time.Duration.
func (m Millis) Duration() time.Duration { return time.Duration(m) * time.Millisecond }

// MillisOf converts a duration to Millis, truncating below a millisecond.
func MillisOf(d time.Duration) Millis { return Millis(d / time.Millisecond) }
