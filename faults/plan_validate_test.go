package faults

import (
	"errors"
	"math"
	"strings"
	"testing"
)

func validPlan() Plan {
	return Plan{Version: PlanVersion, Phases: Phases{HealAtMs: 1000, LivenessBoundMs: 5000}}
}

func TestValidateNamesTheBadField(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*Plan)
		field string
	}{
		{"version", func(p *Plan) { p.Version = 7 }, "version"},
		{"drop above 1", func(p *Plan) { p.Links.Default = LinkFaults{Mode: LinkDatagram, Drop: 1.5} }, "links.default.drop"},
		{"NaN duplicate", func(p *Plan) { p.Links.Default = LinkFaults{Mode: LinkDatagram, Duplicate: math.NaN()} }, "links.default.duplicate"},
		{"drop on tcp", func(p *Plan) { p.Links.Default.Drop = 0.1 }, "links.default.drop"},
		{"reorder on tcp", func(p *Plan) { p.Links.BrokerReceiver = &LinkFaults{Mode: LinkTCP, Reorder: 0.1, ReorderWindowMs: 5} }, "links.broker_receiver.reorder"},
		{"reorder without window", func(p *Plan) { p.Links.Default = LinkFaults{Mode: LinkDatagram, Reorder: 0.1} }, "links.default.reorder_window_ms"},
		{"unknown mode", func(p *Plan) { p.Links.Default.Mode = "udp" }, "links.default.mode"},
		{"negative disconnect time", func(p *Plan) { p.Links.Default.DisconnectAtMs = []Millis{5, -1} }, "links.default.disconnect_at_ms[1]"},
		{"bad per-node selector", func(p *Plan) { p.Links.PerNode = []NodeLink{{Node: "role:admin"}} }, "links.per_node[0].node"},
		{"empty per-node selector", func(p *Plan) { p.Links.PerNode = []NodeLink{{Node: ""}} }, "links.per_node[0].node"},
		{"bad selector index", func(p *Plan) { p.Links.PerNode = []NodeLink{{Node: "role:receiver#x"}} }, "links.per_node[0].node"},
		{"unknown delay", func(p *Plan) { p.Links.Default.Delay = Delay{Dist: "pareto"} }, "links.default.delay.dist"},
		{"uniform upside down", func(p *Plan) { p.Links.Default.Delay = Uniform(10, 5) }, "links.default.delay.max_ms"},
		{"constant with mean", func(p *Plan) { p.Links.Default.Delay = Delay{Dist: DelayConstant, Ms: 3, MeanMs: 4} }, "links.default.delay.mean_ms"},
		{"params without dist", func(p *Plan) { p.Links.Default.Delay = Delay{Ms: 3} }, "links.default.delay"},
		{"exponential without mean", func(p *Plan) { p.Links.Default.Delay = Delay{Dist: DelayExponential} }, "links.default.delay.mean_ms"},
		{"lognormal sigma", func(p *Plan) { p.Links.Default.Delay = LogNormal(5, 9, 0) }, "links.default.delay.sigma"},
		{"negative constant", func(p *Plan) { p.Links.Default.Delay = Constant(-4) }, "links.default.delay.ms"},
		{"partition mode", func(p *Plan) {
			p.Partitions = []Partition{{Mode: "sideways", From: []string{"a"}, To: []string{"b"}, EndMs: 5}}
		}, "partitions[0].mode"},
		{"partition empty set", func(p *Plan) {
			p.Partitions = []Partition{{Mode: Symmetric, From: []string{"a"}, EndMs: 5}}
		}, "partitions[0].to"},
		{"partition ends before start", func(p *Plan) {
			p.Partitions = []Partition{{Mode: OneWay, From: []string{"a"}, To: []string{"b"}, StartMs: 9, EndMs: 5}}
		}, "partitions[0].end_ms"},
		{"forever with end", func(p *Plan) {
			p.Partitions = []Partition{{Mode: OneWay, From: []string{"a"}, To: []string{"b"}, EndMs: 5, Forever: true}}
		}, "partitions[0].end_ms"},
		{"random partitions without duration", func(p *Plan) { p.RandomPartitions.MeanGapMs = 100 }, "random_partitions.duration"},
		{"random partitions one-way p", func(p *Plan) {
			p.RandomPartitions = PartitionWeather{MeanGapMs: 100, Duration: Constant(5), OneWayProb: 2}
		}, "random_partitions.one_way_probability"},
		{"negative uptime", func(p *Plan) { p.Crashes.Broker.MeanUptimeMs = -1 }, "crashes.broker.mean_uptime_ms"},
		{"scheduled crash without downtime", func(p *Plan) {
			p.Crashes.Schedule = []ScheduledCrash{{Node: "broker", AtMs: 5}}
		}, "crashes.schedule[0].downtime_ms"},
		{"fsync crash p", func(p *Plan) { p.Disk.FsyncCrash = -0.1 }, "disk.fsync_crash"},
		{"no heal", func(p *Plan) { p.Phases.HealAtMs = 0 }, "phases.heal_at_ms"},
		{"no liveness bound", func(p *Plan) { p.Phases.LivenessBoundMs = 0 }, "phases.liveness_bound_ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl := validPlan()
			tc.edit(&pl)
			err := pl.Validate()
			if !errors.Is(err, ErrInvalidPlan) {
				t.Fatalf("err = %v, want ErrInvalidPlan", err)
			}
			if !strings.Contains(err.Error(), tc.field+":") {
				t.Fatalf("error %q does not name field %q", err, tc.field)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	pl := validPlan()
	pl.Links.Default = LinkFaults{Mode: LinkDatagram, Drop: 2, Duplicate: -1}
	pl.Phases.HealAtMs = 0
	err := pl.Validate()
	for _, field := range []string{"links.default.drop", "links.default.duplicate", "phases.heal_at_ms"} {
		if !strings.Contains(err.Error(), field) {
			t.Errorf("error %q misses %s", err, field)
		}
	}
}

func TestValidPlansPass(t *testing.T) {
	pl := validPlan()
	if err := pl.Validate(); err != nil {
		t.Fatalf("minimal plan: %v", err)
	}
	pl.Links.Default = LinkFaults{Mode: LinkDatagram, Drop: 1, Duplicate: 0, Reorder: 0.3, ReorderWindowMs: 10,
		Delay: Exponential(5, 0), Disconnect: 0.5, DisconnectAtMs: []Millis{0}}
	pl.Partitions = []Partition{{Mode: OneWay, From: []string{"*"}, To: []string{"role:receiver#0"}, Forever: true}}
	if err := pl.Validate(); err != nil {
		t.Fatalf("full plan: %v", err)
	}
}

func TestCalmPlanIsValidAndQuiet(t *testing.T) {
	pl := Calm(1000, 2000)
	if err := pl.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(pl.Enabled()) != 0 {
		t.Fatalf("calm plan has faults %v", pl.Enabled())
	}
	data, _ := pl.Marshal()
	if strings.Contains(string(data), "downtime") || strings.Contains(string(data), "crashes") {
		t.Errorf("calm plan file carries empty sections:\n%s", data)
	}
}

func TestDelayValidate(t *testing.T) {
	if err := Uniform(5, 1).Validate(); !errors.Is(err, ErrInvalidPlan) || !strings.Contains(err.Error(), "delay.max_ms") {
		t.Fatalf("upside-down uniform: %v", err)
	}
	if err := LogNormal(5, 1, 100).Validate(); err != nil {
		t.Fatalf("valid lognormal: %v", err)
	}
}
