package demo

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/clients/sender"
	"github.com/ciphermq/ciphermq/internal/testbroker"
)

func recordsIn(t *testing.T, path string) []inbox.Record {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var recs []inbox.Record
	if err := inbox.Scan(bytes.NewReader(raw), func(r inbox.Record) error { recs = append(recs, r); return nil }); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestRunMovesEveryMessageExactlyOnce(t *testing.T) {
	for _, format := range []string{"modern", "seed"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			var out bytes.Buffer
			res, err := Run(context.Background(), Options{Count: 300, Size: 50, Format: format, Dir: dir, Window: 64, Out: &out})
			if err != nil {
				t.Fatalf("demo: %v\n%s", err, out.String())
			}
			if err := res.Failure(); err != nil {
				t.Fatal(err)
			}
			if res.Send.Confirmed != 300 || res.Received != 300 || res.Lost != 0 || res.Twice != 0 || res.Stats.Stored != 300 {
				t.Fatalf("result = %+v", res)
			}
			label := map[string]string{"modern": "modern (cmq1)", "seed": "seed (reference RSA)"}[format]
			for _, want := range []string{
				"keys: " + filepath.Join(dir, "keys") + " (",
				"durable queue default_queue, broker data directory " + filepath.Join(dir, "broker-data") + " (fsync always)\n",
				"moving 300 " + label + " messages of 50 bytes: broker 127.0.0.1:",
				"  sent         300\n",
				"  confirmed    300 (duplicates 0, refused 0, unconfirmed 0) (on disk)\n",
				"  received     300 decrypted and stored (fsync'd before ack), 0 duplicate deliveries dropped, 0 rejected\n",
				"  lost         0\n", "  stored twice 0\n", "msg/s end to end",
				"  output       " + filepath.Join(dir, "received.jsonl") + "\n",
			} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("demo output lacks %q:\n%s", want, out.String())
				}
			}
			if got := len(recordsIn(t, res.Out)); got != 300 {
				t.Fatalf("output file holds %d records", got)
			}
		})
	}
}

func TestRunBadOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		o    Options
		want string
	}{
		{Options{Count: 0, Window: 1, Format: "modern"}, "--count and --window must be >= 1, --size >= 0"},
		{Options{Count: 1, Window: 0, Format: "modern"}, "--count and --window must be >= 1, --size >= 0"},
		{Options{Count: 1, Window: 1, Size: -1, Format: "modern"}, "--count and --window must be >= 1, --size >= 0"},
		{Options{Count: 1, Window: 1, Format: "rot13"}, "--format: "},
		{Options{Count: 1, Window: 1, Format: "modern", Dir: filepath.Join(file, "sub")}, "create --dir: "},
		{Options{Count: 1, Window: 1, Format: "modern", Dir: t.TempDir(), Durable: true, InMemory: true}, "--durable and --in-memory exclude each other"},
	} {
		_, err := Run(context.Background(), c.o)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("Run(%+v) = %v, want an error starting %q", c.o, err, c.want)
		}
	}
}

// TestRunIsDurableByDefault runs the demo twice on one directory: both
// runs move every message, reusing the keys, the broker's log is in
// DIR/broker-data, and a broker reopened on it has default_queue back.
func TestRunIsDurableByDefault(t *testing.T) {
	dir := t.TempDir()
	for run := 1; run <= 2; run++ {
		var out bytes.Buffer
		res, err := Run(context.Background(), Options{Count: 200, Size: 50, Format: "modern", Dir: dir, Window: 64, Out: &out})
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, out.String())
		}
		if err := res.Failure(); err != nil {
			t.Fatalf("run %d: %v", run, err)
		}
		if res.Send.Confirmed != 200 || res.Received != 200 || res.Lost != 0 || res.Twice != 0 || res.Send.OnDisk != 200 {
			t.Fatalf("run %d: result = %+v", run, res)
		}
	}
	if got := len(recordsIn(t, filepath.Join(dir, "received.jsonl"))); got != 400 {
		t.Fatalf("output holds %d records after two runs of 200", got)
	}
	segs, err := filepath.Glob(filepath.Join(dir, "broker-data", "*.seg"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no log segment in %s: %v %v", filepath.Join(dir, "broker-data"), segs, err)
	}
	cfg := server.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "broker-data")
	srv, _ := testbroker.Start(t, cfg)
	found := false
	for _, q := range srv.Stats().Queues {
		if q.Name == broker.DefaultQueue {
			found = q.Ready+q.Unacked == 0 // everything was acked
		}
	}
	if !found {
		t.Fatalf("reopened data directory: %s missing or not empty", broker.DefaultQueue)
	}
}

func TestRunInMemory(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	res, err := Run(context.Background(), Options{Count: 50, Size: 10, Format: "modern", Dir: dir, Window: 8, InMemory: true, Out: &out})
	if err != nil || res.Failure() != nil {
		t.Fatalf("demo: %v %v\n%s", err, res.Failure(), out.String())
	}
	for _, want := range []string{
		"in-memory broker (--in-memory): queue default_queue is lost if the broker stops\n",
		"  confirmed    50 (duplicates 0, refused 0, unconfirmed 0) (in memory only: lost if the broker stops)\n",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "broker-data")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("an in-memory demo made a broker data directory: %v", err)
	}
}

func TestRunDrawsTheBarOnlyWhenAsked(t *testing.T) {
	for _, on := range []bool{false, true} {
		var errOut bytes.Buffer
		if _, err := Run(context.Background(), Options{Count: 20, Format: "modern", Dir: t.TempDir(), Window: 8, InMemory: true, Bar: on, Err: &errOut}); err != nil {
			t.Fatal(err)
		}
		if drawn := strings.Contains(errOut.String(), "sent 20/20"); drawn != on {
			t.Errorf("Bar %v: stderr %q", on, errOut.String())
		}
	}
}

func TestPrint(t *testing.T) {
	r := Result{
		Send:     sender.Summary{Sent: 10, Confirmed: 9, Duplicates: 1, OnDisk: 4, Unconfirmed: 1, Indeterminate: 1, Refused: map[string]int{"full": 2}},
		Stats:    receiver.Stats{Duplicates: 3},
		Received: 8, Lost: 1, Twice: 2, Elapsed: 2 * time.Second, Out: "/x/received.jsonl",
	}
	var b bytes.Buffer
	Print(&b, r)
	want := `  sent         10
  confirmed    9 (duplicates 1, refused 3, unconfirmed 1) (4 on disk, 5 in memory only: lost if the broker stops)
  received     8 decrypted and stored (fsync'd before ack), 3 duplicate deliveries dropped, 0 rejected
  lost         1
  stored twice 2
  throughput   4 msg/s end to end (seal, publish, confirm, deliver, open, fsync, ack) in 2s
  output       /x/received.jsonl
`
	if b.String() != want {
		t.Fatalf("Print:\n%s\nwant:\n%s", b.String(), want)
	}
}

func TestFailure(t *testing.T) {
	if err := (Result{Send: sender.Summary{Sent: 3, Confirmed: 3}, Received: 3}).Failure(); err != nil {
		t.Fatalf("a clean run failed: %v", err)
	}
	for _, r := range []Result{
		{Lost: 1}, {Twice: 1}, {Send: sender.Summary{Unconfirmed: 1}},
		{Send: sender.Summary{Refused: map[string]int{"x": 1}}}, {Send: sender.Summary{Indeterminate: 1}},
	} {
		err := r.Failure()
		if err == nil || !strings.HasPrefix(err.Error(), "demo failed: ") {
			t.Errorf("%+v: Failure() = %v", r, err)
		}
	}
	want := "demo failed: 1 lost, 2 stored twice, 3 refused, 4 unconfirmed: this is a bug, please report it with the output above"
	if err := (Result{Lost: 1, Twice: 2, Send: sender.Summary{Refused: map[string]int{"a": 1, "b": 1}, Indeterminate: 1, Unconfirmed: 4}}).Failure(); err == nil || err.Error() != want {
		t.Fatalf("Failure() = %v, want %q", err, want)
	}
}

func TestCountInFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.jsonl")
	st, err := inbox.Open(path, inbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0).UTC()
	for _, id := range []string{"a", "b", "other"} {
		if err := st.Append(inbox.Record{MessageID: id, Queue: "q", Sender: "s", Message: []byte(id), ReceivedAt: now, StoredAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	// Store b a second time, as a broken dedup would.
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	if err := os.WriteFile(path, append(raw, lines[1]...), 0o600); err != nil {
		t.Fatal(err)
	}
	received, lost, twice, err := CountInFile(path, map[string]bool{"a": true, "b": true, "d": true})
	if err != nil {
		t.Fatal(err)
	}
	if received != 2 || lost != 1 || twice != 1 {
		t.Fatalf("received %d lost %d twice %d, want 2 1 1 (d lost, b twice, other not counted)", received, lost, twice)
	}
	if _, _, _, err := CountInFile(filepath.Join(t.TempDir(), "missing"), nil); err == nil {
		t.Fatal("a missing file counted")
	}
	if err := os.WriteFile(path, []byte("not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := CountInFile(path, nil); err == nil || !strings.Contains(err.Error(), "read back") {
		t.Fatalf("corrupt file: err = %v", err)
	}
}
