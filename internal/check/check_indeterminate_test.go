package check

import (
	"strings"
	"testing"
)

// refusedAfter records a refusal of id (code 301) that arrived after the
// given number of sends: definite after one, indeterminate after more.
func (w *world) refusedAfter(pub, id string, sends int) *world {
	if sends > 1 {
		w.h.Add(Indeterminate(ms(len(w.h.Events)), pub, id, 301, "queue full"))
	} else {
		w.h.Add(Refused(ms(len(w.h.Events)), pub, id, 301, "queue full"))
	}
	return w
}

func TestRefusedAfterOneSendButProcessedIsUnexpected(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q").refusedAfter("p", "m1", 1).process("r", "q", "m1", false)
	r := Check(w.h, Options{})
	mustFailSafety(t, r)
	wantIDs(t, "unexpected", r.Unexpected, "m1@q")
	wantIDs(t, "recovered", r.Recovered, "")
	wantIDs(t, "indeterminate", r.Indeterminate, "")
	if r.Counts.Refused != 1 || r.Counts.Indeterminate != 0 {
		t.Fatalf("counts = %+v", r.Counts)
	}
}

func TestIndeterminateProcessedIsRecovered(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q").refusedAfter("p", "m1", 2).process("r", "q", "m1", false)
	r := Check(w.h, Options{})
	mustPass(t, r)
	wantIDs(t, "recovered", r.Recovered, "m1@q")
	if !strings.Contains(r.Recovered[0].Detail, "more than one send") {
		t.Errorf("recovered detail %q does not say why", r.Recovered[0].Detail)
	}
	wantIDs(t, "indeterminate", r.Indeterminate, "m1@")
	if r.Counts.Indeterminate != 1 || r.Counts.Refused != 0 || r.Counts.Unknown != 0 || len(r.RefusedByCode) != 0 {
		t.Fatalf("counts = %+v, refused by code %v", r.Counts, r.RefusedByCode)
	}
}

func TestIndeterminateNeverProcessedIsNeitherLostNorPending(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q").refusedAfter("p", "m1", 3)
	// A later message of the same publisher processed: no order skip either.
	w.sent("p", "m2", 2, "q").process("r", "q", "m2", false)
	r := Check(w.h, Options{OrderedQueues: []string{"q"}})
	mustPass(t, r)
	wantIDs(t, "indeterminate", r.Indeterminate, "m1@")
	if !strings.Contains(r.Summary(), "indeterminate 1 [m1") {
		t.Errorf("summary %q does not list the indeterminate publish", r.Summary())
	}
	// The same history with a definite refusal passes too, without the
	// indeterminate entry: the difference only shows once it is processed.
	d := &world{}
	d.publish("p", "m1", 1, "q").refusedAfter("p", "m1", 1)
	rd := Check(d.h, Options{})
	mustPass(t, rd)
	wantIDs(t, "indeterminate", rd.Indeterminate, "")
}

func TestIndeterminateIsNotUndoneByALaterRefusal(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q").refusedAfter("p", "m1", 2).refusedAfter("p", "m1", 1).process("r", "q", "m1", false)
	r := Check(w.h, Options{})
	mustPass(t, r)
	wantIDs(t, "recovered", r.Recovered, "m1@q")
}

func TestConfirmAfterIndeterminateIsAConfirm(t *testing.T) {
	w := &world{}
	w.publish("p", "m1", 1, "q").refusedAfter("p", "m1", 2).confirm("p", "m1")
	r := Check(w.h, Options{})
	mustFailSafety(t, r)
	wantIDs(t, "lost", r.Lost, "m1@q")
	if r.Counts.Confirmed != 1 || r.Counts.Indeterminate != 0 {
		t.Fatalf("counts = %+v", r.Counts)
	}
}

func TestIndeterminateAfterConfirmIsMalformed(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "q").refusedAfter("p", "m1", 2).process("r", "q", "m1", false)
	r := Check(w.h, Options{})
	mustFailSafety(t, r)
	if len(r.Malformed) != 1 || !strings.Contains(r.Malformed[0].Detail, "indeterminate (code 301) after the broker confirmed it") {
		t.Fatalf("malformed = %v", r.Malformed)
	}
}
