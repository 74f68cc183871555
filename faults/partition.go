package faults

import "strconv"

// PartitionMode says which directions a partition cuts.
type PartitionMode string

const (
	// Symmetric cuts From→To and To→From.
	Symmetric PartitionMode = "symmetric"
	// OneWay cuts From→To while To→From still flows: the asymmetric partition
	// that livelocks protocols which assume "I can hear you, so you hear me".
	OneWay PartitionMode = "one-way"
)

// Partition cuts the frames between two node sets during [StartMs, EndMs).
// Frames already in flight when it starts are lost when they would cross it.
// A partition ends at EndMs or at the heal time, whichever is first, unless it
// is Forever: then it never heals, and the nodes it isolates are outside the
// liveness core (the driver must not expect them to converge).
type Partition struct {
	Name    string        `json:"name,omitempty"`
	Mode    PartitionMode `json:"mode"`
	From    []string      `json:"from"`
	To      []string      `json:"to"`
	StartMs Millis        `json:"start_ms"`
	EndMs   Millis        `json:"end_ms,omitempty"`
	Forever bool          `json:"forever,omitempty"`
}

// ActiveAt reports whether the partition is in force at now, given the plan's
// heal time.
func (pt Partition) ActiveAt(now, healAt Millis) bool {
	if now < pt.StartMs {
		return false
	}
	if pt.Forever {
		return true
	}
	return now < pt.EndMs && now < healAt
}

// Cuts reports whether a frame from→to is cut by the partition when it is
// active.
func (pt Partition) Cuts(from, to Node) bool {
	if anyMatches(pt.From, from) && anyMatches(pt.To, to) {
		return true
	}
	return pt.Mode == Symmetric && anyMatches(pt.To, from) && anyMatches(pt.From, to)
}

func (pt Partition) validate(p *problems, field string) {
	switch pt.Mode {
	case Symmetric, OneWay:
	default:
		p.addf(field+".mode", "unknown partition mode %q: use symmetric or one-way", pt.Mode)
	}
	if len(pt.From) == 0 {
		p.addf(field+".from", "empty node set: name at least one node")
	}
	if len(pt.To) == 0 {
		p.addf(field+".to", "empty node set: name at least one node")
	}
	for i, s := range pt.From {
		validSelector(p, field+".from["+strconv.Itoa(i)+"]", s)
	}
	for i, s := range pt.To {
		validSelector(p, field+".to["+strconv.Itoa(i)+"]", s)
	}
	p.nonNegative(field+".start_ms", pt.StartMs)
	switch {
	case pt.Forever && pt.EndMs != 0:
		p.addf(field+".end_ms", "a forever partition has no end: remove end_ms or forever")
	case !pt.Forever && pt.EndMs <= pt.StartMs:
		p.addf(field+".end_ms", "%d ms is not after start_ms %d ms: set a later end or \"forever\": true", pt.EndMs, pt.StartMs)
	}
}

// PartitionWeather makes random partitions during the safety phase: each
// starts after an exponential gap of mean MeanGapMs from the end of the
// previous one, lasts a Duration sample, and cuts one randomly chosen client
// from the broker (one-way with probability OneWayProb, in a random
// direction). The driver makes the choices with its seeded PRNG.
type PartitionWeather struct {
	// MeanGapMs is the mean quiet time between random partitions; 0 disables them.
	MeanGapMs  Millis  `json:"mean_gap_ms,omitempty"`
	Duration   Delay   `json:"duration,omitzero"`
	OneWayProb float64 `json:"one_way_probability,omitempty"`
}

// Enabled reports whether random partitions happen.
func (w PartitionWeather) Enabled() bool { return w.MeanGapMs > 0 }

func (w PartitionWeather) validate(p *problems, field string) {
	p.nonNegative(field+".mean_gap_ms", w.MeanGapMs)
	p.probability(field+".one_way_probability", w.OneWayProb)
	w.Duration.validate(p, field+".duration")
	if w.Enabled() && w.Duration.IsNone() {
		p.addf(field+".duration", "random partitions need a duration above 0 ms")
	}
}
