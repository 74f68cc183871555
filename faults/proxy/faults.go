package proxy

import (
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

// Direction is one way through the proxy.
type Direction int

const (
	// Upstream is client → target.
	Upstream Direction = iota
	// Downstream is target → client.
	Downstream
)

func (d Direction) String() string {
	switch d {
	case Upstream:
		return "upstream"
	case Downstream:
		return "downstream"
	}
	return fmt.Sprintf("direction(%d)", int(d))
}

// DirFaults are the faults of one direction. The zero value forwards
// untouched.
type DirFaults struct {
	// Latency delays every chunk read; Jitter adds a uniform ±Jitter. Chunks
	// never overtake each other (TCP order is kept).
	Latency time.Duration
	Jitter  time.Duration
	// Delay, when set, adds a sample of a plan's delay distribution, read as
	// real milliseconds.
	Delay faults.Delay
	// BandwidthBps limits throughput to this many bytes per second; 0: no limit.
	BandwidthBps int64
	// SliceSize splits each chunk into writes of SliceSize ± SliceVariation
	// bytes (at least 1), with SliceDelay between them; 0: no slicing.
	SliceSize      int
	SliceVariation int
	SliceDelay     time.Duration
	// ResetProb is the probability that a chunk, instead of being forwarded,
	// resets the connection at both ends (RST).
	ResetProb float64
	// BlackHole reads and discards every byte; the connection stays open.
	BlackHole bool
	// Stall stops forwarding (and reading, so the sender feels
	// backpressure) until it is turned off; nothing is lost.
	Stall bool
}

// Faults are the faults of both directions.
type Faults struct {
	Up   DirFaults
	Down DirFaults
}

// dir returns the faults of d.
func (f *Faults) dir(d Direction) *DirFaults {
	if d == Upstream {
		return &f.Up
	}
	return &f.Down
}

// Validate reports settings the proxy cannot apply.
func (f Faults) Validate() error {
	for _, d := range []Direction{Upstream, Downstream} {
		x := f.dir(d)
		switch {
		case x.Latency < 0 || x.Jitter < 0 || x.SliceDelay < 0:
			return fmt.Errorf("proxy %s faults: negative durations are meaningless: use 0 or more", d)
		case x.BandwidthBps < 0:
			return fmt.Errorf("proxy %s faults: negative bandwidth: use 0 for no limit", d)
		case x.SliceSize < 0 || x.SliceVariation < 0:
			return fmt.Errorf("proxy %s faults: negative slice size: use 0 for no slicing", d)
		case !(x.ResetProb >= 0 && x.ResetProb <= 1):
			return fmt.Errorf("proxy %s faults: reset probability %v is not in [0, 1]", d, x.ResetProb)
		}
		if err := x.Delay.Validate(); err != nil {
			return fmt.Errorf("proxy %s faults: %w", d, err)
		}
	}
	return nil
}
