package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/clients/receiver"
)

// TestLogLinesNeverBreakTheRunningCount: recv's log lines start on a
// cleared line, and the final count shows the final stats. (send's bar is
// tested in clients/sender.)
func TestLogLinesNeverBreakTheRunningCount(t *testing.T) {
	var buf bytes.Buffer
	c := newRunningCount(&buf, true)
	c.show(receiver.Stats{Received: 3, Stored: 3})
	c.show(receiver.Stats{Received: 4, Stored: 4}) // throttled
	quietLogger(c).Warn("store slow")
	c.finish(receiver.Stats{Received: 9, Stored: 8, Duplicates: 1})
	out := buf.String()
	i := strings.Index(out, "time=")
	if i < 0 || !strings.HasSuffix(out[:i], "\r\x1b[K") {
		t.Fatalf("recv's log line does not start on a cleared line: %q", out)
	}
	if !strings.HasSuffix(out, "received 9 stored 8 duplicates 1 rejected 0\x1b[K\n") {
		t.Fatalf("recv's final count is not the final stats: %q", out)
	}
}
