package proxy

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

var (
	pubNode    = faults.Node{Name: "pub-0", Role: faults.RolePublisher}
	brokerNode = faults.Node{Name: "broker", Role: faults.RoleBroker}
)

func basePlan() faults.Plan {
	return faults.Plan{Version: faults.PlanVersion, Phases: faults.Phases{HealAtMs: 300, LivenessBoundMs: 100}}
}

func TestFromPlanMapsLinkSettings(t *testing.T) {
	pl := basePlan()
	pl.Links.Default = faults.LinkFaults{Mode: faults.LinkTCP, Delay: faults.Constant(5), Disconnect: 0.01}
	pl.Links.PublisherBroker = &faults.LinkFaults{Mode: faults.LinkDatagram, Drop: 0.1, Duplicate: 0.2,
		Delay: faults.Uniform(1, 9), Disconnect: 0.02}
	if err := pl.Validate(); err != nil {
		t.Fatal(err)
	}
	f, notes := FromPlan(pl, faults.Node{Name: "r", Role: faults.RoleReceiver})
	want := DirFaults{Delay: faults.Constant(5), ResetProb: 0.01}
	if f.Up != want || f.Down != want || len(notes) != 0 {
		t.Fatalf("receiver link: %+v notes %v", f, notes)
	}
	f, notes = FromPlan(pl, pubNode)
	if f.Up.ResetProb != 0.02 || f.Up.Delay != faults.Uniform(1, 9) {
		t.Fatalf("publisher link: %+v", f)
	}
	if len(notes) != 2 || !strings.Contains(notes[0], "drop") || !strings.Contains(notes[1], "duplicate") {
		t.Fatalf("notes %v: drop and duplicate cannot be applied to a byte stream", notes)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("converted faults invalid: %v", err)
	}
}

func TestRunPlanCutsStallsAndHeals(t *testing.T) {
	tg := startTarget(t, true)
	p := newProxy(t, tg)
	pl := basePlan()
	pl.Links.Default = faults.LinkFaults{Delay: faults.Constant(1), DisconnectAtMs: []faults.Millis{50}}
	pl.Partitions = []faults.Partition{
		{Mode: faults.OneWay, From: []string{"role:broker"}, To: []string{"pub-0"}, StartMs: 0, Forever: true},
		{Mode: faults.Symmetric, From: []string{"broker"}, To: []string{"role:publisher"}, StartMs: 100, EndMs: 5000},
	}
	if err := pl.Validate(); err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	done := make(chan error, 1)
	go func() {
		done <- RunPlan(context.Background(), p, pl, pubNode, brokerNode, time.Now(), rand.New(rand.NewPCG(1, 1)))
	}()
	// The scheduled disconnect at 50 ms resets the open connection.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("scheduled disconnect: read err %v, want ECONNRESET", err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunPlan: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunPlan did not return after the liveness deadline")
	}
	// Healed: link faults and the symmetric partition are gone; the forever
	// one-way partition (broker → pub-0) still stalls downstream.
	got := p.Faults()
	want := Faults{Down: DirFaults{Stall: true}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after the heal faults = %+v, want %+v", got, want)
	}
}

func TestRunPlanStopsOnCancel(t *testing.T) {
	tg := startTarget(t, true)
	p := newProxy(t, tg)
	pl := basePlan()
	pl.Phases.HealAtMs = 3_600_000
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunPlan(ctx, p, pl, pubNode, brokerNode, time.Now(), nil) }()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("RunPlan after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("RunPlan ignored the cancel")
	}
}

func TestRandomPartitionsAreDeterministicAndBeforeHeal(t *testing.T) {
	pl := basePlan()
	pl.Phases.HealAtMs = 100_000
	pl.RandomPartitions = faults.PartitionWeather{MeanGapMs: 1000, Duration: faults.Exponential(500, 3000), OneWayProb: 0.5}
	a := randomPartitions(pl, pubNode, brokerNode, rand.New(rand.NewPCG(7, 7)))
	b := randomPartitions(pl, pubNode, brokerNode, rand.New(rand.NewPCG(7, 7)))
	if !reflect.DeepEqual(a, b) || len(a) < 10 {
		t.Fatalf("random partitions: %d, deterministic %v", len(a), reflect.DeepEqual(a, b))
	}
	modes := map[faults.PartitionMode]int{}
	var end faults.Millis
	for _, pt := range a {
		if pt.StartMs < end || pt.EndMs <= pt.StartMs || pt.StartMs >= pl.Phases.HealAtMs {
			t.Fatalf("bad partition %+v after end %d", pt, end)
		}
		if !pt.Cuts(pubNode, brokerNode) && !pt.Cuts(brokerNode, pubNode) {
			t.Fatalf("partition %+v does not touch the link", pt)
		}
		end = pt.EndMs
		modes[pt.Mode]++
	}
	if modes[faults.OneWay] == 0 || modes[faults.Symmetric] == 0 {
		t.Fatalf("modes %v: one-way probability 0.5 should give both", modes)
	}
	if got := randomPartitions(basePlan(), pubNode, brokerNode, rand.New(rand.NewPCG(1, 1))); got != nil {
		t.Fatalf("disabled weather made partitions %v", got)
	}
}
