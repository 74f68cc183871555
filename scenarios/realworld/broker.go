package realworld

import (
	"context"
	"fmt"
	"net"
	"time"
)

// brokerHeartbeat is short so that a silently dead link (black hole, stall)
// is detected within seconds (3 silent intervals), and not shorter: on a
// loaded 2-core machine a 250ms heartbeat saw healthy connections declared
// dead after scheduling pauses, which breaks the premise of the scenarios
// that check order (no reconnect, so no redelivery).
const brokerHeartbeat = time.Second

// Broker is the `ciphermq server` child. Its address stays the same across
// restarts, so the fault proxies in front of it need no change.
type Broker struct {
	*Process
	Addr string
}

// newBroker describes a broker on a free loopback port.
func newBroker(dir, bin string) (*Broker, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	p := newProcess("broker", dir, bin, "server",
		"--listen", addr,
		"--in-memory", // these scenarios test the in-memory broker; durable.go starts one with defaults
		"--heartbeat", brokerHeartbeat.String(),
		"--log-format", "json",
		"--shutdown-timeout", "2s",
		"--http-listen", "off", // many brokers run side by side; none needs the operations port
	)
	return &Broker{Process: p, Addr: addr}, nil
}

// Start starts the broker and waits until it accepts connections.
func (b *Broker) Start(ctx context.Context) error {
	if err := b.Process.Start(); err != nil {
		return err
	}
	err := waitUntil(ctx, "the broker to accept connections on "+b.Addr, func() (bool, error) {
		if !b.Running() {
			return false, fmt.Errorf("the broker exited (%v) before accepting connections", b.ExitErr())
		}
		c, err := net.DialTimeout("tcp", b.Addr, 200*time.Millisecond)
		if err != nil {
			return false, nil
		}
		c.Close()
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%w\nbroker log:\n%s", err, b.LogTail(20))
	}
	return nil
}

// freeLoopbackAddr asks the kernel for a free port. Another process could
// take it before the broker binds it; on a test machine that is rare, and
// the broker's start then fails loudly rather than silently.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free loopback port: %w", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr, nil
}
