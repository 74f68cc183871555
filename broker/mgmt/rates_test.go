package mgmt

import (
	"testing"
	"time"
)

func TestRatesFromSampledCounters(t *testing.T) {
	r := newRates(time.Second)
	t0 := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	if got := r.queue("q", t0, counters{Published: 100}); got != (counters64{}) {
		t.Fatalf("one sample gives a rate: %+v", got)
	}
	// Inside the interval: no new sample, still no rate.
	if got := r.queue("q", t0.Add(500*time.Millisecond), counters{Published: 150}); got != (counters64{}) {
		t.Fatalf("sample inside the interval: %+v", got)
	}
	got := r.queue("q", t0.Add(2*time.Second), counters{Published: 300, Acked: 20})
	if got.Published != 100 || got.Acked != 10 {
		t.Fatalf("rates %+v, want publish 100/s ack 10/s", got)
	}
	// A redeclared queue whose counters restarted gives 0, not a huge rate.
	got = r.queue("q", t0.Add(4*time.Second), counters{Published: 5})
	if got.Published != 0 {
		t.Fatalf("restarted counters: %+v", got)
	}
	r.forget("q")
	if _, ok := r.queues["q"]; ok {
		t.Fatal("forgotten queue still sampled")
	}
	// The overview keeps a bounded history for its chart.
	for i := range maxHistory + 10 {
		r.overview("u", t0.Add(time.Duration(i)*time.Second), counters{Published: uint64(i * 10)}, i, 0)
	}
	_, hist := r.overview("u", t0.Add(time.Duration(maxHistory+10)*time.Second), counters{Published: uint64((maxHistory + 10) * 10)}, 0, 0)
	if len(hist) != maxHistory || hist[len(hist)-1].Publish != 10 {
		t.Fatalf("history: %d points, last %+v", len(hist), hist[len(hist)-1])
	}
}
