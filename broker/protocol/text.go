package protocol

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"time"
	"unicode/utf8"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Text is one connection speaking the reference text protocol
// (docs/protocol.md, "Text protocol"). It answers every command with exactly
// one reply, in command order, and paces pushes so that a client reading one
// recv(1024) per line never sees two lines in one chunk.
type Text struct {
	core Core
	conn broker.ConnID
	cfg  Config
	log  *slog.Logger
	g    guard // the configured text user on the default vhost

	// out holds bytes for the transport. out[:pushEnd] is a push that must be
	// written alone; Output returns only that part while pushEnd > 0.
	out     []byte
	pushEnd int

	// replies keeps command replies in command order while a publish waits
	// for its confirm; pending maps a publish seq to its slot.
	replies []*textReply
	pending map[uint64]replySlot
	nextSeq uint64

	// held are deliveries waiting for their push, in delivery order.
	held []broker.Delivery
	// flight is the one push the client has not acked yet.
	flightActive bool
	flightID     string
	flightUntil  time.Time
	quietUntil   time.Time

	// pushed maps a message id to the delivery tag last pushed or fetched
	// on this connection, so that "ack <id>" can name the tag.
	pushed map[string]uint64

	cmd     wire.TextCommand // reused parse target
	scratch []byte           // reused reply buffer
	joined  []byte           // reused logical body of a prefixed delivery

	closed      bool
	closeReason string
	detached    bool

	// searched is how many bytes at the start of the next Feed's input are
	// already known to hold no '\n': the pending unterminated line, which
	// the driver feeds again with more bytes after it. Only the new bytes
	// are searched, so a long line arriving in small reads costs O(its
	// length), not O(length²). scanned counts the bytes searched (tests).
	searched int
	scanned  uint64

	// Timeouts (Config.TextIdleTimeout, TextLineTimeout): lastLine is when
	// the last complete line arrived (or the session opened); lineStart is
	// when the first byte of the pending unterminated line arrived (zero:
	// none pending). consumers counts this connection's registered
	// consumers, which exempt it from the idle timeout.
	lastLine  time.Time
	lineStart time.Time
	consumers int
	mem       memAlarm // the broker's memory alarm (alarm.go)
}

// textReply is one command's reply; for publish and publish_batch each
// envelope has a line that is filled in when the core's effect arrives.
type textReply struct {
	lines   [][]byte // each a whole line with its "\n"
	waiting int
}

type replySlot struct {
	reply    *textReply
	index    int
	id       string
	exchange string
	key      string
	batch    bool
}

var _ Session = (*Text)(nil)

// errBinaryText closes a text connection that sends bytes no text client
// sends; it is most likely another protocol or a port scanner.
var errBinaryText = errors.New("binary data on a text connection (invalid UTF-8 or a NUL byte); closing the connection")

// NewText opens a text session for conn on core at now. cfg must be valid
// (see Config.WithDefaults and Config.Validate).
//
// The text protocol carries no credentials: the connection acts as
// cfg.TextUser on the default vhost (everything allowed there on a broker
// without users). When that user cannot act there, the session starts
// closed with an error line that says so.
func NewText(core Core, conn broker.ConnID, cfg Config, now time.Time) *Text {
	cfg = cfg.WithDefaults()
	t := &Text{
		core:     core,
		conn:     conn,
		cfg:      cfg,
		log:      cfg.Logger.With("conn", uint64(conn), "protocol", "text"),
		pending:  make(map[uint64]replySlot),
		pushed:   make(map[string]uint64),
		lastLine: now,
	}
	id := access.Anonymous()
	if db := cfg.users(); db != nil {
		var err error
		if id, err = db.Identity(cfg.TextUser, access.DefaultVhost); err != nil {
			t.detached = true // never opened on the core
			t.fatal(fmt.Errorf("text protocol connections act as user %q, who cannot use vhost %q (%s): ask the operator to configure the text user", cfg.TextUser, access.DefaultVhost, messageOf(err)))
			return t
		}
	}
	if cfg.Admit != nil {
		if err := cfg.Admit(conn, id); err != nil {
			t.detached = true
			t.fatal(err)
			return t
		}
	}
	t.g = newGuard(id)
	core.OpenAs(conn, t.g.owner, now)
	return t
}

// Protocol implements Session.
func (t *Text) Protocol() wire.Protocol { return wire.ProtocolText }

// Feed implements Session: it handles every complete line of in. The bytes
// it leaves unconsumed (an unterminated line) must start the next Feed's
// input, as the Session contract says: they are not searched again.
func (t *Text) Feed(in []byte, now time.Time) (int, error) {
	off := 0
	from := t.searched
	if from > len(in) {
		from = 0 // not our leftover after all: search everything
	}
	t.searched = 0
	lines := false
	for !t.closed && off < len(in) {
		i := bytes.IndexByte(in[off+from:], '\n')
		if i >= 0 {
			t.scanned += uint64(i + 1)
			i += from
		} else {
			t.scanned += uint64(len(in) - off - from)
		}
		from = 0
		if i < 0 {
			t.searched = len(in) - off
			// A line of exactly the limit may still be waiting for the "\n"
			// of its "\r\n": only one byte beyond limit+1 proves it too long.
			if len(in)-off > t.cfg.MaxLineSize+1 {
				return len(in), t.fatal(&wire.LineTooLongError{Max: t.cfg.MaxLineSize})
			}
			break
		}
		line := in[off : off+i]
		off += i + 1
		lines = true
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) > t.cfg.MaxLineSize {
			return len(in), t.fatal(&wire.LineTooLongError{Max: t.cfg.MaxLineSize})
		}
		if !utf8.Valid(line) || bytes.IndexByte(line, 0) >= 0 {
			return len(in), t.fatal(errBinaryText)
		}
		t.handleLine(line, now)
		if len(t.out) > t.cfg.MaxOutput {
			break // flow control: the driver feeds the rest once it drained
		}
	}
	if t.closed {
		return len(in), nil
	}
	if lines {
		t.lastLine = now
		t.lineStart = time.Time{}
	}
	if off < len(in) && t.lineStart.IsZero() {
		t.lineStart = now
	}
	t.tryPush(now)
	return off, nil
}

// EndOfInput implements Session. A last line without its newline is still
// executed: the reference needs no newline at all.
func (t *Text) EndOfInput(rest []byte, now time.Time) {
	if !t.closed && len(rest) > 0 {
		line := bytes.TrimSuffix(rest, []byte("\r"))
		switch {
		case len(line) > t.cfg.MaxLineSize:
			t.fatal(&wire.LineTooLongError{Max: t.cfg.MaxLineSize})
		case !utf8.Valid(line) || bytes.IndexByte(line, 0) >= 0:
			t.fatal(errBinaryText)
		default:
			t.handleLine(line, now)
		}
	}
	if !t.closed {
		t.closed = true
		t.closeReason = "peer closed the connection"
	}
}

// fatal answers with an error line and marks the session closed.
func (t *Text) fatal(err error) error {
	t.reply(wire.AppendErrorReply(t.scratch[:0], err))
	t.closed = true
	t.closeReason = err.Error()
	t.log.Warn("text connection: bad input", "err", err)
	return err
}

// HandleEffect implements Session.
func (t *Text) HandleEffect(e broker.Effect, now time.Time) {
	switch e.Kind {
	case broker.EffectConfirm, broker.EffectRefuse:
		t.resolvePublish(e)
	case broker.EffectDeliver:
		t.hold(e.Delivery)
	case broker.EffectCancelled:
		t.log.Info("text consumer cancelled by the server", "queue", e.Delivery.Queue, "err", e.Err)
		t.consumers = max(t.consumers-1, 0)
	}
	t.tryPush(now)
}

// hold queues a delivery for its push. A redelivery of a message id that is
// already held replaces the older attempt, whose tag is stale by now.
func (t *Text) hold(d broker.Delivery) {
	for i := range t.held {
		if t.held[i].MessageID == d.MessageID {
			t.held[i] = d
			return
		}
	}
	t.held = append(t.held, d)
}

// tryPush writes the next held delivery when the pacing rules allow it: no
// push awaiting its ack, nothing else waiting to be written, and the quiet
// gap since the last write has passed.
func (t *Text) tryPush(now time.Time) {
	for !t.closed && !t.flightActive && len(t.out) == 0 && len(t.held) > 0 && !now.Before(t.quietUntil) {
		d := t.held[0]
		t.held[0] = broker.Delivery{}
		t.held = t.held[1:]
		// AppendReplyMessage replaces control bytes by spaces, so even a
		// body published over the native protocol stays one line.
		t.out = wire.AppendReplyMessage(t.out, []byte(d.MessageID), t.logicalBody(&d))
		t.pushEnd = len(t.out)
		t.flightActive = true
		t.flightID = d.MessageID
		t.flightUntil = now.Add(t.cfg.TextAckTimeout)
		t.pushed[d.MessageID] = d.Tag
	}
}

// Output implements Session.
func (t *Text) Output() []byte {
	if t.pushEnd > 0 {
		return t.out[:t.pushEnd]
	}
	return t.out
}

// Wrote implements Session.
func (t *Text) Wrote(n int, now time.Time) {
	if n <= 0 {
		return
	}
	n = min(n, len(t.out))
	t.out = dropWritten(t.out, n)
	t.pushEnd = max(t.pushEnd-n, 0)
	t.quietUntil = now.Add(t.cfg.TextPacingGap)
	t.tryPush(now)
}

// Tick implements Session.
func (t *Text) Tick(now time.Time) {
	if t.flightActive && !now.Before(t.flightUntil) {
		// The client never acked: the core has requeued the delivery by now
		// (same timeout), so free the slot rather than stall the connection.
		t.log.Debug("text consumer: push not acked in time", "message_id", t.flightID)
		t.flightActive = false
		// The core's deadline (from delivery) is no later than ours (from
		// the push), so that tag is stale by now: forget it.
		delete(t.pushed, t.flightID)
	}
	if d, ok := t.lineDeadline(); ok && !now.Before(d) {
		t.fatal(&TextTimeoutError{What: "line", Timeout: t.cfg.TextLineTimeout})
		return
	}
	if d, ok := t.idleDeadline(); ok && !now.Before(d) {
		t.fatal(&TextTimeoutError{What: "idle", Timeout: t.cfg.TextIdleTimeout})
		return
	}
	t.tryPush(now)
}

// TextTimeoutError closes a text connection whose unterminated line did not
// complete within Config.TextLineTimeout (What "line"), or that sent no
// complete line within Config.TextIdleTimeout while it had no consumer
// (What "idle").
type TextTimeoutError struct {
	What    string
	Timeout time.Duration
}

func (e *TextTimeoutError) Error() string {
	if e.What == "line" {
		return fmt.Sprintf("an unterminated line did not complete within the line timeout (%v); closing the connection", e.Timeout)
	}
	return fmt.Sprintf("no command within the idle timeout (%v) on a connection without a consumer; closing the connection", e.Timeout)
}

// lineDeadline is when the pending unterminated line times out.
func (t *Text) lineDeadline() (time.Time, bool) {
	if t.lineStart.IsZero() || t.cfg.TextLineTimeout < 0 {
		return time.Time{}, false
	}
	return t.lineStart.Add(t.cfg.TextLineTimeout), true
}

// idleDeadline is when the connection times out for idleness. A connection
// with a consumer, or with a push in flight or waiting, is not idle: the
// reference Receiver sends nothing between messages, however long.
func (t *Text) idleDeadline() (time.Time, bool) {
	if t.cfg.TextIdleTimeout < 0 || t.consumers > 0 || t.flightActive || len(t.held) > 0 {
		return time.Time{}, false
	}
	return t.lastLine.Add(t.cfg.TextIdleTimeout), true
}

// NextDeadline implements Session.
func (t *Text) NextDeadline() (time.Time, bool) {
	if t.closed {
		return time.Time{}, false
	}
	var next time.Time
	have := false
	consider := func(d time.Time, ok bool) {
		if ok && (!have || d.Before(next)) {
			next, have = d, true
		}
	}
	consider(t.flightUntil, t.flightActive)
	consider(t.quietUntil, !t.flightActive && len(t.held) > 0 && len(t.out) == 0)
	consider(t.lineDeadline())
	consider(t.idleDeadline())
	return next, have
}

// Closed implements Session.
func (t *Text) Closed() (bool, string) { return t.closed, t.closeReason }

// Shutdown implements Session. The text protocol has no goodbye line: the
// reference clients just see the connection close and reconnect.
func (t *Text) Shutdown(_ broker.Code, reason string) {
	if !t.closed {
		t.closed = true
		t.closeReason = reason
	}
}

// Close implements Session.
func (t *Text) Close(now time.Time) {
	if !t.closed {
		t.closed = true
		t.closeReason = "transport closed"
	}
	if !t.detached {
		t.detached = true
		t.held = nil
		t.core.Close(t.conn, now)
	}
}

// reply appends one complete reply line (with its "\n") in command order.
// line may be scratch space: it is copied.
func (t *Text) reply(line []byte) {
	t.scratch = line[:0]
	if len(t.replies) > 0 {
		t.replies = append(t.replies, &textReply{lines: [][]byte{append([]byte(nil), line...)}})
		return
	}
	t.out = append(t.out, line...)
}

// flushReplies moves every finished reply at the head of the queue to out.
func (t *Text) flushReplies() {
	for len(t.replies) > 0 && t.replies[0].waiting == 0 {
		r := t.replies[0]
		t.replies[0] = nil
		t.replies = t.replies[1:]
		for _, l := range r.lines {
			t.out = append(t.out, l...)
		}
	}
}

// logicalBody is d's whole body. A message published with a shared prefix
// (over the native protocol) is joined into a reused buffer: the text
// protocol always carries whole bodies.
func (t *Text) logicalBody(d *broker.Delivery) []byte {
	if d.Prefix == nil {
		return d.Body
	}
	t.joined = d.AppendBody(t.joined[:0])
	return t.joined
}
