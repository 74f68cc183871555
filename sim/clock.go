package sim

import (
	"strconv"
	"time"
)

// Epoch is virtual time zero. It is fixed (not the wall clock) so that two
// runs of the same seed hand the very same time.Time values to the core and
// the engines, and so traces can print small offsets instead of dates.
var Epoch = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// VTime is virtual time: nanoseconds since Epoch. Integer time keeps event
// ordering exact (no monotonic-clock or location subtleties in comparisons).
type VTime int64

// Time converts virtual time to the time.Time the core and engines take.
func (t VTime) Time() time.Time { return Epoch.Add(time.Duration(t)) }

// Add returns t advanced by d.
func (t VTime) Add(d time.Duration) VTime { return t + VTime(d) }

// Sub returns the duration t-u.
func (t VTime) Sub(u VTime) time.Duration { return time.Duration(t - u) }

// FromTime converts a time.Time handed back by the core or an engine (a
// deadline) into virtual time. Times before Epoch clamp to zero.
func FromTime(tt time.Time) VTime {
	if tt.IsZero() || tt.Before(Epoch) {
		return 0
	}
	return VTime(tt.Sub(Epoch))
}

// String prints virtual time in microseconds with a "t=" prefix, the unit the
// trace uses: fine enough for frame delays, short enough to read.
func (t VTime) String() string { return "t=" + strconv.FormatInt(int64(t)/1000, 10) + "us" }
