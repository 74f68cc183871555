package bench

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func openInproc(t *testing.T) Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := Open(ctx, "ciphermq-inproc", TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := tg.Close(); err != nil {
			t.Errorf("closing the in-process broker: %v", err)
		}
	})
	return tg
}

func runOrFail(t *testing.T, tg Target, cfg Config) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := Run(ctx, tg, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// A real, small, count-based run against the in-process broker: every
// message confirmed and received exactly once. No speed is asserted.
func TestRunInprocCountNothingLostNothingDuplicated(t *testing.T) {
	tg := openInproc(t)
	for _, cfg := range []Config{
		{Publishers: 2, Consumers: 2, Count: 2001, Size: 100},
		{Count: 300, Encryption: EncryptionModern, ExchangeType: "topic"},
		{Count: 200, Protocol: "text", ExchangeType: "fanout", Size: 64},
		{Count: 20, Encryption: EncryptionSeed, Window: 4, Prefetch: 2},
	} {
		name := cfg.Encryption + "/" + cfg.Protocol + "/" + cfg.ExchangeType
		t.Run(name, func(t *testing.T) {
			var progressed atomic.Int64
			cfg.Progress = func(Progress) { progressed.Add(1) }
			res := runOrFail(t, tg, cfg)
			if !res.OK() || res.Confirmed != cfg.Count || res.Unique != cfg.Count || res.Received != cfg.Count || res.Unconfirm != 0 {
				t.Fatalf("want %d confirmed and received once each, got %+v error %q", cfg.Count, res.Tally, res.Error)
			}
			if res.MsgsPerSec <= 0 || res.LatencyMaxus <= 0 || res.LatencyP50us > res.LatencyMaxus {
				t.Fatalf("figures missing or inconsistent: %+v", res)
			}
			if res.SendLagP50us != -1 || res.SendLagP99us != -1 || res.SendLagMaxus != -1 {
				t.Fatalf("a closed-loop run has no schedule, so no send lag; got %v/%v/%v", res.SendLagP50us, res.SendLagP99us, res.SendLagMaxus)
			}
			if cfg.Encryption != "" && res.WireSize <= res.Size {
				t.Fatalf("encrypted wire size %d not above plaintext %d", res.WireSize, res.Size)
			}
		})
	}
}

func TestRunOpenLoopDuration(t *testing.T) {
	tg := openInproc(t)
	res := runOrFail(t, tg, Config{Duration: 300 * time.Millisecond, Rate: 1000, Publishers: 2})
	if !res.OK() || res.Confirmed == 0 {
		t.Fatalf("open-loop run: %+v error %q", res.Tally, res.Error)
	}
	// 1000/s for 0.3 s: the schedule, not the broker's speed, bounds it.
	if res.Confirmed > 400 {
		t.Fatalf("open loop at 1000/s for 300ms sent %d messages: the rate is not applied", res.Confirmed)
	}
	if res.SendLagP50us < 0 || res.SendLagP50us > res.SendLagP99us || res.SendLagP99us > res.SendLagMaxus {
		t.Fatalf("send lag p50/p99/max %v/%v/%v: missing or out of order", res.SendLagP50us, res.SendLagP99us, res.SendLagMaxus)
	}
}

// faultyTarget wraps a target and breaks the delivery path the way a buggy
// broker would, to prove the ledger catches it.
type faultyTarget struct {
	Target
	drop, dup func(n int64) bool
	n         atomic.Int64
}

func (f *faultyTarget) NewConsumer(ctx context.Context, i int, deliver Deliver) (Consumer, error) {
	return f.Target.NewConsumer(ctx, i, func(id string, prefix, body []byte) {
		n := f.n.Add(1)
		if f.drop != nil && f.drop(n) {
			return // acked by the target, never seen: lost
		}
		deliver(id, prefix, body)
		if f.dup != nil && f.dup(n) {
			deliver(id, prefix, body)
		}
	})
}

func TestRunReportsLostMessages(t *testing.T) {
	tg := &faultyTarget{Target: openInproc(t), drop: func(n int64) bool { return n%50 == 0 }}
	res := runOrFail(t, tg, Config{Count: 500, DrainTimeout: 300 * time.Millisecond})
	if res.Lost != 10 || res.OK() || !strings.Contains(res.Error, "drain timeout") {
		t.Fatalf("dropped every 50th of 500: want lost 10 and a drain-timeout error, got %+v %q", res.Tally, res.Error)
	}
}

func TestRunReportsDuplicatedMessages(t *testing.T) {
	tg := &faultyTarget{Target: openInproc(t), dup: func(n int64) bool { return n%100 == 0 }}
	res := runOrFail(t, tg, Config{Count: 500})
	if res.Duplicated != 5 || res.Lost != 0 || res.OK() {
		t.Fatalf("delivered every 100th of 500 twice: want duplicated 5, got %+v", res.Tally)
	}
}

// tamperTarget flips a byte of every body: the run must not count it as a
// good receipt.
type tamperTarget struct{ Target }

func (f tamperTarget) NewConsumer(ctx context.Context, i int, deliver Deliver) (Consumer, error) {
	return f.Target.NewConsumer(ctx, i, func(id string, prefix, body []byte) {
		b := append([]byte(nil), body...)
		b[len(b)-1] ^= 1
		deliver(id, prefix, b)
	})
}

func TestRunRejectsTamperedEnvelopes(t *testing.T) {
	res := runOrFail(t, tamperTarget{openInproc(t)}, Config{Count: 20, Encryption: EncryptionModern, DrainTimeout: 200 * time.Millisecond})
	if res.OK() || res.Foreign != 20 || res.Lost != 20 || res.Unique != 0 {
		t.Fatalf("every envelope tampered: want 20 foreign and 20 lost, got %+v %q", res.Tally, res.Error)
	}
}

func TestRunRefusesBadConfigBeforeTouchingTheTarget(t *testing.T) {
	if _, err := Run(context.Background(), nil, Config{Size: 3}); err == nil {
		t.Fatal("size 3 accepted")
	}
}

// runWithin runs cfg on tg in the background and fails the test if the run
// has not returned by waitFor (the stuck run is then left behind: the test
// has failed).
func runWithin(t *testing.T, ctx context.Context, tg Target, cfg Config, waitFor time.Duration, why string) Result {
	t.Helper()
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := Run(ctx, tg, cfg)
		done <- outcome{res, err}
	}()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatal(o.err)
		}
		return o.res
	case <-deadline.C:
		t.Fatalf("the run had not returned after %v: %s", waitFor, why)
		return Result{}
	}
}

// One message an hour: the second one is due long after the run's
// duration, so the run ends at its duration instead of sleeping until then.
func TestRunOpenLoopEndsAtItsDurationNotAtTheNextIntendedTime(t *testing.T) {
	tg := openInproc(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res := runWithin(t, ctx, tg, Config{Duration: 200 * time.Millisecond, Rate: 1.0 / 3600}, time.Minute,
		"the publisher waits for a message due an hour later, after the run's end")
	if !res.OK() || res.Confirmed != 1 {
		t.Fatalf("want the one message due inside the run confirmed; got %+v error %q", res.Tally, res.Error)
	}
}

// A cancelled run ends even while its pacer is waiting for its second
// message, due an hour later.
func TestRunOpenLoopEndsWhenCancelledWhilePacing(t *testing.T) {
	tg := openInproc(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	cfg := Config{Duration: 2 * time.Hour, Rate: 1.0 / 3600, DrainTimeout: time.Second,
		Progress: func(Progress) { once.Do(cancel) }} // the first report comes while the pacer waits
	res := runWithin(t, ctx, tg, cfg, time.Minute, "the pacer ignores the cancelled context")
	if !strings.Contains(res.Error, context.Canceled.Error()) {
		t.Fatalf("a cancelled run reported error %q; want it to say it was cancelled", res.Error)
	}
}
