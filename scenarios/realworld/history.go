package realworld

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/internal/check"
)

// ReadReport reads a sender's report: one check.Event per line. A torn last
// line (bytes without a newline, left by a SIGKILL in the middle of a write)
// is dropped: the sender writes an attempt before publishing, so a torn
// attempt was never published. A bad line anywhere else is an error.
func ReadReport(path string) ([]check.Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read sender report: %w", err)
	}
	defer f.Close()
	return parseReport(f, path)
}

func parseReport(r io.Reader, name string) ([]check.Event, error) {
	br := bufio.NewReader(r)
	var events []check.Event
	for no := 1; ; no++ {
		line, err := br.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return events, nil // a torn or empty tail: never acted upon
		}
		if err != nil {
			return nil, fmt.Errorf("read sender report %s: %w", name, err)
		}
		var ev check.Event
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return nil, fmt.Errorf("sender report %s line %d is not a history event: %w", name, no, err)
		}
		events = append(events, ev)
	}
}

// ReadReceived reads a receiver's output file (its dedup record) as
// processed events of the receiver named receiver, in file order, which is
// the order it processed them. Times are measured from epoch. A torn tail
// (the receiver was killed mid-append; that record was never acked) is
// skipped.
func ReadReceived(path, receiver string, epoch time.Time) ([]check.Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // the receiver never stored anything
	}
	if err != nil {
		return nil, fmt.Errorf("read receiver output: %w", err)
	}
	defer f.Close()
	return parseReceived(f, path, receiver, epoch)
}

func parseReceived(r io.Reader, name, receiver string, epoch time.Time) ([]check.Event, error) {
	var events []check.Event
	err := inbox.Scan(r, func(rec inbox.Record) error {
		events = append(events, check.Processed(rec.StoredAt.Sub(epoch), receiver, rec.Queue, rec.MessageID,
			check.DigestOf(rec.Message), false))
		return nil
	})
	if err != nil && !errors.Is(err, inbox.ErrTornTail) {
		return nil, fmt.Errorf("receiver output %s: %w", name, err)
	}
	return events, nil
}

// resolution is what a sender's report says so far: the ids attempted in
// order and the outcome of each resolved one.
type resolution struct {
	attempted []string
	outcome   map[string]check.Outcome
	lastSeq   int
}

func resolve(events []check.Event) resolution {
	r := resolution{outcome: map[string]check.Outcome{}}
	for _, e := range events {
		switch e.Kind {
		case check.KindPublish:
			if _, dup := r.outcome[e.MessageID]; !dup {
				r.attempted = append(r.attempted, e.MessageID)
				r.outcome[e.MessageID] = check.OutcomeUnknown
			}
			r.lastSeq = max(r.lastSeq, int(e.Seq))
		case check.KindOutcome:
			r.outcome[e.MessageID] = e.Outcome
		}
	}
	return r
}

// unresolved lists the attempted ids without an outcome.
func (r resolution) unresolved() []string {
	var ids []string
	for _, id := range r.attempted {
		if r.outcome[id] == check.OutcomeUnknown {
			ids = append(ids, id)
		}
	}
	return ids
}

// confirmed lists the ids the broker confirmed (duplicates included).
func (r resolution) confirmed() []string {
	var ids []string
	for _, id := range r.attempted {
		if o := r.outcome[id]; o == check.OutcomeConfirmed || o == check.OutcomeConfirmedDuplicate {
			ids = append(ids, id)
		}
	}
	return ids
}
