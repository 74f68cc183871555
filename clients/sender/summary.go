package sender

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"time"
)

// This file is what `ciphermq send` (and the demo) print about a run.

// Where says where the confirmed messages are, as the broker's confirms
// said: "(on disk)", "(in memory only: lost if the broker stops)", or a mix
// with counts.
func (s Summary) Where() string {
	const mem = "in memory only: lost if the broker stops"
	switch inMem := s.Confirmed - s.OnDisk; {
	case inMem == 0:
		return "(on disk)"
	case s.OnDisk == 0:
		return "(" + mem + ")"
	default:
		return fmt.Sprintf("(%d on disk, %d %s)", s.OnDisk, inMem, mem)
	}
}

// Print writes the summary: one line scripts parse (sent, confirmed,
// duplicates, refused, unconfirmed, time, rate), then where the confirmed
// messages are, the indeterminate count and every refusal reason, sorted.
func (s Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "sent %d, confirmed %d (duplicates %d), refused %d, unconfirmed %d in %s (%.0f msg/s)\n",
		s.Sent, s.Confirmed, s.Duplicates, s.RefusedTotal(), s.Unconfirmed, s.Elapsed.Round(time.Millisecond), s.Rate())
	if s.Confirmed > 0 {
		// A line of its own: the first line's format is what scripts parse.
		fmt.Fprintf(w, "  confirmed %d %s\n", s.Confirmed, s.Where())
	}
	if s.Indeterminate > 0 {
		fmt.Fprintf(w, "  indeterminate %d: refused after a resend; an earlier attempt may have been stored\n", s.Indeterminate)
	}
	for _, reason := range slices.Sorted(maps.Keys(s.Refused)) {
		fmt.Fprintf(w, "  refused %d: %s\n", s.Refused[reason], reason)
	}
}

// PrintRun prints the summary of a run asked to send total messages (-1:
// unknown, read from standard input) that stopped early for the reason
// stopped ("" if it did not): Print's lines, then how many messages were
// never sent and why, when some were not or the run stopped early.
func (s Summary) PrintRun(w io.Writer, total int, stopped string) {
	s.Print(w)
	if total < 0 && stopped == "" {
		return
	}
	if total >= 0 && total == s.Sent && stopped == "" {
		return
	}
	line := "  " + NeverSent(total, s.Sent)
	if stopped != "" {
		line += " (" + stopped + ")"
	}
	fmt.Fprintln(w, line)
}

// NeverSent says how many of a run's total messages (-1: unknown, read
// from standard input) were never published.
func NeverSent(total, sent int) string {
	if total < 0 {
		return "the rest of standard input was never sent"
	}
	return fmt.Sprintf("%d never sent", total-sent)
}
