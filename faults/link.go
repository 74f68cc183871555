package faults

import "strconv"

// LinkMode says how a link fails.
type LinkMode string

const (
	// LinkTCP (the default) behaves like a TCP connection: frames arrive in
	// order and exactly once until the connection breaks; whatever was in
	// flight when it broke is lost, and both ends see it close. Only delay and
	// disconnects apply; drop, duplicate and reorder must be 0.
	LinkTCP LinkMode = "tcp"
	// LinkDatagram drops, duplicates and reorders frames one by one, as a
	// lossy datagram network (or a badly broken middlebox) would.
	LinkDatagram LinkMode = "datagram"
)

// LinkClass names the links of one kind in the star topology.
type LinkClass string

const (
	ClassPublisherBroker LinkClass = "publisher-broker"
	ClassBrokerReceiver  LinkClass = "broker-receiver"
)

// LinkFaults are the faults of one link, in both directions. Probabilities
// apply to each frame independently; Drop, Duplicate and Reorder only to
// datagram links.
type LinkFaults struct {
	Mode LinkMode `json:"mode,omitempty"`
	// Drop is the probability a frame is lost.
	Drop float64 `json:"drop,omitempty"`
	// Duplicate is the probability a frame is delivered twice (the copy gets
	// its own delay).
	Duplicate float64 `json:"duplicate,omitempty"`
	// Reorder is the probability a frame is held back and delivered after
	// frames sent later (it gets an extra delay of up to ReorderWindowMs).
	Reorder         float64 `json:"reorder,omitempty"`
	ReorderWindowMs Millis  `json:"reorder_window_ms,omitempty"`
	// Delay is added to every frame. On a tcp link delays never reorder:
	// a frame leaves no earlier than the one before it.
	Delay Delay `json:"delay,omitzero"`
	// Disconnect is the probability that sending a frame breaks the
	// connection instead (both ends see it close; in-flight frames are lost).
	Disconnect float64 `json:"disconnect,omitempty"`
	// DisconnectAtMs breaks the connection at these virtual times.
	DisconnectAtMs []Millis `json:"disconnect_at_ms,omitempty"`
}

// ModeOrDefault returns Mode, or LinkTCP when it is empty.
func (f LinkFaults) ModeOrDefault() LinkMode {
	if f.Mode == "" {
		return LinkTCP
	}
	return f.Mode
}

// IsPerfect reports whether the link never misbehaves.
func (f LinkFaults) IsPerfect() bool {
	return f.Drop == 0 && f.Duplicate == 0 && f.Reorder == 0 && f.Delay.IsNone() &&
		f.Disconnect == 0 && len(f.DisconnectAtMs) == 0
}

func (f LinkFaults) validate(p *problems, field string) {
	switch f.Mode {
	case "", LinkTCP:
		for _, c := range []struct {
			name string
			v    float64
		}{{"drop", f.Drop}, {"duplicate", f.Duplicate}, {"reorder", f.Reorder}} {
			if c.v != 0 {
				p.addf(field+"."+c.name, "a tcp link never loses, duplicates or reorders single frames: set mode to \"datagram\" or use disconnect")
			}
		}
		if f.ReorderWindowMs != 0 {
			p.addf(field+".reorder_window_ms", "a tcp link never reorders: remove it or set mode to \"datagram\"")
		}
	case LinkDatagram:
	default:
		p.addf(field+".mode", "unknown link mode %q: use tcp or datagram", f.Mode)
	}
	p.probability(field+".drop", f.Drop)
	p.probability(field+".duplicate", f.Duplicate)
	p.probability(field+".reorder", f.Reorder)
	p.probability(field+".disconnect", f.Disconnect)
	p.nonNegative(field+".reorder_window_ms", f.ReorderWindowMs)
	if f.Reorder > 0 && f.ReorderWindowMs <= 0 {
		p.addf(field+".reorder_window_ms", "reorder needs a window above 0 ms to hold frames back for")
	}
	f.Delay.validate(p, field+".delay")
	for i, at := range f.DisconnectAtMs {
		p.nonNegative(field+".disconnect_at_ms["+strconv.Itoa(i)+"]", at)
	}
}

// NodeLink overrides the faults of the link of the client nodes picked by
// Node (a selector, see Node).
type NodeLink struct {
	Node   string     `json:"node"`
	Faults LinkFaults `json:"faults"`
}

// Links are the link faults of a run. The most specific setting wins: the
// first PerNode entry that matches the client end, then the class setting,
// then Default.
type Links struct {
	Default         LinkFaults  `json:"default,omitzero"`
	PublisherBroker *LinkFaults `json:"publisher_broker,omitempty"`
	BrokerReceiver  *LinkFaults `json:"broker_receiver,omitempty"`
	PerNode         []NodeLink  `json:"per_node,omitempty"`
}

// For returns the faults of the link between client and the broker.
func (l Links) For(client Node) LinkFaults {
	for _, nl := range l.PerNode {
		if Matches(nl.Node, client) {
			return nl.Faults
		}
	}
	switch client.Role {
	case RolePublisher:
		if l.PublisherBroker != nil {
			return *l.PublisherBroker
		}
	case RoleReceiver:
		if l.BrokerReceiver != nil {
			return *l.BrokerReceiver
		}
	}
	return l.Default
}

// ForClass returns the faults of a link class, ignoring per-node overrides.
func (l Links) ForClass(c LinkClass) LinkFaults {
	switch c {
	case ClassPublisherBroker:
		if l.PublisherBroker != nil {
			return *l.PublisherBroker
		}
	case ClassBrokerReceiver:
		if l.BrokerReceiver != nil {
			return *l.BrokerReceiver
		}
	}
	return l.Default
}

func (l Links) validate(p *problems, field string) {
	l.Default.validate(p, field+".default")
	if l.PublisherBroker != nil {
		l.PublisherBroker.validate(p, field+".publisher_broker")
	}
	if l.BrokerReceiver != nil {
		l.BrokerReceiver.validate(p, field+".broker_receiver")
	}
	for i, nl := range l.PerNode {
		f := field + ".per_node[" + strconv.Itoa(i) + "]"
		validSelector(p, f+".node", nl.Node)
		nl.Faults.validate(p, f+".faults")
	}
}
