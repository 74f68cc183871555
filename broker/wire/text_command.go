package wire

import (
	"errors"
	"fmt"
	"strconv"
)

// TextVerb is the command word of a text-protocol line.
type TextVerb uint8

const (
	TextUnknown TextVerb = iota
	TextDeclareQueue
	TextDeclareExchange
	TextBind
	TextPublish
	TextPublishBatch
	TextConsume
	TextFetch
	TextAck
	TextStats
	TextResetStats
)

var textVerbs = [...]string{
	TextUnknown:         "unknown",
	TextDeclareQueue:    "declare_queue",
	TextDeclareExchange: "declare_exchange",
	TextBind:            "bind",
	TextPublish:         "publish",
	TextPublishBatch:    "publish_batch",
	TextConsume:         "consume",
	TextFetch:           "fetch",
	TextAck:             "ack",
	TextStats:           "stats",
	TextResetStats:      "reset_stats",
}

// String returns the command word as sent on the wire.
func (v TextVerb) String() string {
	if int(v) < len(textVerbs) {
		return textVerbs[v]
	}
	return fmt.Sprintf("TextVerb(%d)", uint8(v))
}

// TextMessage is one envelope of a publish or publish_batch.
type TextMessage struct {
	MessageID []byte // the envelope's message_id
	Body      []byte // the whole envelope JSON text, verbatim
}

// TextCommand is one parsed text line. Byte fields alias the line, except a
// message_id written with JSON escapes, which is unescaped into a new slice.
type TextCommand struct {
	Verb TextVerb
	// Queue: declare_queue, consume, fetch.
	Queue []byte
	// Exchange: declare_exchange, publish, publish_batch.
	Exchange []byte
	// ExchangeType: declare_exchange's optional second argument
	// (ExchangeDirect when absent).
	ExchangeType uint8
	// ExchangeTypeSet: the line named the type explicitly (our extension;
	// the reference has no type argument), so a redeclaration with another
	// type can be refused instead of silently accepted.
	ExchangeTypeSet bool
	// RoutingKey: publish, publish_batch.
	RoutingKey []byte
	// BindArgs: bind's three arguments in the order sent. The reference
	// generations disagree on the order (exchange queue key at 9bc8b23,
	// queue exchange key at 0bcf2a7): the server decides by which of the
	// first two names a declared exchange.
	BindArgs [3][]byte
	// MessageID: ack's argument (first token only); publish's envelope id.
	MessageID []byte
	// Body: publish's envelope, the whole JSON text after the routing key.
	Body []byte
	// Batch: publish_batch's envelopes in order.
	Batch []TextMessage
	// Stats: stats's optional cursor (our extension; docs/protocol.md,
	// "Stats replies"): "stats queues after <name>", "stats exchanges
	// after <name>", "stats queues resume <token>" or "stats exchanges
	// resume <token>". The fields mean what wire.Stats's do; StatsList is
	// 0 for a bare "stats".
	StatsList   uint8
	StatsAfter  []byte
	StatsResume uint64
}

// Sentinels of text parse failures; each maps to a fixed reply line (see
// AppendErrorReply). Test with errors.Is on the *TextError ParseCommand
// returns.
var (
	ErrUnknownCommand      = errors.New("wire: unknown text command")
	ErrMissingQueueName    = errors.New("wire: missing queue name")
	ErrMissingExchangeName = errors.New("wire: missing exchange name")
	ErrMissingParameters   = errors.New("wire: missing parameters")
	ErrMissingMessageID    = errors.New("wire: missing message id")
	ErrInvalidMessage      = errors.New("wire: invalid message format")
	ErrInvalidArgument     = errors.New("wire: invalid argument")
)

// TextError is a text command the parser refused. Err is one of the
// sentinels above; Detail explains ErrInvalidMessage and ErrInvalidArgument.
type TextError struct {
	Verb   TextVerb
	Err    error
	Detail string
}

func (e *TextError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("%v (command %s)", e.Err, e.Verb)
	}
	return fmt.Sprintf("%v (command %s): %s", e.Err, e.Verb, e.Detail)
}

func (e *TextError) Unwrap() error { return e.Err }

// ParseCommand parses one line (terminator already removed). Leading and
// trailing whitespace is ignored, as the reference does; arguments are
// separated by runs of spaces or tabs. Extra arguments are ignored where the
// reference ignores them. The publish JSON is the rest of the line after the
// routing key, so it may contain spaces.
func ParseCommand(line []byte) (TextCommand, error) {
	var c TextCommand
	err := c.parse(line)
	return c, err
}

// ParseCommandInto is ParseCommand into a reused TextCommand, keeping the
// Batch slice's capacity so a publish_batch allocates nothing once warm.
func ParseCommandInto(line []byte, c *TextCommand) error {
	batch := c.Batch[:0]
	*c = TextCommand{Batch: batch}
	return c.parse(line)
}

func (c *TextCommand) parse(line []byte) error {
	line = trimSpace(line)
	verb, rest := nextToken(line)
	c.Verb = lookupVerb(verb)
	fail := func(err error, detail string) error {
		return &TextError{Verb: c.Verb, Err: err, Detail: detail}
	}
	switch c.Verb {
	case TextDeclareQueue, TextConsume, TextFetch:
		q, _ := nextToken(rest)
		if len(q) == 0 {
			return fail(ErrMissingQueueName, "")
		}
		if len(q) > MaxNameLen {
			return fail(ErrInvalidArgument, fmt.Sprintf("queue name is %d bytes, the limit is %d", len(q), MaxNameLen))
		}
		c.Queue = q
	case TextDeclareExchange:
		x, rest := nextToken(rest)
		if len(x) == 0 {
			return fail(ErrMissingExchangeName, "")
		}
		if len(x) > MaxNameLen {
			return fail(ErrInvalidArgument, fmt.Sprintf("exchange name is %d bytes, the limit is %d", len(x), MaxNameLen))
		}
		c.Exchange = x
		c.ExchangeType = ExchangeDirect
		if t, _ := nextToken(rest); len(t) > 0 {
			c.ExchangeTypeSet = true
			switch string(t) {
			case "direct":
			case "fanout":
				c.ExchangeType = ExchangeFanout
			case "topic":
				c.ExchangeType = ExchangeTopic
			default:
				return fail(ErrInvalidArgument, fmt.Sprintf("unknown exchange type %q: use direct, fanout or topic", truncateUTF8(string(t), 64)))
			}
		}
	case TextBind:
		for i := range c.BindArgs {
			var a []byte
			a, rest = nextToken(rest)
			if len(a) == 0 {
				return fail(ErrMissingParameters, "")
			}
			if len(a) > MaxNameLen {
				return fail(ErrInvalidArgument, fmt.Sprintf("bind argument %d is %d bytes, the limit is %d", i+1, len(a), MaxNameLen))
			}
			c.BindArgs[i] = a
		}
	case TextPublish, TextPublishBatch:
		var x, k []byte
		x, rest = nextToken(rest)
		k, rest = nextToken(rest)
		body := trimSpace(rest)
		if len(body) == 0 {
			return fail(ErrMissingParameters, "")
		}
		if len(x) > MaxNameLen || len(k) > MaxNameLen {
			return fail(ErrInvalidArgument, fmt.Sprintf("exchange and routing key are limited to %d bytes", MaxNameLen))
		}
		c.Exchange, c.RoutingKey = x, k
		if c.Verb == TextPublish {
			id, err := envelopeID(body)
			if err != nil {
				return fail(ErrInvalidMessage, err.Error())
			}
			c.MessageID, c.Body = id, body
			return nil
		}
		batch, err := envelopeBatch(body, c.Batch[:0])
		c.Batch = batch
		if err != nil {
			c.Batch = c.Batch[:0]
			return fail(ErrInvalidMessage, err.Error())
		}
	case TextAck:
		id, _ := nextToken(rest)
		if len(id) == 0 {
			return fail(ErrMissingMessageID, "")
		}
		c.MessageID = id
	case TextStats:
		if err := c.parseStatsCursor(rest); err != nil {
			return fail(ErrInvalidArgument, err.Error())
		}
	case TextResetStats:
	default:
		return fail(ErrUnknownCommand, "")
	}
	return nil
}

// statsUsage is the detail of a refused stats cursor.
const statsUsage = `use "stats", "stats queues|exchanges after <name>" or "stats queues|exchanges resume <token>"`

// parseStatsCursor reads stats's optional cursor. A bare "stats" is the
// reference command; anything after it must be a whole cursor, so that a
// paging client that mistypes one gets an error, not the first page again
// (which it would page through for ever).
func (c *TextCommand) parseStatsCursor(rest []byte) error {
	list, rest := nextToken(rest)
	if list == nil {
		return nil
	}
	kind, rest := nextToken(rest)
	pos, rest := nextToken(rest)
	extra, _ := nextToken(rest)
	switch string(list) {
	case "queues":
		c.StatsList = StatsQueues
	case "exchanges":
		c.StatsList = StatsExchanges
	default:
		return fmt.Errorf("unknown stats list %q: %s", truncateUTF8(string(list), 64), statsUsage)
	}
	if pos == nil || extra != nil {
		return errors.New(statsUsage)
	}
	switch string(kind) {
	case "after":
		if len(pos) > MaxNameLen {
			return fmt.Errorf("stats cursor is %d bytes, the limit is %d", len(pos), MaxNameLen)
		}
		c.StatsAfter = pos
	case "resume":
		v, err := strconv.ParseUint(string(pos), 10, 64)
		if err != nil || v == 0 || pos[0] == '0' {
			return fmt.Errorf("stats resume token %q is not a token from a stats reply", truncateUTF8(string(pos), 64))
		}
		c.StatsResume = v
	default:
		return errors.New(statsUsage)
	}
	return nil
}

func lookupVerb(w []byte) TextVerb {
	for v := TextDeclareQueue; int(v) < len(textVerbs); v++ {
		if string(w) == textVerbs[v] {
			return v
		}
	}
	return TextUnknown
}

func isSpace(b byte) bool {
	return b == ' ' || b == '\t' || b == '\r' || b == '\n' || b == '\v' || b == '\f'
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// nextToken splits off the first whitespace-separated token.
func nextToken(b []byte) (tok, rest []byte) {
	i := 0
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	j := i
	for j < len(b) && !isSpace(b[j]) {
		j++
	}
	if i == j {
		return nil, nil
	}
	return b[i:j:j], b[j:]
}
