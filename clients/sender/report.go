package sender

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/check"
)

// ReportOptions configure a Report.
type ReportOptions struct {
	// Publisher names this sender in every event (required): two senders,
	// or two runs of one, that continue a sequence should share it.
	Publisher string
	// Queues the messages are routed to, if the caller knows its topology;
	// otherwise leave it empty and have the harness that reads the report
	// fill the queues in from its own bindings (the sender cannot see them).
	Queues []string
	// Start is the origin of the events' At (default: when NewReport runs).
	Start time.Time
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Report writes the life of every message as JSON Lines of internal/check
// events: a publish event (the attempt: id, publisher, seq = the message's
// index, the plaintext's SHA-256, Queues) before the message is published,
// then an outcome event when it resolves: confirmed, confirmed-duplicate,
// refused with the broker's code and reason, or indeterminate (with them)
// when the refused message had been sent more than once, since an earlier
// attempt may have been stored (clients.IsIndeterminate). A message whose outcome never
// arrived (the publisher gave up, or the process was killed) has no outcome
// line, which is how check spells "unknown".
//
// Every event is one Write call on the underlying writer, followed by Flush
// if the writer has one (a *bufio.Writer); over an *os.File each line has
// reached the operating system when the call returns, so it survives the
// process being killed (not the machine losing power: there is no fsync).
//
// Report implements Observer.
type Report struct {
	w   io.Writer
	o   ReportOptions
	buf []byte
}

// ErrNoPublisher is returned by NewReport without a publisher name.
var ErrNoPublisher = errors.New("sender: report needs a publisher name")

// NewReport returns a report writing to w.
func NewReport(w io.Writer, o ReportOptions) (*Report, error) {
	if o.Publisher == "" {
		return nil, ErrNoPublisher
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Start.IsZero() {
		o.Start = o.Now()
	}
	o.Queues = slices.Clone(o.Queues)
	return &Report{w: w, o: o}, nil
}

// Attempt writes the publish event of a.
func (r *Report) Attempt(a Attempt) error {
	return r.write(check.Attempt(r.at(), r.o.Publisher, a.ID, a.Index, check.DigestOf(a.Plaintext), r.o.Queues...))
}

// Resolved writes the outcome event of res, if it has one.
func (r *Report) Resolved(res Result) error {
	var be *clients.BrokerError
	switch {
	case res.Err == nil && res.Duplicate:
		return r.write(check.ConfirmedDuplicate(r.at(), r.o.Publisher, res.ID))
	case res.Err == nil:
		return r.write(check.Confirmed(r.at(), r.o.Publisher, res.ID))
	case errors.As(res.Err, &be) && clients.IsIndeterminate(be):
		return r.write(check.Indeterminate(r.at(), r.o.Publisher, res.ID, be.Code, be.Reason))
	case errors.As(res.Err, &be):
		return r.write(check.Refused(r.at(), r.o.Publisher, res.ID, be.Code, be.Reason))
	}
	// Unconfirmed, or an error that is no answer of the broker: the
	// outcome is unknown, which an absent outcome line says.
	return nil
}

func (r *Report) at() time.Duration { return r.o.Now().Sub(r.o.Start) }

func (r *Report) write(e check.Event) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("report: encode %s event of %s: %w", e.Kind, e.MessageID, err)
	}
	r.buf = append(append(r.buf[:0], b...), '\n')
	if _, err := r.w.Write(r.buf); err != nil {
		return fmt.Errorf("report: write %s event of %s: %w (the report would no longer say what was sent: fix the disk or the path and send again)", e.Kind, e.MessageID, err)
	}
	if f, ok := r.w.(interface{ Flush() error }); ok {
		if err := f.Flush(); err != nil {
			return fmt.Errorf("report: flush %s event of %s: %w", e.Kind, e.MessageID, err)
		}
	}
	return nil
}

// Observers combines several observers into one, called in order; the
// first error stops the call.
func Observers(obs ...Observer) Observer { return multi(obs) }

type multi []Observer

func (m multi) Attempt(a Attempt) error {
	for _, o := range m {
		if o == nil {
			continue
		}
		if err := o.Attempt(a); err != nil {
			return err
		}
	}
	return nil
}

func (m multi) Resolved(res Result) error {
	for _, o := range m {
		if o == nil {
			continue
		}
		if err := o.Resolved(res); err != nil {
			return err
		}
	}
	return nil
}
