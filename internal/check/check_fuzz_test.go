package check

import (
	"encoding/json"
	"testing"
)

// FuzzCheck: the checker never panics, whatever a recorder wrote, and its
// verdicts agree with each other.
func FuzzCheck(f *testing.F) {
	w := &world{}
	w.sent("p", "a", 1, "q", "q2").sent("p", "b", 2, "q").publish("p", "c", 3, "q")
	w.process("r", "q", "b", false).process("r", "q", "a", true).process("r", "q2", "ghost", false)
	w.h.Add(BrokerRestart(0, QueueMessage{"q", "c"}), Abandoned(0, "p", "c", "x"), DeadLettered(0, "", "", "a", "y"))
	seed, _ := json.Marshal(w.h)
	f.Add(seed, true, false)
	f.Add([]byte(`{"events":[{"kind":"outcome","id":"x","outcome":"confirmed"},{"kind":"processed"}]}`), false, true)
	f.Fuzz(func(t *testing.T, data []byte, ordered, safetyOnly bool) {
		var h History
		if json.Unmarshal(data, &h) != nil {
			return
		}
		opts := Options{SafetyOnly: safetyOnly, DurableQueues: []string{"q2"}}
		if ordered {
			opts.OrderedQueues = []string{"q", "q2"}
		}
		r := Check(h, opts)
		if r.OK() != (r.SafetyOK() && r.LivenessOK()) || r.OK() != (r.Err() == nil) {
			t.Fatalf("verdicts disagree: %s", r.Summary())
		}
		if safetyOnly && (len(r.Lost) > 0 || len(r.Pending) > 0) {
			t.Fatalf("safety-only history judged for liveness: %s", r.Summary())
		}
		if r.Counts.OK > r.Counts.ConfirmedCopies || r.OKFrac() > 1 {
			t.Fatalf("more ok copies than confirmed ones: %+v", r.Counts)
		}
		_ = r.Summary()
	})
}
