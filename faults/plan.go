package faults

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// PlanVersion is the plan file format this package reads and writes.
const PlanVersion = 1

// Phases split a run into its safety and liveness phases.
type Phases struct {
	// HealAtMs ends the safety phase: every fault stops, partitions heal
	// (except Forever ones), crashed nodes restart.
	HealAtMs Millis `json:"heal_at_ms"`
	// LivenessBoundMs is how much virtual time after HealAtMs the system has
	// to process every confirmed message and resolve every pending publish.
	LivenessBoundMs Millis `json:"liveness_bound_ms"`
}

// LivenessDeadline is the virtual time by which the run must have converged.
func (ph Phases) LivenessDeadline() Millis { return ph.HealAtMs + ph.LivenessBoundMs }

// Plan is everything that goes wrong in one run. The zero Plan (with phases
// set) is a perfect network.
type Plan struct {
	Version          int              `json:"version"`
	Name             string           `json:"name,omitempty"`
	Links            Links            `json:"links"`
	Partitions       []Partition      `json:"partitions,omitempty"`
	RandomPartitions PartitionWeather `json:"random_partitions,omitzero"`
	Crashes          Crashes          `json:"crashes,omitzero"`
	Disk             Disk             `json:"disk,omitzero"`
	Phases           Phases           `json:"phases"`
}

// Calm is a plan without faults: the baseline of scenario tests, and the
// start of hand-built plans.
func Calm(healAtMs, livenessBoundMs Millis) Plan {
	return Plan{Version: PlanVersion, Name: "calm", Phases: Phases{HealAtMs: healAtMs, LivenessBoundMs: livenessBoundMs}}
}

// Validate reports every problem of the plan, each wrapping ErrInvalidPlan
// and naming the field (for example "links.default.drop").
func (pl Plan) Validate() error {
	var p problems
	if pl.Version != PlanVersion {
		p.addf("version", "version %d is not supported: this build reads version %d", pl.Version, PlanVersion)
	}
	pl.Links.validate(&p, "links")
	for i, pt := range pl.Partitions {
		pt.validate(&p, "partitions["+strconv.Itoa(i)+"]")
	}
	pl.RandomPartitions.validate(&p, "random_partitions")
	pl.Crashes.validate(&p, "crashes")
	pl.Disk.validate(&p, "disk")
	if pl.Phases.HealAtMs <= 0 {
		p.addf("phases.heal_at_ms", "the safety phase must last more than 0 ms: set heal_at_ms")
	}
	if pl.Phases.LivenessBoundMs <= 0 {
		p.addf("phases.liveness_bound_ms", "the liveness phase must last more than 0 ms: set liveness_bound_ms")
	}
	return p.err()
}

// LinkFor returns the faults of the link between client and the broker.
func (pl Plan) LinkFor(client Node) LinkFaults { return pl.Links.For(client) }

// Cut reports whether a frame from→to sent at now is cut by a scheduled
// partition. Random partitions (RandomPartitions) are the driver's to track.
func (pl Plan) Cut(from, to Node, now Millis) bool {
	for _, pt := range pl.Partitions {
		if pt.ActiveAt(now, pl.Phases.HealAtMs) && pt.Cuts(from, to) {
			return true
		}
	}
	return false
}

// Healed reports whether now is in the liveness phase.
func (pl Plan) Healed(now Millis) bool { return now >= pl.Phases.HealAtMs }

// OutsideCore reports whether a forever partition cuts n from anything, in
// which case n is not expected to converge in the liveness phase.
func (pl Plan) OutsideCore(n Node) bool {
	for _, pt := range pl.Partitions {
		if !pt.Forever {
			continue
		}
		// The broker is the hub, so a forever partition isolates its client
		// side; a selector that picks the broker isolates nothing by itself.
		if n.Role != RoleBroker && (anyMatches(pt.From, n) || anyMatches(pt.To, n)) {
			return true
		}
	}
	return false
}

// Enabled lists the kinds of fault the plan turns on, in a fixed order
// ("drop", "duplicate", "reorder", "delay", "disconnect", "datagram",
// "partition", "forever-partition", "random-partition", "publisher-crash",
// "receiver-crash", "broker-crash", "scheduled-crash", "fsync-crash").
// Swarm tests and run logs use it to say what weather a seed had.
func (pl Plan) Enabled() []string {
	links := []LinkFaults{pl.Links.Default}
	if pl.Links.PublisherBroker != nil {
		links = append(links, *pl.Links.PublisherBroker)
	}
	if pl.Links.BrokerReceiver != nil {
		links = append(links, *pl.Links.BrokerReceiver)
	}
	for _, nl := range pl.Links.PerNode {
		links = append(links, nl.Faults)
	}
	anyLink := func(f func(LinkFaults) bool) bool {
		for _, l := range links {
			if f(l) {
				return true
			}
		}
		return false
	}
	var on []string
	add := func(name string, cond bool) {
		if cond {
			on = append(on, name)
		}
	}
	add("drop", anyLink(func(l LinkFaults) bool { return l.Drop > 0 }))
	add("duplicate", anyLink(func(l LinkFaults) bool { return l.Duplicate > 0 }))
	add("reorder", anyLink(func(l LinkFaults) bool { return l.Reorder > 0 }))
	add("delay", anyLink(func(l LinkFaults) bool { return !l.Delay.IsNone() }))
	add("disconnect", anyLink(func(l LinkFaults) bool { return l.Disconnect > 0 || len(l.DisconnectAtMs) > 0 }))
	add("datagram", anyLink(func(l LinkFaults) bool { return l.ModeOrDefault() == LinkDatagram }))
	forever := false
	for _, pt := range pl.Partitions {
		forever = forever || pt.Forever
	}
	add("partition", len(pl.Partitions) > 0)
	add("forever-partition", forever)
	add("random-partition", pl.RandomPartitions.Enabled())
	add("publisher-crash", pl.Crashes.Publishers.Enabled())
	add("receiver-crash", pl.Crashes.Receivers.Enabled())
	add("broker-crash", pl.Crashes.Broker.Enabled())
	add("scheduled-crash", len(pl.Crashes.Schedule) > 0)
	add("fsync-crash", pl.Disk.FsyncCrash > 0)
	return on
}

// String is a one-line summary for logs.
func (pl Plan) String() string {
	name := pl.Name
	if name == "" {
		name = "plan"
	}
	on := pl.Enabled()
	if len(on) == 0 {
		on = []string{"no faults"}
	}
	return fmt.Sprintf("%s [%s] heal@%dms liveness+%dms", name, strings.Join(on, " "),
		pl.Phases.HealAtMs, pl.Phases.LivenessBoundMs)
}

// MaxPlanSize bounds a plan file. Real plans are a few kilobytes; the bound
// keeps a wrong path (a log, a core dump) from being read into memory.
const MaxPlanSize = 1 << 20

// Parse reads a plan from JSON and validates it. Unknown fields are an error,
// so a misspelt fault never silently does nothing.
func Parse(data []byte) (Plan, error) {
	if len(data) > MaxPlanSize {
		return Plan{}, fmt.Errorf("%w: %d bytes is above the %d-byte limit for a plan file: is this the right file?", ErrInvalidPlan, len(data), MaxPlanSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var pl Plan
	if err := dec.Decode(&pl); err != nil {
		return Plan{}, fmt.Errorf("%w: not a plan file (see docs/faults.md): %w", ErrInvalidPlan, err)
	}
	if dec.More() {
		return Plan{}, fmt.Errorf("%w: trailing data after the plan object: one plan per file", ErrInvalidPlan)
	}
	if err := pl.Validate(); err != nil {
		return Plan{}, err
	}
	return pl, nil
}

// Load reads and validates a plan file.
func Load(path string) (Plan, error) {
	f, err := os.Open(path)
	if err != nil {
		return Plan{}, fmt.Errorf("read fault plan: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxPlanSize+1))
	if err != nil {
		return Plan{}, fmt.Errorf("read fault plan %s: %w", path, err)
	}
	pl, err := Parse(data)
	if err != nil {
		return Plan{}, fmt.Errorf("fault plan %s: %w", path, err)
	}
	return pl, nil
}

// Marshal writes a plan as indented JSON. It refuses an invalid plan, so
// every file it writes can be read back.
func (pl Plan) Marshal() ([]byte, error) {
	if err := pl.Validate(); err != nil {
		return nil, err
	}
	data, err := json.MarshalIndent(pl, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode fault plan: %w", err)
	}
	return append(data, '\n'), nil
}

// Save writes a plan file (mode 0644: plans are not secret).
func (pl Plan) Save(path string) error {
	data, err := pl.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return fmt.Errorf("write fault plan: %w", err)
	}
	return nil
}
