package runner

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver"
)

func TestPrintRecord(t *testing.T) {
	for msg, want := range map[string]string{
		"hello world": "m-1\tk1\thello world\n",
		"tab\there":   "m-1\tk1\t\"tab\\there\"\n",
		"\xff\xfe":    "m-1\tk1\t\"\\xff\\xfe\"\n",
		"":            "m-1\tk1\t\n",
	} {
		var b bytes.Buffer
		PrintRecord(&b, inbox.Record{MessageID: "m-1", Sender: "k1", Message: []byte(msg)})
		if b.String() != want {
			t.Errorf("PrintRecord(%q) = %q, want %q", msg, b.String(), want)
		}
	}
}

func TestSummaryPrint(t *testing.T) {
	s := Summary{Stats: receiver.Stats{Received: 10, Stored: 7, Duplicates: 1, Rejected: map[string]uint64{"bad signature": 1, "untrusted sender": 1}},
		Elapsed: 1500 * time.Millisecond, Out: "out.jsonl", Total: 20, Queue: "orders", DLQ: "orders.dlq"}
	var b bytes.Buffer
	s.Print(&b)
	want := "received 10, stored 7, duplicates 1, rejected 2 in 1.5s\n" +
		"rejected 2 to dead-letter queue orders.dlq (list: ciphermq dlq list --queue orders; replay: ciphermq dlq move --queue orders):\n" +
		"  1 bad signature\n  1 untrusted sender\n" +
		"output: out.jsonl (20 messages in all)\n"
	if b.String() != want {
		t.Fatalf("Print:\n%s\nwant:\n%s", b.String(), want)
	}
	s.DLQ = ""
	b.Reset()
	s.Print(&b)
	if !strings.Contains(b.String(), "rejected 2 to the dead-letter queue of orders, if it has one (recv did not declare it):\n") {
		t.Fatalf("unknown dead-letter queue:\n%s", b.String())
	}
	b.Reset()
	Summary{Stats: receiver.Stats{Received: 3, Stored: 3}, Out: "o", Total: 3, Queue: "q"}.Print(&b)
	if want := "received 3, stored 3, duplicates 0, rejected 0 in 0s\noutput: o (3 messages in all)\n"; b.String() != want {
		t.Fatalf("clean run:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestSummaryRejectedErr(t *testing.T) {
	if err := (Summary{Stats: receiver.Stats{Stored: 3}, Queue: "q", DLQ: "q.dlq"}).RejectedErr(); err != nil {
		t.Fatalf("nothing rejected: %v", err)
	}
	rej := receiver.Stats{Rejected: map[string]uint64{"x": 2}}
	err := Summary{Stats: rej, Queue: "q", DLQ: "q.dlq"}.RejectedErr()
	if want := "rejected 2 message(s) to dead-letter queue q.dlq: `ciphermq dlq list --queue q` shows them, `ciphermq dlq move` replays them"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
	err = Summary{Stats: rej, Queue: "q"}.RejectedErr()
	if want := "rejected 2 message(s) to wherever queue q's own options send them (recv did not declare it)"; err == nil || err.Error() != want {
		t.Fatalf("err = %v, want %q", err, want)
	}
}

// TestLogLinesNeverBreakTheCount: log lines start on a cleared line, the
// count comes back below them, and the final count shows the final stats.
func TestLogLinesNeverBreakTheCount(t *testing.T) {
	var buf bytes.Buffer
	c := NewCount(&buf, true)
	log := slog.New(slog.NewTextHandler(c, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c.Show(receiver.Stats{Received: 3, Stored: 3})
	c.Show(receiver.Stats{Received: 4, Stored: 4}) // throttled
	log.Warn("store slow")
	c.Finish(receiver.Stats{Received: 9, Stored: 8, Duplicates: 1})
	out := buf.String()
	if !strings.HasPrefix(out, "\rreceived 3 stored 3 duplicates 0 rejected 0\x1b[K") {
		t.Fatalf("first count: %q", out)
	}
	i := strings.Index(out, "time=")
	if i < 0 || !strings.HasSuffix(out[:i], "\r\x1b[K") {
		t.Fatalf("the log line does not start on a cleared line: %q", out)
	}
	if !strings.HasSuffix(out, "received 9 stored 8 duplicates 1 rejected 0\x1b[K\n") {
		t.Fatalf("the final count is not the final stats: %q", out)
	}
}

func TestCountOff(t *testing.T) {
	var buf bytes.Buffer
	c := NewCount(&buf, false)
	c.Show(receiver.Stats{Received: 1})
	_, _ = c.Write([]byte("log line\n"))
	c.Finish(receiver.Stats{Received: 2})
	if buf.String() != "log line\n" {
		t.Fatalf("off: %q, want the log line only", buf.String())
	}
}
