package check

import (
	"fmt"
	"strings"
)

// AnomalyKind names a category of the report.
type AnomalyKind string

const (
	// Safety violations.
	Lost         AnomalyKind = "lost"
	Unexpected   AnomalyKind = "unexpected"
	Duplicated   AnomalyKind = "duplicated"
	Corrupted    AnomalyKind = "corrupted"
	Nonmonotonic AnomalyKind = "nonmonotonic"
	Skipped      AnomalyKind = "skipped"
	Malformed    AnomalyKind = "malformed"
	// Liveness violation.
	Pending AnomalyKind = "pending"
	// Not violations, listed so a reader sees what was excused and why.
	Recovered        AnomalyKind = "recovered"
	LegitimatelyLost AnomalyKind = "legitimately-lost"
	Stranded         AnomalyKind = "stranded"
	AbandonedPublish AnomalyKind = "abandoned"
	DeadLetteredCopy AnomalyKind = "dead-lettered"
	// IndeterminatePublish: refused after more than one send (see
	// OutcomeIndeterminate).
	IndeterminatePublish AnomalyKind = "indeterminate"
)

// Anomaly is one finding about one message copy (or one pair, for order).
type Anomaly struct {
	Kind      AnomalyKind `json:"kind"`
	MessageID string      `json:"id,omitempty"`
	Queue     string      `json:"queue,omitempty"`
	Publisher string      `json:"publisher,omitempty"`
	// Other is the second message of an order anomaly: the one processed
	// before (nonmonotonic) or the later one processed instead (skipped).
	Other  string `json:"other,omitempty"`
	Detail string `json:"detail"`
}

func (a Anomaly) String() string {
	var b strings.Builder
	b.WriteString(a.MessageID)
	if a.Queue != "" {
		b.WriteString("@" + a.Queue)
	}
	if a.Detail != "" {
		b.WriteString(" (" + a.Detail + ")")
	}
	return b.String()
}

// Counts are the totals of a history. Copies count (queue, message) pairs.
type Counts struct {
	// Messages: distinct message IDs attempted, and how they ended.
	Attempted          int `json:"attempted"`
	Confirmed          int `json:"confirmed"`
	ConfirmedDuplicate int `json:"confirmed_duplicate"`
	Refused            int `json:"refused"`
	Indeterminate      int `json:"indeterminate"`
	Unknown            int `json:"unknown"`
	// Copies: routed copies of attempted messages, and those of confirmed ones.
	Copies          int `json:"copies"`
	ConfirmedCopies int `json:"confirmed_copies"`
	// OK: copies of confirmed messages processed exactly once, intact.
	OK int `json:"ok"`
	// Processed: processed events in the history.
	Abandoned        int `json:"abandoned"`
	Processed        int `json:"processed"`
	Redelivered      int `json:"redelivered"`
	BrokerRestarts   int `json:"broker_restarts"`
	ReceiverCrashes  int `json:"receiver_crashes"`
	PublisherCrashes int `json:"publisher_crashes"`
}

// Report is the verdict on one history.
type Report struct {
	Counts Counts `json:"counts"`
	// Safety anomalies.
	Lost         []Anomaly `json:"lost,omitempty"`
	Unexpected   []Anomaly `json:"unexpected,omitempty"`
	Duplicated   []Anomaly `json:"duplicated,omitempty"`
	Corrupted    []Anomaly `json:"corrupted,omitempty"`
	Nonmonotonic []Anomaly `json:"nonmonotonic,omitempty"`
	Skipped      []Anomaly `json:"skipped,omitempty"`
	Malformed    []Anomaly `json:"malformed,omitempty"`
	// Liveness anomalies (I4).
	Pending []Anomaly `json:"pending,omitempty"`
	// Informational.
	Recovered        []Anomaly `json:"recovered,omitempty"`
	LegitimatelyLost []Anomaly `json:"legitimately_lost,omitempty"`
	Stranded         []Anomaly `json:"stranded,omitempty"`
	Abandoned        []Anomaly `json:"abandoned,omitempty"`
	DeadLettered     []Anomaly `json:"dead_lettered,omitempty"`
	// Indeterminate lists publishes refused after more than one send: the
	// refusal is not definite, so they may be processed ("recovered") or
	// not (then they are neither lost nor pending).
	Indeterminate []Anomaly `json:"indeterminate,omitempty"`
	// RefusedByCode counts refusals per reason code.
	RefusedByCode map[uint16]int `json:"refused_by_code,omitempty"`
}

// SafetyOK reports whether no safety invariant was violated.
func (r Report) SafetyOK() bool {
	return len(r.Lost)+len(r.Unexpected)+len(r.Duplicated)+len(r.Corrupted)+
		len(r.Nonmonotonic)+len(r.Skipped)+len(r.Malformed) == 0
}

// LivenessOK reports whether every publish resolved.
func (r Report) LivenessOK() bool { return len(r.Pending) == 0 }

// OK reports whether the history passed every check.
func (r Report) OK() bool { return r.SafetyOK() && r.LivenessOK() }

// frac is n over the copies attempted (Jepsen's -frac ratios).
func (r Report) frac(n int) float64 {
	if r.Counts.Copies == 0 {
		return 0
	}
	return float64(n) / float64(r.Counts.Copies)
}

// LostFrac, OKFrac and friends are Jepsen's ratios over attempted copies.
func (r Report) LostFrac() float64       { return r.frac(len(r.Lost)) }
func (r Report) OKFrac() float64         { return r.frac(r.Counts.OK) }
func (r Report) RecoveredFrac() float64  { return r.frac(len(r.Recovered)) }
func (r Report) UnexpectedFrac() float64 { return r.frac(len(r.Unexpected)) }
func (r Report) DuplicatedFrac() float64 { return r.frac(len(r.Duplicated)) }

// Err returns nil when the history passed, or an error carrying the summary.
func (r Report) Err() error {
	if r.OK() {
		return nil
	}
	return fmt.Errorf("invariants violated: %s", r.Summary())
}

// summaryShown is how many IDs the summary lists per category.
const summaryShown = 3

// Summary is a compact human verdict: the verdict, the totals, and each
// non-empty category with its first few message IDs.
func (r Report) Summary() string {
	var b strings.Builder
	verdict := "OK"
	switch {
	case !r.SafetyOK():
		verdict = "SAFETY VIOLATED"
	case !r.LivenessOK():
		verdict = "LIVENESS VIOLATED"
	}
	c := r.Counts
	fmt.Fprintf(&b, "%s: %d attempted (%d confirmed, %d confirmed-dup, %d refused, %d unknown), %d copies, %d processed, ok-frac %.4f",
		verdict, c.Attempted, c.Confirmed, c.ConfirmedDuplicate, c.Refused, c.Unknown, c.Copies, c.Processed, r.OKFrac())
	for _, cat := range []struct {
		name string
		list []Anomaly
	}{
		{"lost", r.Lost}, {"unexpected", r.Unexpected}, {"duplicated", r.Duplicated},
		{"corrupted", r.Corrupted}, {"nonmonotonic", r.Nonmonotonic}, {"skipped", r.Skipped},
		{"malformed", r.Malformed}, {"pending", r.Pending}, {"recovered", r.Recovered},
		{"legitimately-lost", r.LegitimatelyLost}, {"stranded", r.Stranded},
		{"abandoned", r.Abandoned}, {"dead-lettered", r.DeadLettered}, {"indeterminate", r.Indeterminate},
	} {
		if len(cat.list) == 0 {
			continue
		}
		fmt.Fprintf(&b, "; %s %d [", cat.name, len(cat.list))
		for i, a := range cat.list[:min(len(cat.list), summaryShown)] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(a.String())
		}
		if len(cat.list) > summaryShown {
			b.WriteString(", ...")
		}
		b.WriteString("]")
	}
	return b.String()
}
