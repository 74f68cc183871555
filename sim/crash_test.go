package sim

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/faults"
	"github.com/ciphermq/ciphermq/internal/check"
)

var _ inbox.FS = diskFS{}
var _ inbox.File = (*DiskHandle)(nil)

// crashPlan is a calm plan with one scheduled crash of node at atMs.
func crashPlan(node string, atMs, downMs faults.Millis) faults.Plan {
	pl := Calm()
	pl.Name = "scheduled-crash"
	pl.Links.Default.Delay = faults.Uniform(1, 5)
	pl.Crashes.Schedule = []faults.ScheduledCrash{{Node: node, AtMs: atMs, DowntimeMs: downMs}}
	return pl
}

func TestBrokerRestartLosesOnlyWhatItHeld(t *testing.T) {
	// Receivers crash first and stay down, so the broker holds messages
	// when it dies.
	pl := crashPlan("role:broker", 2_500, 300)
	pl.Crashes.Schedule = append(pl.Crashes.Schedule,
		faults.ScheduledCrash{Node: "role:receiver", AtMs: 1_000, DowntimeMs: 3_000})
	res := Run(Config{Seed: 2, Plan: &pl, Workload: Workload{PoisonRate: -1}})
	if !res.OK() {
		t.Fatalf("%s", res.Describe())
	}
	if res.Stats.BrokerCrashes != 1 || res.Report.Counts.BrokerRestarts != 1 {
		t.Fatalf("broker crashes %d, restarts in history %d; want 1", res.Stats.BrokerCrashes, res.Report.Counts.BrokerRestarts)
	}
	if len(res.Report.LegitimatelyLost) == 0 {
		t.Fatal("the broker held nothing when it died: the scenario did not test in-memory loss")
	}
	// Nothing else may be missing: every confirmed copy is processed or was
	// held by the dead broker.
	c := res.Report.Counts
	if c.OK+len(res.Report.LegitimatelyLost) != c.ConfirmedCopies {
		t.Fatalf("ok %d + legitimately lost %d != confirmed copies %d", c.OK, len(res.Report.LegitimatelyLost), c.ConfirmedCopies)
	}
}

func TestPublisherCrashLeavesUnknownNotPending(t *testing.T) {
	pl := crashPlan("role:publisher#0", 1_500, 500)
	pl.Links.Default.Delay = faults.Uniform(20, 60) // confirms take a while: some are in flight at the crash
	res := Run(Config{Seed: 4, Plan: &pl, Workload: Workload{PoisonRate: -1}})
	if !res.OK() {
		t.Fatalf("%s", res.Describe())
	}
	if res.Stats.PublisherCrashes != 1 {
		t.Fatalf("publisher crashes %d, want 1", res.Stats.PublisherCrashes)
	}
	if len(res.Report.Abandoned) == 0 {
		t.Fatal("nothing was pending at the crash: the scenario did not test unknown outcomes")
	}
	if len(res.Report.Pending) != 0 {
		t.Fatalf("abandoned publishes reported pending: %v", res.Report.Pending)
	}
	// The history, not a filter after the checker, is what excuses them:
	// without its abandoned events they would be pending.
	var h check.History
	for _, e := range res.History.Events {
		if e.Kind != check.KindAbandoned {
			h.Add(e)
		}
	}
	if rep := check.Check(h, res.Options); len(rep.Pending) != len(res.Report.Abandoned) {
		t.Fatalf("without abandoned events %d pending, want the %d abandoned: %s", len(rep.Pending), len(res.Report.Abandoned), rep.Summary())
	}
	// The restarted publisher went on: its later messages were published.
	if res.Stats.MessagesPublished != 200 {
		t.Fatalf("published %d of 200 planned", res.Stats.MessagesPublished)
	}
}

func TestCrashesInsideFsyncKeepExactlyOnce(t *testing.T) {
	pl := Calm()
	pl.Name = "fsync-crash"
	pl.Disk.FsyncCrash = 0.2
	pl.Disk.Downtime = faults.Uniform(10, 200)
	pl.Phases.HealAtMs = 10_000
	res := Run(Config{Seed: 6, Plan: &pl})
	if !res.OK() {
		t.Fatalf("%s", res.Describe())
	}
	if res.Coverage.CrashInFsync == 0 {
		t.Fatal("no crash inside an fsync happened")
	}
	if res.Stats.ReceiverCrashes == 0 {
		t.Fatal("fsync crashes did not crash receivers")
	}
}

func TestStoreRecoversTornTailOnSimulatedDisk(t *testing.T) {
	w := newWorld(9, nil)
	d := newDisk(w, "r0", DiskFaults{Torn: 1})
	// A one-byte buffer makes every Append reach the file at once, unsynced.
	opts := inbox.Options{FS: diskFS{d}, Logger: slog.New(slog.DiscardHandler), BufferBytes: 1}
	s, err := inbox.Open("out", opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b"} {
		if err := s.Append(inbox.Record{MessageID: id, Queue: "q", Message: []byte("x")}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	durable := len(d.Contents("out"))
	if err := s.Append(inbox.Record{MessageID: "c", Queue: "q", Message: bytes.Repeat([]byte("y"), 200)}); err != nil {
		t.Fatal(err)
	}
	if len(d.Contents("out")) <= durable {
		t.Fatal("the unsynced record did not reach the file")
	}
	d.Crash() // the process dies; the tail of "c" is torn
	if got := len(d.Contents("out")); got <= durable {
		t.Fatalf("torn crash kept %d bytes, want more than the %d durable ones (a torn tail)", got, durable)
	}
	s2, err := inbox.Open("out", opts)
	if err != nil {
		t.Fatalf("reopen after a torn crash: %v", err)
	}
	if !s2.Recovery().Repaired() {
		t.Fatal("the store did not report the torn tail it cut")
	}
	if !s2.Seen("a") || !s2.Seen("b") || s2.Seen("c") {
		t.Fatalf("after recovery: a %v b %v (want true), c %v (want false)", s2.Seen("a"), s2.Seen("b"), s2.Seen("c"))
	}
	if len(d.Contents("out")) != durable {
		t.Fatalf("the repaired file has %d bytes, want the %d durable ones", len(d.Contents("out")), durable)
	}
	if _, err := d.OpenLocked("out"); err == nil {
		t.Fatal("the reopened store does not hold the lock")
	}
	if err := s2.Close(); err != nil && !errors.Is(err, inbox.ErrClosed) {
		t.Fatal(err)
	}
}
