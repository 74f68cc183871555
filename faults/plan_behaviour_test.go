package faults

import (
	"math/rand/v2"
	"testing"
)

var (
	broker = Node{Name: "broker", Role: RoleBroker}
	pub0   = Node{Name: "pub-a", Role: RolePublisher, Index: 0}
	pub1   = Node{Name: "pub-b", Role: RolePublisher, Index: 1}
	recv0  = Node{Name: "recv-a", Role: RoleReceiver, Index: 0}
)

func TestSelectors(t *testing.T) {
	cases := []struct {
		sel  string
		node Node
		want bool
	}{
		{"*", broker, true},
		{"broker", broker, true},
		{"broker", pub0, false},
		{"role:publisher", pub1, true},
		{"role:publisher", recv0, false},
		{"role:publisher#1", pub1, true},
		{"role:publisher#1", pub0, false},
		{"role:receiver#0", recv0, true},
		{"role:receiver#zero", recv0, false},
		{"pub-a", pub0, true},
	}
	for _, c := range cases {
		if got := Matches(c.sel, c.node); got != c.want {
			t.Errorf("selector %q on %+v = %v, want %v", c.sel, c.node, got, c.want)
		}
	}
}

func TestLinksMostSpecificWins(t *testing.T) {
	pb := LinkFaults{Disconnect: 0.2}
	l := Links{
		Default:         LinkFaults{Disconnect: 0.1},
		PublisherBroker: &pb,
		PerNode:         []NodeLink{{Node: "role:publisher#1", Faults: LinkFaults{Disconnect: 0.3}}},
	}
	for _, c := range []struct {
		n    Node
		want float64
	}{{pub0, 0.2}, {pub1, 0.3}, {recv0, 0.1}} {
		if got := l.For(c.n).Disconnect; got != c.want {
			t.Errorf("For(%s).Disconnect = %v, want %v", c.n.Name, got, c.want)
		}
	}
	if got := l.ForClass(ClassBrokerReceiver).Disconnect; got != 0.1 {
		t.Errorf("ForClass(broker-receiver) = %v, want default 0.1", got)
	}
}

func TestPartitionsCutTheRightDirectionsAtTheRightTimes(t *testing.T) {
	pl := validPlan()
	pl.Phases.HealAtMs = 100
	pl.Partitions = []Partition{
		{Mode: OneWay, From: []string{"broker"}, To: []string{"role:receiver"}, StartMs: 10, EndMs: 50},
		{Mode: Symmetric, From: []string{"broker"}, To: []string{"pub-b"}, StartMs: 20, EndMs: 500},
		{Mode: OneWay, From: []string{"pub-a"}, To: []string{"broker"}, StartMs: 80, Forever: true},
	}
	cases := []struct {
		from, to Node
		at       Millis
		want     bool
	}{
		{broker, recv0, 9, false},
		{broker, recv0, 10, true},
		{recv0, broker, 10, false}, // one-way: the other direction flows
		{broker, recv0, 50, false},
		{pub1, broker, 30, true}, // symmetric: both directions
		{broker, pub1, 30, true},
		{broker, pub1, 100, false}, // healed at 100 although end_ms is 500
		{pub0, broker, 79, false},
		{pub0, broker, 10_000, true}, // forever outlives the heal
		{broker, pub0, 10_000, false},
	}
	for _, c := range cases {
		if got := pl.Cut(c.from, c.to, c.at); got != c.want {
			t.Errorf("Cut(%s→%s @%d) = %v, want %v", c.from.Name, c.to.Name, c.at, got, c.want)
		}
	}
	if !pl.OutsideCore(pub0) || pl.OutsideCore(pub1) || pl.OutsideCore(broker) {
		t.Errorf("OutsideCore: only pub-a is cut for ever")
	}
	if pl.Healed(99) || !pl.Healed(100) {
		t.Errorf("Healed: the liveness phase starts at heal_at_ms")
	}
}

func TestDelaySamplesStayInBounds(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		d      Delay
		lo, hi Millis
	}{
		{Delay{}, 0, 0},
		{Constant(7), 7, 7},
		{Uniform(3, 9), 3, 9},
		{Uniform(4, 4), 4, 4},
		{Exponential(50, 120), 0, 120},
		{Delay{Dist: DelayExponential, MinMs: 10, MeanMs: 5, MaxMs: 30}, 10, 30},
		{LogNormal(20, 1.5, 200), 0, 200},
	}
	for _, c := range cases {
		seen := map[Millis]bool{}
		for range 2000 {
			v := c.d.Sample(r)
			if v < c.lo || v > c.hi {
				t.Fatalf("%+v sampled %d, outside [%d, %d]", c.d, v, c.lo, c.hi)
			}
			seen[v] = true
		}
		if c.lo != c.hi && len(seen) < 3 {
			t.Errorf("%+v: only %d distinct samples in 2000 draws", c.d, len(seen))
		}
		if m := c.d.Max(); m != c.hi {
			t.Errorf("%+v: Max() = %d, want %d", c.d, m, c.hi)
		}
	}
	if got := Exponential(5, 0).Max(); got != -1 {
		t.Errorf("uncapped exponential Max() = %d, want -1", got)
	}
}

func TestExponentialDelayMeanIsRoughlyRight(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	d := Exponential(40, 0)
	var sum Millis
	const n = 20000
	for range n {
		sum += d.Sample(r)
	}
	// A loose statistical sanity check with a fixed seed: the tolerance is
	// far wider than the sampling error, so this only catches a wrong formula.
	if mean := float64(sum) / n; mean < 35 || mean > 45 {
		t.Fatalf("mean of exponential(40) samples = %.1f", mean)
	}
}

func TestCrashRuleUptime(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	if got := (CrashRule{}).NextUptime(r); got != -1 {
		t.Fatalf("disabled rule uptime = %d, want -1", got)
	}
	c := CrashRule{MeanUptimeMs: 1000, Downtime: Constant(10)}
	for range 100 {
		if u := c.NextUptime(r); u < 1 {
			t.Fatalf("uptime %d < 1 ms", u)
		}
	}
	cs := Crashes{Receivers: c}
	if !cs.For(RoleReceiver).Enabled() || cs.For(RoleBroker).Enabled() {
		t.Fatalf("Crashes.For picks the wrong rule")
	}
}

func TestEnabledAndString(t *testing.T) {
	pl := validPlan()
	if got := pl.String(); got != "plan [no faults] heal@1000ms liveness+5000ms" {
		t.Errorf("String() = %q", got)
	}
	pl.Links.Default = LinkFaults{Mode: LinkDatagram, Drop: 0.1}
	pl.Disk.FsyncCrash = 0.01
	got := pl.Enabled()
	want := []string{"drop", "datagram", "fsync-crash"}
	if len(got) != len(want) {
		t.Fatalf("Enabled() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Enabled() = %v, want %v", got, want)
		}
	}
}

func TestZeroNoneAndPerfect(t *testing.T) {
	if !(Delay{}).IsZero() || !(Delay{}).IsNone() {
		t.Error("the zero Delay is zero and none")
	}
	if c := Constant(0); c.IsZero() || !c.IsNone() {
		t.Error("a constant 0 is none but not the zero value")
	}
	if Uniform(0, 3).IsNone() || Exponential(1, 0).IsNone() {
		t.Error("real delays are not none")
	}
	if !(LinkFaults{Mode: LinkTCP, Delay: Constant(0)}).IsPerfect() {
		t.Error("a tcp link without faults is perfect")
	}
	for _, f := range []LinkFaults{{Drop: 0.1}, {Delay: Constant(1)}, {DisconnectAtMs: []Millis{3}}, {Disconnect: 0.1}} {
		if f.IsPerfect() {
			t.Errorf("%+v is not perfect", f)
		}
	}
}

func TestScheduledCrashPicksAndFsyncDowntime(t *testing.T) {
	s := ScheduledCrash{Node: "role:publisher#1", AtMs: 5, DowntimeMs: 5}
	if !s.Picks(pub1) || s.Picks(pub0) || s.Picks(broker) {
		t.Fatal("ScheduledCrash.Picks")
	}
	if !Matches("*", recv0) || Matches("role:broker", recv0) {
		t.Fatal("Matches")
	}
	pl := validPlan()
	pl.Crashes.Receivers.Downtime = Constant(40)
	if got := pl.FsyncCrashDowntime(RoleReceiver); got != Constant(40) {
		t.Fatalf("fsync downtime falls back to the role's: %+v", got)
	}
	pl.Disk.Downtime = Constant(7)
	if got := pl.FsyncCrashDowntime(RoleReceiver); got != Constant(7) {
		t.Fatalf("disk downtime wins: %+v", got)
	}
}
