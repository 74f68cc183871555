package termline

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestLogLinesGoAboveTheStatusLine(t *testing.T) {
	var out bytes.Buffer
	n := 0
	l := New(&out, true, func(time.Time) string { return "status " + string(rune('0'+n)) })
	l.Update(func() { n = 1 }, false)
	if _, err := l.Write([]byte("log line\n")); err != nil {
		t.Fatal(err)
	}
	l.Finish(func() { n = 2 })
	want := "\rstatus 1\x1b[K" + "\r\x1b[K" + "log line\n" + "\rstatus 1\x1b[K" + "\rstatus 2\x1b[K\n"
	if out.String() != want {
		t.Fatalf("output %q, want %q", out.String(), want)
	}
}

func TestUpdatesAreThrottledUnlessForced(t *testing.T) {
	var out bytes.Buffer
	n := 0
	l := New(&out, true, func(time.Time) string { return "n" })
	for range 100 {
		l.Update(func() { n++ }, false) // well inside one Interval
	}
	if got := strings.Count(out.String(), "\rn"); got != 1 {
		t.Fatalf("%d draws for 100 quick updates, want 1", got)
	}
	if n != 100 {
		t.Fatalf("set ran %d times, want 100 (state is recorded even when not drawn)", n)
	}
	l.Update(nil, true)
	if got := strings.Count(out.String(), "\rn"); got != 2 {
		t.Fatalf("a forced update did not draw: %d draws", got)
	}
}

func TestOffPassesLogLinesThroughAndDrawsNothing(t *testing.T) {
	var out bytes.Buffer
	l := New(&out, false, func(time.Time) string { return "status" })
	l.Update(nil, true)
	if _, err := l.Write([]byte("log\n")); err != nil {
		t.Fatal(err)
	}
	l.Finish(nil)
	if out.String() != "log\n" {
		t.Fatalf("output %q, want only the log line", out.String())
	}
}
