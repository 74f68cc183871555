package crossbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/ciphermq/ciphermq/clients"
)

// cipherTarget is `ciphermq server` driven by the Go client library
// (package clients), which reconnects, declares its topology again and
// resends unconfirmed publishes by itself: the scenarios test that too.
type cipherTarget struct {
	bin     string
	durable bool
	dir     string
	args    []string
	brokerProc
}

const cipherExchange = "xb-x"

func newCipher(o Options, durable bool) Target {
	return &cipherTarget{bin: o.CipherBinary, durable: durable}
}

func (t *cipherTarget) Name() string {
	if t.durable {
		return "ciphermq-durable"
	}
	return "ciphermq"
}

func (t *cipherTarget) Settings() string {
	if t.durable {
		return "ciphermq server --data-dir DIR --fsync always; durable queue; confirms after fsync; client library resends unconfirmed publishes with the same id (broker dedup window)"
	}
	return "ciphermq server --in-memory; non-durable queue; confirms once routed in memory; client library resends unconfirmed publishes with the same id (broker dedup window)"
}

func (t *cipherTarget) Durable() bool { return t.durable }

func (t *cipherTarget) Available() error {
	if t.bin == "" {
		return errors.New("no ciphermq binary given")
	}
	_, err := os.Stat(t.bin)
	return err
}

func (t *cipherTarget) Start(ctx context.Context, dir string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	t.dir, t.addr = dir, "127.0.0.1:"+strconv.Itoa(port)
	t.args = []string{"server", "--listen", t.addr, "--log-level", "warn"}
	if t.durable {
		t.args = append(t.args, "--data-dir", filepath.Join(dir, "data"), "--fsync", "always")
	} else {
		t.args = append(t.args, "--in-memory")
	}
	return t.Restart(ctx)
}

func (t *cipherTarget) Restart(ctx context.Context) error {
	log := filepath.Join(t.dir, "ciphermq.log")
	p, err := startProc("ciphermq server", log, nil, t.bin, t.args...)
	if err != nil {
		return err
	}
	t.p = p
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	return waitListening(wctx, t.addr, p, log)
}

func (t *cipherTarget) ConfirmTimeout() time.Duration {
	// The client resends on its own after a reconnect; a new attempt from
	// the harness would only add a second copy of the same id.
	return 30 * time.Second
}

func (t *cipherTarget) Stop() {
	if t.p != nil {
		t.p.stop(10 * time.Second)
	}
}

func (t *cipherTarget) options(name string) clients.Options {
	return clients.Options{ClientName: name, Logger: slog.New(slog.DiscardHandler),
		ReconnectMin: 50 * time.Millisecond, ReconnectMax: time.Second}
}

// declare declares the topology through c: the client declares it again
// after every reconnect, so an in-memory broker's restart is survived.
func (t *cipherTarget) declare(ctx context.Context, c *clients.Conn) error {
	if err := c.DeclareQueue(ctx, queueName, clients.QueueOptions{Durable: t.durable}); err != nil {
		return err
	}
	if err := c.DeclareExchange(ctx, cipherExchange, clients.ExchangeType("direct")); err != nil {
		return err
	}
	return c.Bind(ctx, cipherExchange, queueName, queueName)
}

func (t *cipherTarget) Setup(ctx context.Context, addr string) error {
	c, err := clients.Dial(ctx, addr, t.options("xb-admin"))
	if err != nil {
		return err
	}
	defer c.Close()
	return t.declare(ctx, c)
}

func (t *cipherTarget) Dial(ctx context.Context, addr, name string) (Session, error) {
	c, err := clients.Dial(ctx, addr, t.options(name))
	if err != nil {
		return nil, err
	}
	if err := t.declare(ctx, c); err != nil {
		c.Close()
		return nil, err
	}
	return &cipherSession{t: t, c: c}, nil
}

type cipherSession struct {
	t   *cipherTarget
	c   *clients.Conn
	pub *clients.Publisher
}

func (s *cipherSession) Publish(ctx context.Context, id string, body []byte) error {
	if s.pub == nil {
		p, err := s.c.NewPublisher(clients.PublisherOptions{Exchange: cipherExchange, RoutingKey: queueName, Window: 64})
		if err != nil {
			return err
		}
		s.pub = p
	}
	f, err := s.pub.Publish(ctx, id, body)
	if err != nil {
		return err
	}
	err = f.Wait(ctx)
	var be *clients.BrokerError
	if errors.As(err, &be) {
		return &Refusal{Reason: fmt.Sprintf("%d %s", be.Code, be.Reason)}
	}
	return err
}

func (s *cipherSession) Consume(ctx context.Context, deliver func(string, []byte, bool)) error {
	cs, err := s.c.Consume(ctx, clients.ConsumerOptions{
		Queue: queueName, Prefetch: 100,
		Handler: func(_ context.Context, d *clients.Delivery) error {
			deliver(d.MessageID, d.Body, d.Redelivered)
			return nil
		},
	})
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cs.Cancel(cctx)
		return ctx.Err()
	case <-cs.Done():
		return fmt.Errorf("ciphermq consumer ended: %w", cs.Err())
	}
}

func (s *cipherSession) Close() { go s.c.Close() }
