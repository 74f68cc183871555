package sender

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func warnLogger(bar *Bar) *slog.Logger {
	return slog.New(slog.NewTextHandler(bar, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// lastBar is the last bar drawn on a terminal-style stream.
func lastBar(s string) string {
	segs := strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' })
	for i := len(segs) - 1; i >= 0; i-- {
		if strings.Contains(segs[i], "msg/s") {
			return segs[i]
		}
	}
	return ""
}

// TestLogLinesNeverBreakTheBar: a log line written while a bar is drawn
// starts on a cleared line, and the bar comes back below it; the last bar
// drawn shows the final counts even when the last update was throttled.
func TestLogLinesNeverBreakTheBar(t *testing.T) {
	var buf bytes.Buffer
	bar := NewBar(&buf, 1000, true)
	bar.Update(100, 50)
	bar.Update(110, 60) // throttled: within 100ms of the first draw
	warnLogger(bar).Warn("reconnecting", "attempt", 1)
	bar.Update(120, 70) // throttled too
	bar.Finish()
	out := buf.String()
	if !strings.HasPrefix(out, "\r[===                           ]  10% sent 100/1000 confirmed 50 ") {
		t.Fatalf("first bar: %q", out)
	}
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
	if last := lastBar(out); !strings.Contains(last, "sent 120/1000 confirmed 70 ") {
		t.Fatalf("final bar %q does not show the final counts (120 sent, 70 confirmed)", last)
	}
	if !strings.HasSuffix(out, "\n") {
		t.Fatalf("the final bar's line is not ended: %q", out)
	}
}

func TestBarOfAnUnknownTotal(t *testing.T) {
	var buf bytes.Buffer
	bar := NewBar(&buf, -1, true)
	bar.Update(7, 3)
	bar.Finish()
	if out := buf.String(); !strings.HasPrefix(out, "\rsent 7 confirmed 3 ") || strings.Contains(out, "]") {
		t.Fatalf("bar of an unknown total: %q", out)
	}
}

func TestNoBarWhenOff(t *testing.T) {
	var buf bytes.Buffer
	bar := NewBar(&buf, 10, false)
	bar.Update(10, 10)
	warnLogger(bar).Warn("x")
	bar.Finish()
	if out := buf.String(); strings.Contains(out, "\r") || strings.Contains(out, "sent 10") || !strings.Contains(out, "msg=x") {
		t.Fatalf("off: want the log line only, got %q", out)
	}
	var nilBar *Bar
	nilBar.Update(1, 1) // a nil bar ignores updates
	nilBar.Finish()
}
