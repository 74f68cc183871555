package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// TestPubRingTimesConfirms: each confirm is timed from the arrival of the
// batch that carried its publish; marks the confirms have passed are
// forgotten; a full ring folds later batches into its newest mark.
func TestPubRingTimesConfirms(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	var r pubRing
	r.push(3, at(0)) // seqs 1..3
	r.push(5, at(1)) // seqs 4..5
	for _, c := range []struct {
		seq  uint64
		want time.Time
	}{{1, at(0)}, {3, at(0)}, {4, at(1)}, {5, at(1)}} {
		got, ok := r.take(c.seq)
		if !ok || !got.Equal(c.want) {
			t.Fatalf("take(%d) = %v, %v; want %v", c.seq, got, ok, c.want)
		}
	}
	if _, ok := r.take(6); ok {
		t.Fatal("take(6) found a mark: every mark was passed")
	}
	for i := range len(r.marks) + 3 {
		r.push(uint64(10+i), at(10+i))
	}
	if r.n != len(r.marks) {
		t.Fatalf("ring holds %d marks, want it full (%d)", r.n, len(r.marks))
	}
	// The last mark absorbed the batches pushed while full: its time is
	// the earliest of them, its seq the latest.
	last := r.marks[(r.head+r.n-1)%len(r.marks)]
	if last.seq != uint64(10+len(r.marks)+2) || !last.at.Equal(at(10+len(r.marks)-1)) {
		t.Fatalf("newest mark %+v after overflow", last)
	}
}

func TestHistogramBuckets(t *testing.T) {
	var h histogram
	h.observe(30 * time.Microsecond) // first bucket (≤ 50µs)
	h.observe(time.Millisecond)      // exactly on a bound: that bucket
	h.observe(time.Minute)           // above every bound
	h.observe(-time.Second)          // clock step: counted as 0
	s := h.snapshot()
	if s.Count != 4 || len(s.Counts) != len(LatencyBounds)+1 {
		t.Fatalf("snapshot %+v", s)
	}
	ms := 0
	for i, b := range LatencyBounds {
		if b == 0.001 {
			ms = i
		}
	}
	if s.Counts[0] != 2 || s.Counts[ms] != 1 || s.Counts[len(LatencyBounds)] != 1 {
		t.Fatalf("bucket counts %v: want 2 in the first, 1 at 1ms (index %d), 1 above the last bound", s.Counts, ms)
	}
	if want := (30*time.Microsecond + time.Millisecond + time.Minute).Seconds(); s.Sum != want {
		t.Fatalf("sum %v, want %v", s.Sum, want)
	}
}

// TestAuthFailuresAreAuditRecords: a failed native login and a refused
// operation are logged with audit=true and their event.
func TestAuthFailuresAreAuditRecords(t *testing.T) {
	cfg := authConfig()
	cfg.Auth.UsersFile = writeUsers(t,
		access.User{Name: "alice", PasswordHash: hashFor(t, "alice-pw", cheapArgon2), Permissions: map[string]access.Permissions{"/": {Read: ".*"}}},
	)
	var logs lockedBuffer
	srv, err := New(cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr := serveUntilCleanup(t, srv, srv.Serve)
	if f, _ := authFirstFrame(t, addr, plain("alice", "nope")); f.FrameType() != wire.FrameError {
		t.Fatalf("wrong password answered %#v", f)
	}
	f, c := authFirstFrame(t, addr, plain("alice", "alice-pw"))
	if f.FrameType() != wire.FrameHelloOK {
		t.Fatalf("right password answered %#v", f)
	}
	if _, e := c.request(wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: "q"})); e == nil || e.Code != uint16(broker.CodeAccessRefused) {
		t.Fatalf("declare without configure permission answered %#v", e)
	}
	events := map[string]bool{}
	eventually(t, "both audit records", func() bool {
		for _, line := range strings.Split(logs.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) == nil && rec["audit"] == true {
				events[rec["event"].(string)] = true
			}
		}
		return events["auth_failure"] && events["access_refused"]
	})
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestDeliverSampling: one read with publishes in deliverSampleEvery is
// remembered by message id, timed at that id's first delivery and then
// forgotten; redeliveries and unsampled ids are not timed; the samples
// stay bounded, and stale ones make room.
func TestDeliverSampling(t *testing.T) {
	s, err := New(testConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(1000, 0)
	for i := 1; i <= 2*deliverSampleEvery; i++ {
		s.sampleDeliver([]byte(fmt.Sprintf("m%d", i)), t0)
	}
	if len(s.ops.deliverSamples) != 2 {
		t.Fatalf("%d samples after %d reads, want 2", len(s.ops.deliverSamples), 2*deliverSampleEvery)
	}
	first := fmt.Sprintf("m%d", deliverSampleEvery)
	s.observeDeliver(&broker.Delivery{MessageID: "m1", DeliveryCount: 1}, t0.Add(time.Second))
	s.observeDeliver(&broker.Delivery{MessageID: first, DeliveryCount: 2}, t0.Add(time.Second))
	if s.ops.deliverLatency.count != 0 {
		t.Fatal("an unsampled id or a redelivery was timed")
	}
	s.observeDeliver(&broker.Delivery{MessageID: first, DeliveryCount: 1}, t0.Add(3*time.Millisecond))
	s.observeDeliver(&broker.Delivery{MessageID: first, DeliveryCount: 1}, t0.Add(time.Second)) // another queue's copy
	if h := s.ops.deliverLatency.snapshot(); h.Count != 1 || h.Sum != 0.003 {
		t.Fatalf("histogram %+v, want one observation of 3ms", h)
	}
	// Bounded: a full set of recent samples takes no more; once they are
	// stale, they make room.
	for i := range (maxDeliverSamples + 10) * deliverSampleEvery {
		s.sampleDeliver([]byte(fmt.Sprintf("n%d", i)), t0)
	}
	if n := len(s.ops.deliverSamples); n != maxDeliverSamples {
		t.Fatalf("%d samples, want the bound %d", n, maxDeliverSamples)
	}
	for range deliverSampleEvery {
		s.sampleDeliver([]byte("late"), t0.Add(deliverSampleMaxAge))
	}
	if _, ok := s.ops.deliverSamples["late"]; !ok || len(s.ops.deliverSamples) != 1 {
		t.Fatalf("stale samples not dropped: %d left", len(s.ops.deliverSamples))
	}
}
