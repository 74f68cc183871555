package check

import "testing"

var ordered = Options{OrderedQueues: []string{"q"}}

func TestInOrderPasses(t *testing.T) {
	w := &world{}
	w.sent("p", "a", 1, "q").sent("p", "b", 2, "q").sent("o", "x", 1, "q").sent("p", "c", 3, "q")
	// interleaving across publishers is fine
	w.process("r", "q", "a", false).process("r", "q", "x", false).process("r", "q", "b", false).process("r", "q", "c", false)
	mustPass(t, Check(w.h, ordered))
}

func TestOutOfOrderPairIsNonmonotonic(t *testing.T) {
	w := &world{}
	w.sent("p", "a", 1, "q").sent("p", "b", 2, "q").sent("p", "c", 3, "q")
	w.process("r", "q", "a", false).process("r", "q", "c", false).process("r", "q", "b", false)
	r := Check(w.h, ordered)
	mustFailSafety(t, r)
	wantIDs(t, "nonmonotonic", r.Nonmonotonic, "b@q")
	if r.Nonmonotonic[0].Other != "c" {
		t.Errorf("nonmonotonic other = %q, want c", r.Nonmonotonic[0].Other)
	}
	// b came late without being a redelivery: c skipped it.
	wantIDs(t, "skipped", r.Skipped, "b@q")
	// The same history on an unordered queue is fine.
	mustPass(t, Check(w.h, Options{}))
}

func TestRedeliveredMessagesDoNotCountForOrder(t *testing.T) {
	w := &world{}
	w.sent("p", "a", 1, "q").sent("p", "b", 2, "q").sent("p", "c", 3, "q")
	// a was delivered, the receiver crashed before processing, a came back
	// redelivered after b and c.
	w.process("r", "q", "b", false).process("r", "q", "c", false).process("r", "q", "a", true)
	mustPass(t, Check(w.h, ordered))
}

func TestNeverProcessedEarlierMessageIsASkip(t *testing.T) {
	w := &world{}
	w.sent("p", "a", 1, "q").sent("p", "b", 2, "q")
	w.process("r", "q", "b", false)
	r := Check(w.h, ordered)
	wantIDs(t, "skipped", r.Skipped, "a@q")
	wantIDs(t, "lost", r.Lost, "a@q")
	// In a safety-only history a may still come: no verdict on it yet.
	mustPass(t, Check(w.h, Options{OrderedQueues: []string{"q"}, SafetyOnly: true}))
}

func TestUnconfirmedEarlierMessageIsNoSkip(t *testing.T) {
	w := &world{}
	w.publish("p", "a", 1, "q").sent("p", "b", 2, "q")
	w.h.Add(Refused(0, "p", "a", 301, "full"))
	w.process("r", "q", "b", false)
	mustPass(t, Check(w.h, ordered))
}

func TestLegitimatelyLostEarlierMessageIsNoSkip(t *testing.T) {
	w := &world{}
	w.sent("p", "a", 1, "q")
	w.h.Add(BrokerRestart(0, QueueMessage{"q", "a"}))
	w.sent("p", "b", 2, "q").process("r", "q", "b", false)
	mustPass(t, Check(w.h, ordered))
}

func TestOrderedQueueWithTwoConsumersIsMalformed(t *testing.T) {
	w := &world{}
	w.sent("p", "a", 1, "q").sent("p", "b", 2, "q")
	w.process("r1", "q", "a", false).process("r2", "q", "b", false)
	r := Check(w.h, ordered)
	if len(r.Malformed) != 1 || r.OK() {
		t.Fatalf("two consumers on an ordered queue not reported: %s", r.Summary())
	}
}

func TestSkipReportedOncePerMessage(t *testing.T) {
	w := &world{}
	w.sent("p", "a", 1, "q").sent("p", "b", 2, "q").sent("p", "c", 3, "q").sent("p", "d", 4, "q")
	w.process("r", "q", "c", false).process("r", "q", "d", false)
	r := Check(w.h, ordered)
	wantIDs(t, "skipped", r.Skipped, "a@q,b@q")
	if r.Skipped[0].Other != "c" {
		t.Errorf("a was first jumped by c, report says %q", r.Skipped[0].Other)
	}
}
