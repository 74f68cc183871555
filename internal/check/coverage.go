package check

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
)

// Names of the "sometimes" events a swarm batch should reach. A batch in
// which one of them never happened did not exercise the code behind it.
const (
	SometimesRedelivery     = "redelivery"
	SometimesDedupHit       = "dedup-hit"
	SometimesStaleAck       = "stale-ack-refused"
	SometimesResend         = "reconnect-with-resends"
	SometimesDeadLetter     = "dead-letter"
	SometimesFsyncCrash     = "crash-during-fsync"
	SometimesBrokerDedupHit = "broker-dedup-hit"
)

// StandardSometimes lists the events every swarm batch should reach.
func StandardSometimes() []string {
	return []string{SometimesRedelivery, SometimesDedupHit, SometimesStaleAck, SometimesResend,
		SometimesDeadLetter, SometimesFsyncCrash}
}

// Coverage counts named events across a batch of seeds (Antithesis's
// "sometimes" assertions, TigerBeetle's coverage marks). It is safe for
// concurrent use, so seeds may run in parallel.
type Coverage struct {
	mu       sync.Mutex
	expected []string
	counts   map[string]uint64
	order    []string // every name in first-seen order, expected ones first
}

// NewCoverage returns a counter that expects each of names at least once.
func NewCoverage(names ...string) *Coverage {
	c := &Coverage{counts: map[string]uint64{}}
	for _, n := range names {
		if !slices.Contains(c.expected, n) {
			c.expected = append(c.expected, n)
			c.order = append(c.order, n)
		}
	}
	return c
}

// Hit counts one occurrence of name. Names not expected are counted too
// (and shown) but never missing.
func (c *Coverage) Hit(name string) { c.Add(name, 1) }

// Add counts n occurrences of name.
func (c *Coverage) Add(name string, n uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.counts[name]; !ok && !slices.Contains(c.order, name) {
		c.order = append(c.order, name)
	}
	c.counts[name] += n
}

// Merge adds every count of o (for example one seed's counter) to c.
func (c *Coverage) Merge(o *Coverage) {
	o.mu.Lock()
	names := slices.Clone(o.order)
	counts := make([]uint64, len(names))
	for i, n := range names {
		counts[i] = o.counts[n]
	}
	o.mu.Unlock()
	for i, n := range names {
		c.Add(n, counts[i])
	}
}

// Count returns how often name was hit.
func (c *Coverage) Count(name string) uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[name]
}

// Missing lists the expected names never hit, in the order given to
// NewCoverage.
func (c *Coverage) Missing() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.expected {
		if c.counts[n] == 0 {
			out = append(out, n)
		}
	}
	return out
}

// Err returns nil when every expected event happened, or an error naming
// the missing ones.
func (c *Coverage) Err() error {
	if m := c.Missing(); len(m) > 0 {
		return fmt.Errorf("coverage: never reached %s: the batch did not exercise these paths; run more seeds or strengthen the fault plans", strings.Join(m, ", "))
	}
	return nil
}

// String lists every counter as name=count.
func (c *Coverage) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	parts := make([]string, len(c.order))
	for i, n := range c.order {
		parts[i] = fmt.Sprintf("%s=%d", n, c.counts[n])
	}
	return strings.Join(parts, " ")
}

// MarshalJSON writes {"expected": [...], "counts": {...}}.
func (c *Coverage) MarshalJSON() ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := make(map[string]uint64, len(c.order))
	for _, n := range c.order {
		counts[n] = c.counts[n]
	}
	return json.Marshal(struct {
		Expected []string          `json:"expected"`
		Counts   map[string]uint64 `json:"counts"`
	}{c.expected, counts})
}

// Observe counts what a history shows by itself: processed redeliveries
// (SometimesRedelivery) and publishes confirmed as duplicates by the broker
// (SometimesBrokerDedupHit). Everything else is known only to the engines
// and the simulator, which call Hit.
func (c *Coverage) Observe(h History) {
	for _, e := range h.Events {
		switch {
		case e.Kind == KindProcessed && e.Redelivered:
			c.Hit(SometimesRedelivery)
		case e.Kind == KindOutcome && e.Outcome == OutcomeConfirmedDuplicate:
			c.Hit(SometimesBrokerDedupHit)
		}
	}
}
