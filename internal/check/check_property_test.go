package check

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"pgregory.net/rapid"
)

// genCorrectHistory draws a run in which the broker and receivers behave:
// every confirmed copy processed exactly once, in publish order per
// publisher and queue, unknown and indeterminate outcomes sometimes
// recovered, definite refusals never processed. It returns the history and the ordered queues.
func genCorrectHistory(t *rapid.T) (History, []string) {
	queues := []string{"q0", "q1", "q2"}[:rapid.IntRange(1, 3).Draw(t, "queues")]
	pubs := rapid.IntRange(1, 3).Draw(t, "publishers")
	var h History
	type copyRef struct{ q, id string }
	pending := map[string][]string{} // queue -> ids to process, in order, per queue
	for p := range pubs {
		pub := fmt.Sprintf("p%d", p)
		for i := range rapid.IntRange(0, 8).Draw(t, "messages") {
			id := fmt.Sprintf("%s-m%d", pub, i)
			var qs []string
			for _, q := range queues {
				if rapid.Bool().Draw(t, "routed") {
					qs = append(qs, q)
				}
			}
			if len(qs) == 0 {
				qs = queues[:1]
			}
			h.Add(Attempt(ms(len(h.Events)), pub, id, uint64(i+1), plain(id), qs...))
			processed := false
			switch rapid.IntRange(0, 4).Draw(t, "outcome") {
			case 0:
				h.Add(Confirmed(0, pub, id))
				processed = true
			case 1:
				h.Add(ConfirmedDuplicate(0, pub, id))
				processed = true
			case 2:
				h.Add(Refused(0, pub, id, 301, "queue full"))
			case 3: // unknown: the publisher gave up; maybe it got through
				h.Add(Abandoned(0, pub, id, "gave up"))
				processed = rapid.Bool().Draw(t, "recovered")
			case 4: // refused after a resend: an earlier send may have got through
				h.Add(Indeterminate(0, pub, id, 301, "queue full"))
				processed = rapid.Bool().Draw(t, "recovered")
			}
			if processed {
				for _, q := range qs {
					pending[q] = append(pending[q], id)
				}
			}
		}
	}
	// Each queue's single receiver processes in publish order; queues
	// interleave at random.
	for {
		var open []string
		for _, q := range queues {
			if len(pending[q]) > 0 {
				open = append(open, q)
			}
		}
		if len(open) == 0 {
			break
		}
		q := rapid.SampledFrom(open).Draw(t, "next-queue")
		id := pending[q][0]
		pending[q] = pending[q][1:]
		h.Add(Processed(ms(len(h.Events)), "r-"+q, q, id, plain(id), false))
	}
	return h, queues
}

func TestPropertyCorrectHistoriesPass(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h, queues := genCorrectHistory(t)
		r := Check(h, Options{OrderedQueues: queues})
		if !r.OK() {
			t.Fatalf("correct history rejected: %s", r.Summary())
		}
		if r.Counts.OK != r.Counts.ConfirmedCopies {
			t.Fatalf("ok %d of %d confirmed copies", r.Counts.OK, r.Counts.ConfirmedCopies)
		}
	})
}

// processedIndexes lists the processed events of confirmed messages.
func confirmedProcessed(h History) []int {
	confirmed := map[string]bool{}
	for _, e := range h.Events {
		if e.Kind == KindOutcome && (e.Outcome == OutcomeConfirmed || e.Outcome == OutcomeConfirmedDuplicate) {
			confirmed[e.MessageID] = true
		}
	}
	var out []int
	for i, e := range h.Events {
		if e.Kind == KindProcessed && confirmed[e.MessageID] {
			out = append(out, i)
		}
	}
	return out
}

// Each mutation breaks one guarantee of a correct history; the checker must
// name exactly the broken copy in exactly the expected category.
func TestPropertyEachViolationIsCaught(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h, queues := genCorrectHistory(t)
		procs := confirmedProcessed(h)
		mutation := rapid.SampledFrom([]string{"lose", "duplicate", "ghost", "tamper", "reorder", "pending"}).Draw(t, "mutation")
		if len(procs) == 0 && mutation != "ghost" && mutation != "pending" {
			t.Skip("no processed copy to mutate")
		}
		var victim Event
		if len(procs) > 0 {
			victim = h.Events[rapid.SampledFrom(procs).Draw(t, "victim")]
		}
		want := victim.MessageID + "@" + victim.Queue
		var got func(Report) []Anomaly
		switch mutation {
		case "lose":
			h.Events = slices.DeleteFunc(h.Events, func(e Event) bool {
				return e.Kind == KindProcessed && e.MessageID == victim.MessageID && e.Queue == victim.Queue
			})
			got = func(r Report) []Anomaly { return r.Lost }
		case "duplicate":
			dup := victim
			dup.Redelivered = true
			h.Add(dup)
			got = func(r Report) []Anomaly { return r.Duplicated }
		case "ghost":
			h.Add(Processed(0, "r-q0", "q0", "ghost", plain("ghost"), false))
			want = "ghost@q0"
			got = func(r Report) []Anomaly { return r.Unexpected }
		case "tamper":
			for i, e := range h.Events {
				if e.Kind == KindProcessed && e.MessageID == victim.MessageID && e.Queue == victim.Queue {
					h.Events[i].Digest = DigestOf([]byte("tampered"))
				}
			}
			got = func(r Report) []Anomaly { return r.Corrupted }
		case "reorder":
			// Move the victim's processing to the end: if its publisher has a
			// later copy in that queue, order breaks.
			i := slices.IndexFunc(h.Events, func(e Event) bool {
				return e.Kind == KindProcessed && e.MessageID == victim.MessageID && e.Queue == victim.Queue
			})
			h.Events = append(slices.Delete(h.Events, i, i+1), victim)
			r := Check(h, Options{OrderedQueues: queues})
			later := false
			for _, e := range h.Events[i : len(h.Events)-1] {
				if e.Kind == KindProcessed && e.Queue == victim.Queue && publisherOf(e.MessageID) == publisherOf(victim.MessageID) {
					later = true
				}
			}
			if later != (len(r.Nonmonotonic) == 1 && len(r.Skipped) == 1 && r.Nonmonotonic[0].MessageID == victim.MessageID) {
				t.Fatalf("moving %s to the end (overtaken: %v) gave: %s", want, later, r.Summary())
			}
			return
		case "pending":
			h.Add(Attempt(0, "p9", "stuck", 1, plain("stuck"), "q0"))
			want = "stuck@"
			got = func(r Report) []Anomaly { return r.Pending }
		}
		r := Check(h, Options{OrderedQueues: queues})
		if r.OK() {
			t.Fatalf("%s of %s not caught: %s", mutation, want, r.Summary())
		}
		if g := ids(got(r)); g != want {
			t.Fatalf("%s: category lists [%s], want [%s]; %s", mutation, g, want, r.Summary())
		}
	})
}

func publisherOf(id string) string {
	p, _, _ := strings.Cut(id, "-")
	return p
}
