package runner

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/clients/receiver"
	"github.com/ciphermq/ciphermq/internal/termline"
)

// This file is what `ciphermq recv` prints: each stored message (--print),
// the running count, the summary and the verdict on rejections.

// PrintRecord writes one stored message: id, sender and the plaintext,
// tab-separated, the plaintext quoted when it is not printable text.
func PrintRecord(w io.Writer, rec inbox.Record) {
	msg := string(rec.Message)
	if !utf8.Valid(rec.Message) || strconv.Quote(msg) != `"`+msg+`"` {
		msg = strconv.Quote(msg)
	}
	fmt.Fprintf(w, "%s\t%s\t%s\n", rec.MessageID, rec.Sender, msg)
}

// Summary is what a receiver run did, as recv prints it.
type Summary struct {
	Stats   receiver.Stats
	Elapsed time.Duration
	Out     string // the output file
	Total   int    // messages in the output file, this run's and earlier ones
	Queue   string
	DLQ     string // the queue's dead-letter queue; "" if unknown
}

// Print writes the summary: the counts, where rejected messages went with
// every reason and its count, and the output file.
func (s Summary) Print(w io.Writer) {
	st := s.Stats
	fmt.Fprintf(w, "received %d, stored %d, duplicates %d, rejected %d in %s\n",
		st.Received, st.Stored, st.Duplicates, st.RejectedTotal(), s.Elapsed.Round(time.Millisecond))
	if n := st.RejectedTotal(); n > 0 {
		if s.DLQ != "" {
			fmt.Fprintf(w, "rejected %d to dead-letter queue %s (list: ciphermq dlq list --queue %s; replay: ciphermq dlq move --queue %s):\n", n, s.DLQ, s.Queue, s.Queue)
		} else {
			fmt.Fprintf(w, "rejected %d to the dead-letter queue of %s, if it has one (recv did not declare it):\n", n, s.Queue)
		}
	}
	for _, reason := range slices.Sorted(maps.Keys(st.Rejected)) {
		fmt.Fprintf(w, "  %d %s\n", st.Rejected[reason], reason)
	}
	fmt.Fprintf(w, "output: %s (%d messages in all)\n", s.Out, s.Total)
}

// RejectedErr is nil when the run rejected nothing, else an error saying
// how many messages were rejected and where they went.
func (s Summary) RejectedErr() error {
	n := s.Stats.RejectedTotal()
	if n == 0 {
		return nil
	}
	where := "to dead-letter queue " + s.DLQ + ": `ciphermq dlq list --queue " + s.Queue + "` shows them, `ciphermq dlq move` replays them"
	if s.DLQ == "" {
		where = "to wherever queue " + s.Queue + "'s own options send them (recv did not declare it)"
	}
	return fmt.Errorf("rejected %d message(s) %s", n, where)
}

// Count shows a receiver's counters on one terminal line, redrawn at most
// every 100ms. It is also the writer of the command's log lines, which
// clear the line, go on their own line, and have the count drawn again
// below them (internal/termline).
type Count struct {
	line *termline.Line
	s    receiver.Stats // the latest counters, under the line's lock
}

// NewCount returns the count line on w; when on is false (w is no
// terminal) it draws nothing and only passes log lines through.
func NewCount(w io.Writer, on bool) *Count {
	c := &Count{}
	c.line = termline.New(w, on, func(time.Time) string {
		return fmt.Sprintf("received %d stored %d duplicates %d rejected %d", c.s.Received, c.s.Stored, c.s.Duplicates, c.s.RejectedTotal())
	})
	return c
}

// Show records the latest counters and redraws the line (throttled).
func (c *Count) Show(s receiver.Stats) { c.line.Update(func() { c.s = s }, false) }

// Write writes log output below the count line.
func (c *Count) Write(b []byte) (int, error) { return c.line.Write(b) }

// Finish draws the final counters, exactly, and ends the line (if a count
// was ever drawn).
func (c *Count) Finish(s receiver.Stats) { c.line.Finish(func() { c.s = s }) }
