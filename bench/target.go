package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ciphermq/ciphermq/clients"
)

// ErrUnknownTarget: the target name is not one of Targets().
var ErrUnknownTarget = errors.New("bench: unknown target")

// ErrUnsupported: the target cannot run this workload (for example the text
// protocol against RabbitMQ).
var ErrUnsupported = errors.New("bench: workload not supported by this target")

// Spec is what a target needs to prepare a run. The runner fills it.
type Spec struct {
	// RunID is unique per run; targets name their queue, exchange or
	// stream after it so every run starts from an empty one.
	RunID        string
	ExchangeType string // direct, fanout or topic
	Protocol     string // native or text (CipherMQ targets only)
	Window       int    // per publisher
	Prefetch     int    // per consumer
	Consumers    int
	MessageSize  int // bytes on the wire (envelope included)
}

// Pending is the broker's answer to one publish, still to come.
type Pending interface {
	// Wait blocks until the broker confirmed (nil) or refused the message,
	// or ctx ended.
	Wait(ctx context.Context) error
}

// Publisher publishes on its own connection. The runner never has more than
// Spec.Window of its messages unconfirmed and calls it from one goroutine.
type Publisher interface {
	Publish(ctx context.Context, id string, body []byte) (Pending, error)
	Close() error
}

// Deliver is called by a consumer for every message it receives, with the
// broker-level message id; the target acks the message after it returns.
type Deliver func(id string, prefix, body []byte)

// Consumer consumes on its own connection until Close.
// PrefixPublisher is a Publisher that can send a body as a shared prefix
// handle and a rest (CipherMQ's shared prefixes); the bench seals cmq1
// envelopes in parts for it.
type PrefixPublisher interface {
	PublishPrefixed(ctx context.Context, id string, prefix *clients.Prefix, rest []byte) (Pending, error)
}

type Consumer interface {
	Close() error
}

// Target is one broker under test.
type Target interface {
	// Name is the target's name as given to Open.
	Name() string
	// Setup declares a fresh queue (and exchange) for spec.RunID.
	Setup(ctx context.Context, spec Spec) error
	// NewPublisher connects publisher i.
	NewPublisher(ctx context.Context, i int) (Publisher, error)
	// NewConsumer connects consumer i, which calls deliver for every
	// message and then acks it.
	NewConsumer(ctx context.Context, i int, deliver Deliver) (Consumer, error)
	// Teardown deletes what Setup made.
	Teardown(ctx context.Context) error
	// BrokerPID is the broker's process id for /proc sampling; 0 when
	// unknown, -1 when the broker runs inside this process.
	BrokerPID() int
	// Close releases the target (stops a broker it started).
	Close() error
}

// TargetOptions configure how targets reach their broker.
type TargetOptions struct {
	// Addr overrides the target's default address (host:port, or a URL
	// for NATS and RabbitMQ).
	Addr string
	// BrokerPID names the broker's process for CPU and memory figures when
	// the target did not start it.
	BrokerPID int
	// ServerBinary is the ciphermq binary the "ciphermq" target starts
	// (default: this executable, which must then be ciphermq itself).
	ServerBinary string
	// TLS makes the ciphermq targets reach a broker at Addr over TLS.
	// The -tls targets that start their broker make their own
	// certificates and ignore it.
	TLS *tls.Config
	// User, Password, Mechanism ("PLAIN" or "EXTERNAL") and Vhost
	// authenticate the ciphermq targets' native connections to a broker
	// at Addr that has users (clients.Options). The text protocol has no
	// credentials: its connections act as the broker's --text-user.
	User, Password, Mechanism, Vhost string
}

// targetMakers maps names to constructors.
var targetMakers = map[string]func(ctx context.Context, o TargetOptions) (Target, error){
	"ciphermq-inproc": func(ctx context.Context, o TargetOptions) (Target, error) {
		return openCipherInproc(ctx, o, false, false)
	},
	"ciphermq": func(ctx context.Context, o TargetOptions) (Target, error) {
		return openCipherProcess(ctx, o, false, false)
	},
	"ciphermq-inproc-durable": func(ctx context.Context, o TargetOptions) (Target, error) {
		return openCipherInproc(ctx, o, true, false)
	},
	"ciphermq-durable": func(ctx context.Context, o TargetOptions) (Target, error) {
		return openCipherProcess(ctx, o, true, false)
	},
	"ciphermq-inproc-tls": func(ctx context.Context, o TargetOptions) (Target, error) {
		return openCipherInproc(ctx, o, false, true)
	},
	"ciphermq-tls": func(ctx context.Context, o TargetOptions) (Target, error) {
		return openCipherProcess(ctx, o, false, true)
	},
	"rabbitmq-transient":  func(ctx context.Context, o TargetOptions) (Target, error) { return openRabbit(ctx, o, false) },
	"rabbitmq-persistent": func(ctx context.Context, o TargetOptions) (Target, error) { return openRabbit(ctx, o, true) },
	"nats-memory":         func(ctx context.Context, o TargetOptions) (Target, error) { return openNATS(ctx, o, false) },
	"nats-file":           func(ctx context.Context, o TargetOptions) (Target, error) { return openNATS(ctx, o, true) },
}

// Targets lists the target names, sorted.
func Targets() []string {
	names := make([]string, 0, len(targetMakers))
	for n := range targetMakers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Open connects to (or starts) the named target.
func Open(ctx context.Context, name string, o TargetOptions) (Target, error) {
	mk, ok := targetMakers[name]
	if !ok {
		return nil, fmt.Errorf("%w %q: use one of %s", ErrUnknownTarget, name, strings.Join(Targets(), ", "))
	}
	return mk(ctx, o)
}
