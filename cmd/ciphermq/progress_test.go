package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/clients/receiver"
)

// TestLogLinesNeverBreakTheProgressLine: a log line written while a bar is
// drawn starts on a cleared line, and the bar comes back below it; the last
// bar drawn shows the final counts even when the last update was throttled.
func TestLogLinesNeverBreakTheProgressLine(t *testing.T) {
	var buf bytes.Buffer
	bar := newProgress(&buf, 1000, true)
	bar.update(10, 5)
	bar.update(11, 6) // throttled: within 100ms of the first draw
	quietLogger(bar).Warn("reconnecting", "attempt", 1)
	bar.update(12, 7) // throttled too
	bar.finish()
	out := buf.String()
	i := strings.Index(out, "time=")
	if i < 0 {
		t.Fatalf("no log line:\n%q", out)
	}
	if !strings.HasSuffix(out[:i], "\r\x1b[K") {
		t.Fatalf("the log line does not start on a cleared line: %q", out)
	}
	if after := out[i:]; !strings.Contains(after, "\n\r[") {
		t.Fatalf("the bar is not drawn again below the log line: %q", after)
	}
	if last := lastLine(out); !strings.Contains(last, "sent 12/1000 confirmed 7 ") {
		t.Fatalf("final bar %q does not show the final counts (12 sent, 7 confirmed)", last)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("the final bar's line is not ended: %q", out)
	}

	buf.Reset()
	c := newRunningCount(&buf, true)
	c.show(receiver.Stats{Received: 3, Stored: 3})
	c.show(receiver.Stats{Received: 4, Stored: 4}) // throttled
	quietLogger(c).Warn("store slow")
	c.finish(receiver.Stats{Received: 9, Stored: 8, Duplicates: 1})
	out = buf.String()
	i = strings.Index(out, "time=")
	if i < 0 || !strings.HasSuffix(out[:i], "\r\x1b[K") {
		t.Fatalf("recv's log line does not start on a cleared line: %q", out)
	}
	if !strings.HasSuffix(out, "received 9 stored 8 duplicates 1 rejected 0\x1b[K\n") {
		t.Fatalf("recv's final count is not the final stats: %q", out)
	}
}

func TestNoProgressWhenNotATerminal(t *testing.T) {
	var buf bytes.Buffer
	bar := newProgress(&buf, 10, false) // a bytes.Buffer is not a terminal
	bar.update(10, 10)
	quietLogger(bar).Warn("x")
	bar.finish()
	if out := buf.String(); strings.Contains(out, "\r") || strings.Contains(out, "sent 10") {
		t.Fatalf("progress drawn on a non-terminal: %q", out)
	}
}
