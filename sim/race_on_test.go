//go:build race

package sim

// raceEnabled: the race detector slows the simulator about tenfold, so the
// seed batches shrink under it (the full batches run without -race, and the
// race detector has nothing extra to find in a single-threaded simulator
// beyond the first few seeds).
const raceEnabled = true
