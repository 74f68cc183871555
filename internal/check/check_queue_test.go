package check

import (
	"strings"
	"testing"
)

func TestCorrectHistoryPasses(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "q1", "q2").sent("p", "m2", 2, "q1")
	w.process("r1", "q1", "m1", false).process("r2", "q2", "m1", false).process("r1", "q1", "m2", false)
	// a redelivered duplicate dropped by the receiver's dedup is not recorded
	r := Check(w.h, Options{OrderedQueues: []string{"q1"}})
	mustPass(t, r)
	c := r.Counts
	if c.Attempted != 2 || c.Confirmed != 2 || c.Copies != 3 || c.OK != 3 || c.Processed != 3 {
		t.Fatalf("counts = %+v", c)
	}
	if r.OKFrac() != 1 || r.LostFrac() != 0 {
		t.Fatalf("ok-frac %v lost-frac %v", r.OKFrac(), r.LostFrac())
	}
	if !strings.HasPrefix(r.Summary(), "OK: 2 attempted") {
		t.Fatalf("summary %q", r.Summary())
	}
}

func TestEmptyHistoryPasses(t *testing.T) {
	r := Check(History{}, Options{})
	mustPass(t, r)
	if r.OKFrac() != 0 {
		t.Fatalf("ok-frac of nothing = %v", r.OKFrac())
	}
}

func TestLostMessageIsReported(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "q1", "q2").sent("p", "m2", 2, "q1")
	w.process("r1", "q1", "m1", false).process("r1", "q1", "m2", false)
	r := Check(w.h, Options{})
	mustFailSafety(t, r)
	wantIDs(t, "lost", r.Lost, "m1@q2")
	if r.LostFrac() != 1.0/3 {
		t.Errorf("lost-frac = %v, want 1/3", r.LostFrac())
	}
	if !strings.Contains(r.Summary(), "lost 1 [m1@q2") {
		t.Errorf("summary %q does not list the lost copy", r.Summary())
	}
}

func TestConfirmedDuplicateCountsAsConfirmed(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q")
	w.h.Add(ConfirmedDuplicate(0, "p", "m1"))
	r := Check(w.h, Options{})
	wantIDs(t, "lost", r.Lost, "m1@q")
	if r.Counts.ConfirmedDuplicate != 1 {
		t.Errorf("counts = %+v", r.Counts)
	}
}

func TestUnknownOutcomeIsNeverLostButIsPending(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q")
	r := Check(w.h, Options{})
	if len(r.Lost) != 0 {
		t.Fatalf("unknown outcome counted as lost: %s", r.Summary())
	}
	if !r.SafetyOK() || r.LivenessOK() || r.OK() {
		t.Fatalf("pending publish must be a liveness violation only: %s", r.Summary())
	}
	wantIDs(t, "pending", r.Pending, "m1@")
	if !strings.HasPrefix(r.Summary(), "LIVENESS VIOLATED") {
		t.Errorf("summary %q", r.Summary())
	}
	// Explicitly recording "unknown" is the same thing.
	w.h.Add(Event{Kind: KindOutcome, Publisher: "p", MessageID: "m1", Outcome: OutcomeUnknown})
	if r2 := Check(w.h, Options{}); len(r2.Pending) != 1 || len(r2.Malformed) != 0 {
		t.Fatalf("explicit unknown: %s", r2.Summary())
	}
}

func TestRecoveredIsNotAnError(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q").process("r", "q", "m1", false)
	r := Check(w.h, Options{SafetyOnly: true})
	mustPass(t, r)
	wantIDs(t, "recovered", r.Recovered, "m1@q")
	if r.RecoveredFrac() != 1 {
		t.Errorf("recovered-frac %v", r.RecoveredFrac())
	}
}

func TestUnexpectedMessages(t *testing.T) {
	w := &world{}
	w.publish("p", "refused", 1, "q")
	w.h.Add(Refused(0, "p", "refused", 301, "queue full"))
	w.sent("p", "routed", 2, "q")
	w.process("r", "q", "ghost", false)   // never published
	w.process("r", "q", "refused", false) // refused, yet processed
	w.process("r", "q", "routed", false)
	w.process("r", "other", "routed", false) // not routed there
	r := Check(w.h, Options{})
	mustFailSafety(t, r)
	wantIDs(t, "unexpected", r.Unexpected, "ghost@q,refused@q,routed@other")
	if r.RefusedByCode[301] != 1 || r.Counts.Refused != 1 {
		t.Errorf("refusals = %v, counts %+v", r.RefusedByCode, r.Counts)
	}
	if r.UnexpectedFrac() == 0 {
		t.Errorf("unexpected-frac is 0")
	}
}

func TestRefusedThenConfirmedIsConfirmed(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q")
	w.h.Add(Refused(0, "p", "m1", 301, "queue full"))
	w.confirm("p", "m1").process("r", "q", "m1", false)
	mustPass(t, Check(w.h, Options{}))
}

func TestDuplicatedProcessingIsReported(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "q", "q2").sent("p", "m2", 2, "q")
	w.process("r1", "q", "m1", false).process("r2", "q2", "m1", false) // two queues: fine
	w.process("r1", "q", "m2", false).process("r2", "q", "m2", true)   // same queue twice: not fine
	r := Check(w.h, Options{})
	mustFailSafety(t, r)
	wantIDs(t, "duplicated", r.Duplicated, "m2@q")
	if !strings.Contains(r.Duplicated[0].Detail, "[r1 r2]") {
		t.Errorf("detail %q does not name the receivers", r.Duplicated[0].Detail)
	}
	if r.Counts.OK != 2 || r.DuplicatedFrac() != 1.0/3 {
		t.Errorf("ok %d duplicated-frac %v", r.Counts.OK, r.DuplicatedFrac())
	}
}

func TestTamperedPlaintextIsCorrupted(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "q").sent("p", "m2", 2, "q")
	w.process("r", "q", "m1", false)
	w.h.Add(Processed(0, "r", "q", "m2", DigestOf([]byte("forged")), false))
	r := Check(w.h, Options{})
	mustFailSafety(t, r)
	wantIDs(t, "corrupted", r.Corrupted, "m2@q")
	if r.Counts.OK != 1 {
		t.Errorf("a corrupted copy counted as ok: %+v", r.Counts)
	}
}

func TestUntrackedDigestIsNotChecked(t *testing.T) {
	var h History
	h.Add(Attempt(0, "p", "m1", 1, Digest{}, "q"), Confirmed(0, "p", "m1"),
		Processed(0, "r", "q", "m1", DigestOf([]byte("anything")), false))
	mustPass(t, Check(h, Options{}))
}

func TestBrokerRestartExemptsInMemoryQueuesOnly(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "mem", "disk").sent("p", "m2", 2, "mem")
	w.h.Add(BrokerRestart(0, QueueMessage{"mem", "m1"}, QueueMessage{"disk", "m1"}))
	r := Check(w.h, Options{DurableQueues: []string{"disk"}})
	wantIDs(t, "legitimately lost", r.LegitimatelyLost, "m1@mem")
	// m2 was not held at the restart: losing it is a bug; m1 in the durable queue too.
	wantIDs(t, "lost", r.Lost, "m1@disk,m2@mem")
	if r.Counts.BrokerRestarts != 1 {
		t.Errorf("counts %+v", r.Counts)
	}
}

func TestLegitimatelyLostAloneIsOK(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "mem")
	w.h.Add(BrokerRestart(0, QueueMessage{"mem", "m1"}))
	r := Check(w.h, Options{})
	mustPass(t, r)
	if len(r.LegitimatelyLost) != 1 || !strings.Contains(r.Summary(), "legitimately-lost 1") {
		t.Fatalf("legitimately lost copy not listed: %s", r.Summary())
	}
}

func TestSafetyOnlyDoesNotJudgeInFlight(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "q").publish("p", "m2", 2, "q")
	mustPass(t, Check(w.h, Options{SafetyOnly: true}))
	// ...but still judges what is already wrong.
	w.process("r", "q", "ghost", false)
	mustFailSafety(t, Check(w.h, Options{SafetyOnly: true}))
}

func TestExemptNodesAreStrandedNotViolations(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "island").publish("cut-off", "m2", 1, "q")
	r := Check(w.h, Options{ExemptQueues: []string{"island"}, ExemptPublishers: []string{"cut-off"}})
	mustPass(t, r)
	wantIDs(t, "stranded", r.Stranded, "m1@island,m2@")
	// Without the exemption both are violations.
	r = Check(w.h, Options{})
	wantIDs(t, "lost", r.Lost, "m1@island")
	wantIDs(t, "pending", r.Pending, "m2@")
}

func TestSummaryListsOnlyTheFirstFew(t *testing.T) {
	w := &world{}
	for i, id := range []string{"a", "b", "c", "d", "e"} {
		w.sent("p", id, uint64(i), "q")
	}
	r := Check(w.h, Options{})
	s := r.Summary()
	if !strings.Contains(s, "lost 5 [a@q") || !strings.Contains(s, ", ...]") || strings.Contains(s, "e@q") {
		t.Fatalf("summary %q", s)
	}
	if len(r.Lost) != 5 {
		t.Fatalf("report must keep every anomaly, has %d", len(r.Lost))
	}
}

func TestAbandonedPublishIsNeitherPendingNorLost(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q").publish("p", "m2", 2, "q").publish("p", "m3", 3, "q")
	w.h.Add(PublisherCrash(ms(10), "p"), Abandoned(ms(10), "p", "m1", "crashed with it pending"),
		Abandoned(ms(10), "p", "m2", ""))
	w.process("r", "q", "m2", false) // abandoned, yet it made it: recovered
	r := Check(w.h, Options{})
	wantIDs(t, "pending", r.Pending, "m3@")
	wantIDs(t, "abandoned", r.Abandoned, "m1@,m2@")
	wantIDs(t, "recovered", r.Recovered, "m2@q")
	if r.Counts.Abandoned != 2 || r.Abandoned[0].Detail != "crashed with it pending" {
		t.Fatalf("counts %+v abandoned %+v", r.Counts, r.Abandoned)
	}
	// Abandoning an unknown message is a recorder bug.
	var h History
	h.Add(Abandoned(0, "p", "ghost", "x"))
	if r := Check(h, Options{}); len(r.Malformed) != 1 {
		t.Fatalf("abandoning a never-attempted message: %s", r.Summary())
	}
}

func TestDeadLetteredCopiesAreAccountedFor(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "q1", "q2").sent("p", "m2", 2, "q1", "q2").sent("p", "m3", 3, "q1")
	w.h.Add(DeadLettered(0, "r", "q1", "m1", "delivery limit"), // one copy
		DeadLettered(0, "r", "", "m2", "forged")) // every unprocessed copy
	w.process("r", "q2", "m1", false).process("r", "q2", "m2", false)
	r := Check(w.h, Options{})
	wantIDs(t, "dead-lettered", r.DeadLettered, "m1@q1,m2@q1")
	wantIDs(t, "lost", r.Lost, "m3@q1")
	if r.DeadLettered[0].Detail != "delivery limit" {
		t.Errorf("detail %q", r.DeadLettered[0].Detail)
	}
	var h History
	h.Add(DeadLettered(0, "r", "q", "", "x"))
	if r := Check(h, Options{}); len(r.Malformed) != 1 {
		t.Fatalf("dead-lettered without id: %s", r.Summary())
	}
}

func TestDeadLetteredEarlierMessageIsNoSkip(t *testing.T) {
	w := &world{}
	w.sent("p", "a", 1, "q").sent("p", "b", 2, "q")
	w.h.Add(DeadLettered(0, "r", "q", "a", "delivery limit"))
	w.process("r", "q", "b", false)
	mustPass(t, Check(w.h, Options{OrderedQueues: []string{"q"}}))
}
