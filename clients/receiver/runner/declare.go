package runner

import (
	"context"
	"fmt"
	"io"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/clients"
)

// Durability is what a receiver asks of the queues DeclareQueue declares.
type Durability uint8

const (
	// DurableIfPossible declares durable queues, falling back (said on
	// the warnings writer) to in-memory ones on a broker without a data
	// directory or where they already exist in memory (recv's default).
	DurableIfPossible Durability = iota
	// DurableRequired declares durable queues or fails (recv --durable).
	DurableRequired
	// InMemory declares in-memory queues (recv --in-memory).
	InMemory
)

// DeclareQueue makes sure queue and its dead-letter queue <queue>.dlq
// exist and queue is bound to exchange with key, and returns the
// dead-letter queue ("" when it cannot tell where rejections go). An
// existing queue with other options is refused: the receiver cannot tell
// where its rejected messages would go (a queue declared without a
// dead-letter queue discards them, and nothing is discarded unless someone
// asked) nor whether it survives restarts. With asIs (recv --queue-as-is)
// it is consumed as it is, with a warning, except with DurableRequired,
// which never consumes a queue it cannot vouch for. A receiver not permitted to declare (granted read only)
// consumes the queue an operator set up. Warnings go to warn; the error
// messages name recv's flags.
func DeclareQueue(ctx context.Context, warn io.Writer, conn *clients.Conn, queue, exchange, key string, want Durability, asIs bool) (string, error) {
	dlq := broker.DeadLetterQueueName(queue)
	declare := func(durable bool) error {
		err := conn.DeclareQueue(ctx, dlq, clients.QueueOptions{Durable: durable})
		if err == nil {
			err = conn.DeclareQueue(ctx, queue, clients.QueueOptions{Durable: durable, DeadLetterQueue: dlq})
		}
		return err
	}
	err := declare(want != InMemory)
	if want == DurableIfPossible {
		switch c, _ := clients.BrokerCode(err); {
		case c == clients.CodeUnavailable:
			fmt.Fprintf(warn, "the broker keeps no data directory (started --in-memory?): queues %s and %s are in memory only, their messages are lost if the broker stops\n", queue, dlq)
			err = declare(false)
		case clients.IsMismatch(err):
			// They may exist in memory with recv's options otherwise (the
			// default topology of a broker without a data directory).
			if err = declare(false); err == nil {
				fmt.Fprintf(warn, "queues %s and %s exist in memory: their messages are lost if the broker stops\n", queue, dlq)
			}
		}
	}
	if clients.IsAccessRefused(err) && want != DurableRequired {
		fmt.Fprintf(warn, "not permitted to declare queue %s or %s (%v): consuming it as an operator set it up; its rejections go where its options say\n", queue, dlq, err)
		return "", nil
	}
	switch {
	case err != nil && want == DurableRequired && clients.IsMismatch(err):
		return "", fmt.Errorf("--durable: queue %q or %q already exists with other options (%w): "+
			"pass --queue with a name not in use (on a broker started --in-memory the predeclared %s is in memory), or delete the queue first", queue, dlq, err, broker.DefaultQueue)
	case err != nil && want == DurableRequired:
		return "", fmt.Errorf("declare durable queue %q: %w (durable queues need a broker with a data directory: one not started --in-memory)", queue, err)
	case err != nil && !clients.IsMismatch(err):
		return "", fmt.Errorf("declare queue %q: %w", queue, err)
	case err != nil && !asIs:
		return "", fmt.Errorf("queue %q already exists with options recv did not set (%w): recv cannot tell where its rejected messages "+
			"would go, and a queue declared without a dead-letter queue discards them. Consume another --queue (recv declares it with "+
			"%s), delete this one once it is empty (`ciphermq ctl delete queue`) so that recv declares it, or pass --queue-as-is to consume it anyway", queue, err, dlq)
	case err != nil:
		fmt.Fprintf(warn, "warning: queue %s already exists with options recv did not set (%v): consuming it as it is; "+
			"its rejected messages go to its own dead-letter queue, or are discarded if it has none\n", queue, err)
		dlq = ""
	}
	if err := conn.Bind(ctx, exchange, queue, key); err != nil {
		return "", fmt.Errorf("bind queue %q to exchange %q with key %q: %w: pass an existing --exchange", queue, exchange, key, err)
	}
	return dlq, nil
}
