package clients

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// Options configure a connection. Zero values take the defaults noted.
type Options struct {
	// ClientName is sent in Hello and shows in the broker's logs
	// (default "ciphermq-go").
	ClientName string
	// Heartbeat is the proposed heartbeat interval; the broker may answer
	// with another one. Each side sends something at least this often and
	// considers the other dead after 3 silent intervals (default: the
	// broker's).
	Heartbeat time.Duration
	// DialTimeout bounds one TCP connect plus handshake (default 5s).
	DialTimeout time.Duration
	// ReconnectMin and ReconnectMax bound the exponential backoff between
	// reconnect attempts after a connection breaks (defaults 100ms and 10s;
	// 20% jitter is added so many clients do not return in lockstep).
	ReconnectMin time.Duration
	ReconnectMax time.Duration
	// MaxFrameSize is the largest frame this client accepts, length field
	// included (default: the protocol's 1 MiB). Raise it to receive larger
	// messages; the broker may lower it in its answer.
	MaxFrameSize int
	// NoSharedPrefixes keeps the connection from negotiating shared
	// prefixes (docs/protocol.md §5a): prefixed publishes then travel as
	// whole bodies, and deliveries always arrive whole.
	NoSharedPrefixes bool
	// Logger receives one structured line per connection event (default
	// slog.Default()).
	Logger *slog.Logger
	// TLS, when set, makes the default DialFunc connect with TLS (the
	// handshake counts against DialTimeout); nil: plain TCP. TLSConfig
	// builds one from PEM files. An empty ServerName is taken from the
	// address dialled. A custom DialFunc replaces the default dialer, TLS
	// included: it must do its own TLS.
	TLS *tls.Config
	// DialFunc opens the transport (default: TCP via net.Dialer, TLS when
	// TLS is set). Tests use it to put a fault proxy in between.
	DialFunc func(ctx context.Context, addr string) (net.Conn, error)

	// Credentials (docs/security.md). With User set the connection
	// authenticates with PLAIN (user and password; the broker refuses
	// PLAIN over unencrypted TCP from a non-loopback address). Mechanism
	// "EXTERNAL" authenticates with the TLS client certificate instead
	// (User may then name the identity the certificate must carry). With
	// neither, the connection is anonymous, which only a broker without
	// users accepts.
	User      string
	Password  string
	Mechanism string // "" (PLAIN when User is set), "PLAIN" or "EXTERNAL"
	// Vhost is the virtual host the connection acts in (default "/").
	Vhost string
}

// authFrame returns the Auth frame these options ask for, or nil for an
// anonymous connection.
func (o *Options) authFrame() *wire.Auth {
	mech := o.Mechanism
	if mech == "" && o.User != "" {
		mech = "PLAIN"
	}
	if mech == "" {
		return nil
	}
	a := &wire.Auth{Mechanism: mech, Vhost: o.Vhost}
	switch mech {
	case "PLAIN":
		a.Response = wire.PlainResponse(o.User, o.Password)
	case "EXTERNAL":
		a.Response = []byte(o.User)
	}
	return a
}

const (
	defaultClientName   = "ciphermq-go"
	defaultDialTimeout  = 5 * time.Second
	defaultReconnectMin = 100 * time.Millisecond
	defaultReconnectMax = 10 * time.Second
)

func (o Options) withDefaults() Options {
	if o.ClientName == "" {
		o.ClientName = defaultClientName
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = defaultDialTimeout
	}
	if o.Heartbeat < 0 {
		o.Heartbeat = 0 // a negative proposal means nothing on the wire: take the broker's
	}
	if o.MaxFrameSize < 0 {
		o.MaxFrameSize = 0
	}
	if o.ReconnectMin <= 0 {
		o.ReconnectMin = defaultReconnectMin
	}
	if o.ReconnectMax <= 0 {
		o.ReconnectMax = defaultReconnectMax
	}
	if o.ReconnectMax < o.ReconnectMin {
		o.ReconnectMax = o.ReconnectMin
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.DialFunc == nil {
		timeout := o.DialTimeout
		if cfg := o.TLS; cfg != nil {
			o.DialFunc = func(ctx context.Context, addr string) (net.Conn, error) {
				return dialTLS(ctx, addr, timeout, cfg)
			}
		} else {
			o.DialFunc = func(ctx context.Context, addr string) (net.Conn, error) {
				d := net.Dialer{Timeout: timeout}
				return d.DialContext(ctx, "tcp", addr)
			}
		}
	}
	return o
}

// ExchangeType selects how an exchange routes.
type ExchangeType string

const (
	// Direct routes to queues bound with exactly the routing key.
	Direct ExchangeType = "direct"
	// Fanout routes to every bound queue.
	Fanout ExchangeType = "fanout"
	// Topic matches dot-separated routing keys against binding patterns
	// ("*" one word, "#" zero or more words).
	Topic ExchangeType = "topic"
)

// QueueOptions are fixed when a queue is first declared; declaring it again
// with other options is refused (IsMismatch). Zero means no limit.
type QueueOptions struct {
	// MaxLength bounds the messages held (ready + unacked); a publish beyond
	// it is refused (IsQueueFull).
	MaxLength int
	// MaxBytes bounds the body bytes held.
	MaxBytes int64
	// AckTimeout: a delivery not acked within it is redelivered (zero: the
	// broker's default).
	AckTimeout time.Duration
	// DeliveryLimit: a message delivered this many times that comes back
	// again goes to the dead-letter queue.
	DeliveryLimit int
	// DeadLetterQueue receives rejected messages and those past the
	// delivery limit; it must be declared first. By convention it is named
	// <queue>.dlq (see docs/clients.md, "Dead-lettered messages").
	DeadLetterQueue string
	// Discard drops rejected messages and those past the delivery limit:
	// the explicit opt-out of a dead-letter queue. It cannot be combined
	// with DeadLetterQueue. (A queue declared with neither also discards,
	// for compatibility; declare one of the two.)
	Discard bool
	// Durable: the queue, its bindings and the messages it holds survive
	// broker restarts, kill -9 and (with --fsync always) power loss; a
	// confirm then means the message is on disk. The broker must run with
	// a data directory (--data-dir), else the declaration is refused. See
	// docs/storage.md.
	Durable bool
}

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	// Exchange and RoutingKey are where Publish sends; PublishTo names them
	// per message instead. The empty Exchange is AMQP's nameless default
	// exchange: it routes each message to the queue named by its routing
	// key, without a binding (publishing to it needs write permission on
	// the exchange named "", see docs/security.md). (The broker's
	// predeclared "default_exchange" is another thing: a direct exchange
	// bound to its "default_queue".)
	Exchange   string
	RoutingKey string
	// Window bounds the messages awaiting a confirm (default 256). Publish
	// blocks while it is full.
	Window int
	// ConfirmTimeout is how long a message may wait for its confirm on a
	// live connection before it is sent again with the same id (default 30s,
	// doubling up to 2 minutes). Over TCP a confirm only goes missing when
	// the connection breaks, which a reconnect handles at once; this is the
	// safety net for a broker that silently lost a frame.
	ConfirmTimeout time.Duration
	// OnConfirm, if set, is called once for every message when its Confirm
	// resolves (confirmed, duplicate, refused, or abandoned by Close), in
	// the order the answers arrive, so a high-rate publisher needs no
	// goroutine waiting on each Confirm. The Confirm returned by Publish is
	// the one passed. Calls are made one at a time, never with the
	// connection's lock held, on a goroutine of the library (often the one
	// reading from the broker): the callback must return quickly and must
	// not block, in particular not on Publish with a full window (the
	// answers that make room could wait behind it). Publisher.Close returns
	// only after the last call.
	OnConfirm func(*Confirm)
}

// Handler processes one delivery. Return nil once the message is processed
// durably (it is acked), an error wrapped with Permanent when it can never
// be processed (it is rejected to the dead-letter queue), any other error to
// have it requeued and delivered again. A handler that finishes
// asynchronously returns ErrSettleLater and settles the delivery later with
// Delivery.Ack, Nack or Reject.
type Handler func(ctx context.Context, d *Delivery) error

// BatchHandler processes every delivery buffered at the moment (up to the
// prefetch) in one call, so a receiver can append N records, fsync once and
// have all N acked together. It returns one error per delivery, in order,
// with Handler's meaning; a shorter slice requeues the rest.
type BatchHandler func(ctx context.Context, ds []*Delivery) []error

// ConsumerOptions configure a consumer. Exactly one of Handler and
// BatchHandler is required.
type ConsumerOptions struct {
	Queue string
	// Prefetch is the most unacked deliveries the broker sends this
	// consumer at once (default 64).
	Prefetch int
	// Tag names the consumer on its connection (default: generated).
	Tag          string
	Handler      Handler
	BatchHandler BatchHandler
	// Seen reports whether a message id was already processed durably;
	// such deliveries are acked at once without calling the handler. It must
	// report only ids whose processing is durable (fsynced): an id that is
	// merely in progress would be acked and lost if the process crashed
	// before making it durable. (Deliveries of an id the handler is working
	// on right now are held back by the library itself.) It is called on the
	// connection's reader goroutine, so it must be fast and must not call
	// back into the connection.
	Seen func(id string) bool
	// AckTimeout overrides the queue's ack timeout for this consumer.
	AckTimeout time.Duration
	// SplitPrefix asks for deliveries whose body arrived as a shared prefix
	// and a rest (docs/protocol.md §5a) in those two parts: Delivery.Prefix
	// is the prefix, shared by every delivery that uses it (never modify
	// it), and Body is only the rest. It saves copying the prefix into
	// every delivery: a handler that opens cmq1 envelopes with
	// envelope.OpenParts gets the same result without the copy. Off, Body
	// is always the whole body and Prefix nil.
	SplitPrefix bool
	// SettleBatch is how many verdicts of a Handler (one per delivery) are
	// gathered before their acks, nacks and rejects are sent (default 32).
	// The verdicts are sent earlier when the deliveries buffered at the
	// moment run out, so a slow stream is never held back; consecutive acks
	// travel as one Ack{Multiple} where the protocol allows. 1 sends every
	// verdict at once. A BatchHandler's verdicts are sent per call, and
	// Delivery.Ack, Nack and Reject at once.
	SettleBatch int
}

const (
	defaultWindow         = 256
	defaultConfirmTimeout = 30 * time.Second
	maxConfirmTimeout     = 2 * time.Minute
	defaultPrefetch       = 64
)
