package crossbroker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/internal/check"
	"github.com/ciphermq/ciphermq/scenarios/realworld"
)

// TestResetsEveryBroker runs the "resets" scenario once against the
// durable configuration of each broker whose binary is installed: the
// proxy must reset connections, every publish must resolve, and nothing
// confirmed may be lost nor anything unpublished appear. Duplicates are
// logged, not failed: RabbitMQ has no publish dedup, so a retried publish
// whose first confirm was lost is a second message by design (see
// docs/testing.md, "Other brokers"). The full table (every configuration,
// every scenario) is `ciphermq scenario matrix --targets ciphermq,rabbitmq,nats`.
func TestResetsEveryBroker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts real brokers (RabbitMQ takes ~30 s); the full table is `ciphermq scenario matrix --targets ciphermq,rabbitmq,nats`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	bin, err := realworld.BuildBinary(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sc, ok := Lookup("resets")
	if !ok {
		t.Fatal("no resets scenario")
	}
	for _, name := range []string{"ciphermq-durable", "rabbitmq-quorum", "nats-file"} {
		t.Run(name, func(t *testing.T) {
			tg, err := NewTarget(name, Options{CipherBinary: bin})
			if err != nil {
				t.Fatal(err)
			}
			if err := tg.Available(); err != nil {
				t.Skipf("%s is not installed here: %v; bench/compare installs it, and `ciphermq scenario matrix --targets %s` runs the full table", name, err, name)
			}
			res := Run(ctx, name, sc, Options{CipherBinary: bin}, Config{Seed: 1, Dir: t.TempDir(), Timeout: 4 * time.Minute})
			t.Logf("%s: %s; duplicated %d, indeterminate attempts %d; notes %v", name, res.Report.Summary(),
				len(res.Report.Duplicated), res.Indeterminate, res.Notes)
			if res.Err != nil {
				t.Fatalf("run incomplete: %v (files in %s)", res.Err, res.Dir)
			}
			if n := len(res.Report.Lost); n > 0 {
				t.Errorf("%d confirmed messages lost, e.g. %v", n, res.Report.Lost[0])
			}
			if n := len(res.Report.Unexpected) + len(res.Report.Corrupted); n > 0 {
				t.Errorf("%d unexpected or corrupted messages", n)
			}
			if n := len(res.Report.Pending); n > 0 {
				t.Errorf("%d publishes or copies still pending after the liveness phase", n)
			}
			if res.Report.Counts.Processed == 0 {
				t.Error("nothing was processed: the run tested nothing")
			}
		})
	}
}

func TestExpandTargets(t *testing.T) {
	got, err := ExpandTargets("nats, rabbitmq-quorum,nats-file")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"nats-memory", "nats-file", "rabbitmq-quorum"}; !slices.Equal(got, want) {
		t.Fatalf("ExpandTargets = %v, want %v", got, want)
	}
	for _, bad := range []string{"kafka", "", " , "} {
		if _, err := ExpandTargets(bad); err == nil {
			t.Errorf("ExpandTargets(%q) accepted", bad)
		}
	}
}

// TestIndeterminateCount: a message attempted twice counts once as
// indeterminate, one attempted once not at all, an abandoned one as
// abandoned.
func TestIndeterminateCount(t *testing.T) {
	r := &run{}
	d := check.DigestOf([]byte("x"))
	r.record(check.Attempt(0, "p1", "a", 1, d, queueName))
	r.record(check.Attempt(1, "p1", "a", 1, d, queueName))
	r.record(check.Confirmed(2, "p1", "a"))
	r.record(check.Attempt(3, "p1", "b", 2, d, queueName))
	r.record(check.Confirmed(4, "p1", "b"))
	r.record(check.Attempt(5, "p1", "c", 3, d, queueName))
	r.record(check.Abandoned(6, "p1", "c", "gave up"))
	retried, abandoned := r.indeterminate()
	if retried != 1 || abandoned != 1 {
		t.Fatalf("indeterminate() = %d retried, %d abandoned; want 1, 1", retried, abandoned)
	}
}

// TestRedeliveredDuplicates: a second copy flagged redelivered counts as a
// redelivery; one not flagged (a republished message) does not.
func TestRedeliveredDuplicates(t *testing.T) {
	r := &run{}
	d := check.DigestOf([]byte("x"))
	r.record(check.Processed(0, "c1", queueName, "a", d, false))
	r.record(check.Processed(1, "c1", queueName, "a", d, true))
	r.record(check.Processed(2, "c1", queueName, "b", d, false))
	r.record(check.Processed(3, "c1", queueName, "b", d, false))
	r.record(check.Processed(4, "c1", queueName, "c", d, false))
	if got := r.redeliveredDuplicates(); got != 1 {
		t.Fatalf("redeliveredDuplicates() = %d, want 1", got)
	}
}
