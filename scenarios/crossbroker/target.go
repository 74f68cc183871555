package crossbroker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Target is one broker, in one configuration, under the scenarios: a
// process this package starts, SIGKILLs, restarts and pauses, and the
// official client that publishes with confirms and consumes with manual
// acks.
type Target interface {
	Name() string
	// Settings are the exact broker and client settings, for the report.
	Settings() string
	// Durable says whether confirmed messages are promised to survive a
	// SIGKILL of the broker (the checker then owes them all).
	Durable() bool
	// Available says why the target cannot run here (its binary is
	// missing), or nil.
	Available() error
	// Start starts the broker with fresh state under dir.
	Start(ctx context.Context, dir string) error
	// Addr is the broker's client address (host:port).
	Addr() string
	// Setup declares the queue (or stream and consumer) on the broker at
	// addr; it is idempotent, and is run again after every restart (a
	// transient queue does not survive one).
	Setup(ctx context.Context, addr string) error
	// Kill SIGKILLs the broker; Restart starts it again on the same
	// address with the same state directory.
	Kill(ctx context.Context) error
	Restart(ctx context.Context) error
	// Pause and Resume send SIGSTOP and SIGCONT to the broker.
	Pause() error
	Resume() error
	// Dial opens a client connection to addr (the fault proxy).
	Dial(ctx context.Context, addr, name string) (Session, error)
	// ConfirmTimeout is how long a publisher waits for one confirm before
	// it calls the attempt indeterminate and retries on a new connection.
	ConfirmTimeout() time.Duration
	// Stop stops everything Start started.
	Stop()
}

// Session is one client connection.
type Session interface {
	// Publish publishes one persistent (per the target's settings) message
	// and waits for the broker's confirm: nil when confirmed, a *Refusal
	// when the broker refused it, any other error when the outcome is
	// unknown (timeout, connection lost).
	Publish(ctx context.Context, id string, body []byte) error
	// Consume delivers messages until ctx ends or the connection fails
	// (its error); each is acked after deliver returns.
	Consume(ctx context.Context, deliver func(id string, body []byte, redelivered bool)) error
	// Close drops the connection (abruptly is fine: nothing acked is lost).
	Close()
}

// Refusal is a definite no from the broker (a nack).
type Refusal struct{ Reason string }

func (r *Refusal) Error() string { return "refused: " + r.Reason }

func isRefusal(err error) bool {
	var r *Refusal
	return errors.As(err, &r)
}

// queueName is the queue (or stream) every target uses.
const queueName = "xb"

var makers = map[string]func(Options) Target{
	"ciphermq":           func(o Options) Target { return newCipher(o, false) },
	"ciphermq-durable":   func(o Options) Target { return newCipher(o, true) },
	"rabbitmq-transient": func(o Options) Target { return newRabbit(o, false) },
	"rabbitmq-quorum":    func(o Options) Target { return newRabbit(o, true) },
	"nats-memory":        func(o Options) Target { return newNATS(o, false) },
	"nats-file":          func(o Options) Target { return newNATS(o, true) },
}

// families expand the short names of --target.
var families = map[string][]string{
	"ciphermq": {"ciphermq", "ciphermq-durable"},
	"rabbitmq": {"rabbitmq-transient", "rabbitmq-quorum"},
	"nats":     {"nats-memory", "nats-file"},
}

// Options configure targets.
type Options struct {
	// CipherBinary is the ciphermq binary started as the broker.
	CipherBinary string
}

// TargetNames lists every target name, sorted.
func TargetNames() []string {
	var names []string
	for n := range makers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ExpandTargets turns a comma-separated list of target or family names
// (ciphermq, rabbitmq, nats) into target names, in order, without repeats.
func ExpandTargets(list string) ([]string, error) {
	var out []string
	for _, n := range strings.Split(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		names := []string{n}
		if f, ok := families[n]; ok {
			names = f
		} else if _, ok := makers[n]; !ok {
			return nil, fmt.Errorf("unknown target %q: use ciphermq, rabbitmq, nats or one of %s", n, strings.Join(TargetNames(), ", "))
		}
		for _, x := range names {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no target given: use ciphermq, rabbitmq, nats or one of " + strings.Join(TargetNames(), ", "))
	}
	return out, nil
}

// NewTarget makes the named target.
func NewTarget(name string, o Options) (Target, error) {
	mk, ok := makers[name]
	if !ok {
		return nil, fmt.Errorf("unknown target %q: use one of %s", name, strings.Join(TargetNames(), ", "))
	}
	return mk(o), nil
}
