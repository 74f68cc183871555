package sender

import (
	"bytes"
	"testing"
	"time"
)

func TestSummaryWhere(t *testing.T) {
	for _, c := range []struct {
		s    Summary
		want string
	}{
		{Summary{Confirmed: 3, OnDisk: 3}, "(on disk)"},
		{Summary{}, "(on disk)"},
		{Summary{Confirmed: 3}, "(in memory only: lost if the broker stops)"},
		{Summary{Confirmed: 5, OnDisk: 2}, "(2 on disk, 3 in memory only: lost if the broker stops)"},
	} {
		if got := c.s.Where(); got != c.want {
			t.Errorf("%+v.Where() = %q, want %q", c.s, got, c.want)
		}
	}
}

func TestSummaryPrint(t *testing.T) {
	s := Summary{Sent: 10, Confirmed: 6, Duplicates: 1, OnDisk: 6, Indeterminate: 1, Unconfirmed: 1,
		Refused: map[string]int{"queue full (301)": 1, "access refused (403)": 1}, Elapsed: 2 * time.Second}
	var b bytes.Buffer
	s.Print(&b)
	want := "sent 10, confirmed 6 (duplicates 1), refused 2, unconfirmed 1 in 2s (3 msg/s)\n" +
		"  confirmed 6 (on disk)\n" +
		"  indeterminate 1: refused after a resend; an earlier attempt may have been stored\n" +
		"  refused 1: access refused (403)\n" + // reasons sorted
		"  refused 1: queue full (301)\n"
	if b.String() != want {
		t.Fatalf("Print:\n%s\nwant:\n%s", b.String(), want)
	}
	// Nothing confirmed: no "confirmed" line, and nothing else to say.
	b.Reset()
	Summary{Sent: 1, Unconfirmed: 1}.Print(&b)
	if want := "sent 1, confirmed 0 (duplicates 0), refused 0, unconfirmed 1 in 0s (0 msg/s)\n"; b.String() != want {
		t.Fatalf("Print:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestSummaryPrintRun(t *testing.T) {
	first := "sent 3, confirmed 3 (duplicates 0), refused 0, unconfirmed 0 in 0s (0 msg/s)\n  confirmed 3 (on disk)\n"
	s := Summary{Sent: 3, Confirmed: 3, OnDisk: 3}
	for _, c := range []struct {
		total   int
		stopped string
		tail    string
	}{
		{3, "", ""},  // complete
		{-1, "", ""}, // standard input read to its end
		{5, "", "  2 never sent\n"},
		{5, "interrupted", "  2 never sent (interrupted)\n"},
		{3, "--timeout passed", "  0 never sent (--timeout passed)\n"},
		{-1, "interrupted", "  the rest of standard input was never sent (interrupted)\n"},
	} {
		var b bytes.Buffer
		s.PrintRun(&b, c.total, c.stopped)
		if want := first + c.tail; b.String() != want {
			t.Errorf("PrintRun(%d, %q):\n%q\nwant\n%q", c.total, c.stopped, b.String(), want)
		}
	}
}
