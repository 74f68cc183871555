package check

import (
	"testing"
)

func TestMalformedHistoriesAreReported(t *testing.T) {
	cases := map[string][]Event{
		"outcome before publish": {Confirmed(0, "p", "m1")},
		"publish without id":     {Attempt(0, "p", "", 1, Digest{}, "q")},
		"processed without queue": {
			Processed(0, "r", "", "m1", Digest{}, false),
		},
		"id reused by another publisher": {
			Attempt(0, "p", "m1", 1, plain("m1"), "q"), Attempt(0, "other", "m1", 1, plain("m1"), "q"),
		},
		"id reused with other queues": {
			Attempt(0, "p", "m1", 1, plain("m1"), "q"), Attempt(0, "p", "m1", 1, plain("m1"), "q2"),
		},
		"outcome from another publisher": {
			Attempt(0, "p", "m1", 1, plain("m1"), "q"), Confirmed(0, "x", "m1"),
		},
		"refused after confirm": {
			Attempt(0, "p", "m1", 1, plain("m1"), "q"), Confirmed(0, "p", "m1"), Refused(0, "p", "m1", 301, "full"),
			Processed(0, "r", "q", "m1", plain("m1"), false),
		},
		"unknown kind":    {{Kind: "teleport"}},
		"unknown outcome": {Attempt(0, "p", "m1", 1, plain("m1"), "q"), {Kind: KindOutcome, MessageID: "m1", Outcome: "maybe"}},
	}
	for name, events := range cases {
		t.Run(name, func(t *testing.T) {
			r := Check(History{Events: events}, Options{SafetyOnly: true})
			if len(r.Malformed) == 0 || r.OK() {
				t.Fatalf("not reported as malformed: %s", r.Summary())
			}
		})
	}
}

func TestIdenticalRetryIsNotMalformed(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q", "q").publish("p", "m1", 1, "q").confirm("p", "m1").process("r", "q", "m1", false)
	r := Check(w.h, Options{})
	mustPass(t, r)
	if r.Counts.Attempted != 1 || r.Counts.Copies != 1 {
		t.Fatalf("retry counted twice: %+v", r.Counts)
	}
}

func TestCrashEventsAreCounted(t *testing.T) {
	var h History
	h.Add(ReceiverCrash(0, "r"), ReceiverRestart(1, "r"), PublisherCrash(2, "p"), PublisherRestart(3, "p"))
	r := Check(h, Options{})
	mustPass(t, r)
	if r.Counts.ReceiverCrashes != 1 || r.Counts.PublisherCrashes != 1 {
		t.Fatalf("counts %+v", r.Counts)
	}
}
