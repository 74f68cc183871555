//go:build race

package sim

import "flag"

// raceEnabled: the race detector slows the simulator about tenfold, so the
// seed batches shrink under it (the full batches run without -race, and the
// race detector has nothing extra to find in a single-threaded simulator
// beyond the first few seeds).
const raceEnabled = true

func init() {
	// Same reason for the rapid property: ten plans instead of a hundred,
	// unless -rapid.checks is given on the command line.
	_ = flag.Set("rapid.checks", "10")
}
