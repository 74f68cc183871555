package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDemoMovesEveryMessageExactlyOnce(t *testing.T) {
	for _, format := range []string{"modern", "seed"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			var out bytes.Buffer
			res, err := runDemo(context.Background(), &out, io.Discard, &demoOptions{count: 300, size: 50, format: format, dir: dir, window: 64})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			if err := res.failure(); err != nil {
				t.Fatal(err)
			}
			if res.send.Confirmed != 300 || res.received != 300 || res.lost != 0 || res.twice != 0 || res.stats.Stored != 300 {
				t.Fatalf("result = %+v", res)
			}
			for _, want := range []string{"lost         0", "stored twice 0", filepath.Join(dir, "received.jsonl"), "msg/s"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("demo output lacks %q:\n%s", want, out.String())
				}
			}
			if got := len(recordsIn(res.out)); got != 300 {
				t.Fatalf("output file holds %d records", got)
			}
		})
	}
}

func TestDemoCommandReusesKeysInDir(t *testing.T) {
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		cmd := newDemoCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(io.Discard)
		cmd.SetArgs([]string{"--count", "20", "--dir", dir})
		if err := cmd.Execute(); err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out.String())
		}
	}
	// Both runs appended to the same store with the same keys.
	if got := len(recordsIn(filepath.Join(dir, "received.jsonl"))); got != 40 {
		t.Fatalf("output holds %d records after two runs of 20", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "keys", "receiver.key")); err != nil {
		t.Fatal(err)
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, o := range []*demoOptions{{count: 0, window: 1, format: "modern"}, {count: 1, window: 1, format: "rot13"}} {
		if _, err := runDemo(context.Background(), io.Discard, io.Discard, o); err == nil {
			t.Errorf("runDemo(%+v) succeeded", o)
		}
	}
}

// TestDemoDurableGoesThroughADurableQueue runs the demo twice on one
// directory (durable by default): both runs move every message, the broker's log
// is in DIR/broker-data, and the second run reopens it.
func TestDemoIsDurableByDefault(t *testing.T) {
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		var out bytes.Buffer
		res, err := runDemo(context.Background(), &out, io.Discard, &demoOptions{count: 200, size: 50, format: "modern", dir: dir, window: 64})
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out.String())
		}
		if err := res.failure(); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if res.send.Confirmed != 200 || res.received != 200 || res.lost != 0 || res.twice != 0 {
			t.Fatalf("run %d: result = %+v", run, res)
		}
		if want := "durable queue " + defaultQueue; !strings.Contains(out.String(), want) {
			t.Errorf("run %d: output lacks %q:\n%s", run, want, out.String())
		}
	}
	segs, err := filepath.Glob(filepath.Join(dir, "broker-data", "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no log segment in %s: %v %v", filepath.Join(dir, "broker-data"), segs, err)
	}
	if got := len(recordsIn(filepath.Join(dir, "received.jsonl"))); got != 400 {
		t.Fatalf("output holds %d records after two runs of 200", got)
	}
	// A broker opened on the demo's data directory has the queue back
	// (empty: everything was acked), so it really was declared durable.
	srv, _, _ := startDurableBroker(t, filepath.Join(dir, "broker-data"))
	if got := queueReady(srv, defaultQueue); got != 0 {
		t.Fatalf("queue %s after reopening the demo's data directory: %d messages held (-1: missing), want 0", defaultQueue, got)
	}
}
