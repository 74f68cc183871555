package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
)

// cipherTarget drives a CipherMQ broker through the Go client library
// (native protocol) or the seed text protocol.
type cipherTarget struct {
	name  string
	addr  string
	pid   int
	stop  func() error
	admin *clients.Conn
	spec  Spec
	queue string
	exch  string
	key   string
	// durable declares the run's queue durable; dataDir is the broker's
	// temporary data directory when this target started the broker, removed
	// by Close.
	durable bool
	dataDir string
	// tls, when set, is how every connection reaches the broker; certDir
	// holds the certificates of a -tls broker this target started (removed
	// by Close).
	tls     *tls.Config
	certDir string
	// auth holds the credentials of a broker at --broker (User,
	// Password, Mechanism, Vhost); empty for a broker this target started.
	auth clients.Options
}

// durableFsync is the fsync policy of the durable targets' brokers: confirm
// only after fsync, the default and the one the comparison is about.
const durableFsync = "always"

// tempDataDir makes the data directory of a durable broker this target
// starts. It goes under TMPDIR like the other brokers' state in
// bench/compare, so all of them write to the same disk.
func tempDataDir() (string, error) {
	dir, err := os.MkdirTemp("", "ciphermq-bench-data-")
	if err != nil {
		return "", fmt.Errorf("bench: data directory for the durable broker: %w (set TMPDIR to a writable disk)", err)
	}
	return dir, nil
}

// openCipherInproc starts a broker inside this process on a loopback port;
// durable gives it a temporary data directory (fsync always) and declares
// the run's queue durable.
func openCipherInproc(ctx context.Context, o TargetOptions, durable, useTLS bool) (Target, error) {
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	name := "ciphermq-inproc"
	var clientTLS *tls.Config
	var certDir string
	if useTLS {
		m, err := makeBenchTLS()
		if err != nil {
			return nil, err
		}
		name, certDir, clientTLS = "ciphermq-inproc-tls", m.dir, m.client
		cfg.TLS.Listen = cfg.Listen
		cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile = m.server.Cert, m.server.Key, m.server.CA
		cfg.TLS.ClientAuth = server.ClientAuthRequire
	}
	if durable {
		dir, err := tempDataDir()
		if err != nil {
			return nil, err
		}
		name, cfg.DataDir = "ciphermq-inproc-durable", dir
		// DefaultConfig's fsync policy is wal.SyncAlways; kept as is.
	}
	// The seed's 20 ms quiet time before each text push exists for the
	// reference clients' 1024-byte reads; the bench's text client frames
	// lines, so it needs only the smallest gap (0 would mean the default). Native
	// traffic is unaffected.
	cfg.TextPacingGap = time.Nanosecond
	removeDir := func() error {
		var err error
		if certDir != "" {
			err = os.RemoveAll(certDir)
		}
		if cfg.DataDir == "" {
			return err
		}
		return errors.Join(err, os.RemoveAll(cfg.DataDir))
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bench: in-process broker listen: %w", err), removeDir())
	}
	srv, err := server.New(cfg, nil)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("bench: in-process broker: %w", err), ln.Close(), removeDir())
	}
	served := make(chan error, 1)
	go func() {
		if useTLS {
			served <- srv.ServeTLS(ln)
		} else {
			served <- srv.Serve(ln)
		}
	}()
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-served; serr != nil && !errors.Is(serr, server.ErrServerClosed) {
			err = errors.Join(err, serr)
		}
		return errors.Join(err, removeDir())
	}
	t := &cipherTarget{name: name, addr: ln.Addr().String(), pid: -1, stop: stop, durable: durable, dataDir: cfg.DataDir, tls: clientTLS, certDir: certDir}
	if err := t.connectAdmin(ctx); err != nil {
		return nil, errors.Join(err, stop())
	}
	return t, nil
}

func (t *cipherTarget) connectAdmin(ctx context.Context) error {
	c, err := clients.Dial(ctx, t.addr, t.options("bench-admin"))
	if err != nil {
		return fmt.Errorf("bench: %s: %w", t.name, err)
	}
	t.admin = c
	return nil
}

func (t *cipherTarget) options(name string) clients.Options {
	return clients.Options{ClientName: name, Logger: slog.New(slog.DiscardHandler), MaxFrameSize: 32 << 20, TLS: t.tls,
		User: t.auth.User, Password: t.auth.Password, Mechanism: t.auth.Mechanism, Vhost: t.auth.Vhost}
}

func (t *cipherTarget) Name() string   { return t.name }
func (t *cipherTarget) BrokerPID() int { return t.pid }

func (t *cipherTarget) Setup(ctx context.Context, spec Spec) error {
	t.spec = spec
	t.queue = spec.RunID
	t.exch = spec.RunID + "-x"
	t.key = "bench." + spec.RunID
	if max := t.admin.MaxMessageSize(); max > 0 && spec.MessageSize > max {
		return fmt.Errorf("%w: messages of %d bytes exceed the broker's limit of %d (raise --max-message-size of the server)", ErrUnsupported, spec.MessageSize, max)
	}
	if err := t.admin.DeclareQueue(ctx, t.queue, clients.QueueOptions{Durable: t.durable}); err != nil {
		return err
	}
	if err := t.admin.DeclareExchange(ctx, t.exch, clients.ExchangeType(spec.ExchangeType)); err != nil {
		return err
	}
	return t.admin.Bind(ctx, t.exch, t.queue, bindingKey(spec))
}

// bindingKey is the binding of the run's queue: the routing key itself, or
// a pattern that matches it for topic exchanges (so topic matching is
// exercised).
func bindingKey(spec Spec) string {
	if spec.ExchangeType == "topic" {
		return "bench.*"
	}
	return "bench." + spec.RunID
}

func (t *cipherTarget) Teardown(ctx context.Context) error {
	_, err := t.admin.DeleteQueue(ctx, t.queue)
	return errors.Join(err, t.admin.DeleteExchange(ctx, t.exch))
}

func (t *cipherTarget) Close() error {
	err := t.admin.Close()
	if t.stop != nil {
		err = errors.Join(err, t.stop())
	}
	return err
}

func (t *cipherTarget) NewPublisher(ctx context.Context, i int) (Publisher, error) {
	if t.spec.Protocol == "text" {
		return dialTextPublisher(ctx, t.addr, t.tls, t.exch, t.key)
	}
	c, err := clients.Dial(ctx, t.addr, t.options(fmt.Sprintf("bench-pub-%d", i)))
	if err != nil {
		return nil, err
	}
	// The runner bounds the window; the library's own window is as large
	// so it never blocks first.
	p, err := c.NewPublisher(clients.PublisherOptions{Exchange: t.exch, RoutingKey: t.key, Window: t.spec.Window})
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return &cipherPublisher{conn: c, pub: p, exchange: t.exch, routingKey: t.key}, nil
}

type cipherPublisher struct {
	conn                 *clients.Conn
	pub                  *clients.Publisher
	exchange, routingKey string
}

func (p *cipherPublisher) Publish(ctx context.Context, id string, body []byte) (Pending, error) {
	return p.pub.Publish(ctx, id, body)
}

// PublishPrefixed implements PrefixPublisher.
func (p *cipherPublisher) PublishPrefixed(ctx context.Context, id string, prefix *clients.Prefix, rest []byte) (Pending, error) {
	return p.pub.PublishPrefixed(ctx, p.exchange, p.routingKey, id, prefix, rest)
}

func (p *cipherPublisher) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(p.pub.Close(ctx), p.conn.Close())
}

func (t *cipherTarget) NewConsumer(ctx context.Context, i int, deliver Deliver) (Consumer, error) {
	if t.spec.Protocol == "text" {
		return dialTextConsumer(ctx, t.addr, t.tls, t.queue, deliver)
	}
	c, err := clients.Dial(ctx, t.addr, t.options(fmt.Sprintf("bench-cons-%d", i)))
	if err != nil {
		return nil, err
	}
	cs, err := c.Consume(ctx, clients.ConsumerOptions{
		Queue:    t.queue,
		Prefetch: t.spec.Prefetch,
		// cmq1 headers that travelled as a shared prefix stay shared:
		// received opens the two parts without joining them.
		SplitPrefix: true,
		Handler: func(_ context.Context, d *clients.Delivery) error {
			deliver(d.MessageID, d.Prefix, d.Body)
			return nil
		},
	})
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	return &cipherConsumer{conn: c, cons: cs}, nil
}

type cipherConsumer struct {
	conn *clients.Conn
	cons *clients.Consumer
}

func (c *cipherConsumer) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return errors.Join(c.cons.Cancel(ctx), c.conn.Close())
}
