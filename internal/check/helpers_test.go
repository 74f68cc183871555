package check

import (
	"strings"
	"testing"
	"time"
)

// world builds histories tersely for the tests: message "m<seq>" of
// publisher "p" carries plaintext "plain-m<seq>".
type world struct{ h History }

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func plain(id string) Digest { return DigestOf([]byte("plain-" + id)) }

func (w *world) publish(pub, id string, seq uint64, queues ...string) *world {
	w.h.Add(Attempt(ms(len(w.h.Events)), pub, id, seq, plain(id), queues...))
	return w
}

func (w *world) confirm(pub, id string) *world {
	w.h.Add(Confirmed(ms(len(w.h.Events)), pub, id))
	return w
}

func (w *world) process(recv, q, id string, redelivered bool) *world {
	w.h.Add(Processed(ms(len(w.h.Events)), recv, q, id, plain(id), redelivered))
	return w
}

// sent publishes and confirms.
func (w *world) sent(pub, id string, seq uint64, queues ...string) *world {
	return w.publish(pub, id, seq, queues...).confirm(pub, id)
}

func ids(as []Anomaly) string {
	var s []string
	for _, a := range as {
		s = append(s, a.MessageID+"@"+a.Queue)
	}
	return strings.Join(s, ",")
}

func wantIDs(t *testing.T, what string, got []Anomaly, want string) {
	t.Helper()
	if g := ids(got); g != want {
		t.Errorf("%s = [%s], want [%s]", what, g, want)
	}
}

func mustPass(t *testing.T, r Report) {
	t.Helper()
	if !r.OK() {
		t.Fatalf("correct history rejected: %s", r.Summary())
	}
}

func mustFailSafety(t *testing.T, r Report) {
	t.Helper()
	if r.SafetyOK() || r.OK() || r.Err() == nil {
		t.Fatalf("violation not reported: %s", r.Summary())
	}
}
