package crossbroker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// rabbitTarget is rabbitmq-server started the way bench/compare starts it
// (the script under /usr/lib/rabbitmq/bin, as this user, all state in the
// run's directory, its own epmd), but on ports the kernel picks, so a
// bench/compare running beside it does not collide. The client is
// amqp091-go: publisher confirms, manual acks.
type rabbitTarget struct {
	quorum   bool
	dir      string
	port     int
	env      []string
	epmd     *proc
	nodeName string
	brokerProc
}

const rabbitScript = "/usr/lib/rabbitmq/bin/rabbitmq-server"

func newRabbit(_ Options, quorum bool) Target { return &rabbitTarget{quorum: quorum} }

func (t *rabbitTarget) Name() string {
	if t.quorum {
		return "rabbitmq-quorum"
	}
	return "rabbitmq-transient"
}

func (t *rabbitTarget) Settings() string {
	if t.quorum {
		return "RabbitMQ " + debVersion("rabbitmq-server") + ", one node; durable quorum queue (x-queue-type quorum, fsync before confirm); persistent messages (delivery mode 2); publisher confirms; manual acks, prefetch 100; no publish dedup (a retried publish is a second message)"
	}
	return "RabbitMQ " + debVersion("rabbitmq-server") + ", one node; non-durable classic queue; transient messages (delivery mode 1); publisher confirms; manual acks, prefetch 100; no publish dedup"
}

func (t *rabbitTarget) Durable() bool { return t.quorum }

func (t *rabbitTarget) Available() error {
	if _, err := lookPath(rabbitScript, "rabbitmq-server"); err != nil {
		return err
	}
	_, err := lookPath("epmd", "rabbitmq-server")
	return err
}

func (t *rabbitTarget) Start(ctx context.Context, dir string) error {
	if err := t.Available(); err != nil {
		return err
	}
	var ports [3]int
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return err
		}
		ports[i] = p
	}
	t.dir, t.port = dir, ports[0]
	t.addr = "127.0.0.1:" + strconv.Itoa(t.port)
	d := filepath.Join(dir, "rabbitmq")
	for _, sub := range []string{"home", "mnesia", "log"} {
		if err := os.MkdirAll(filepath.Join(d, sub), 0o755); err != nil {
			return err
		}
	}
	// Erlang nodes authenticate with a cookie file in $HOME: private, ours.
	cookie := filepath.Join(d, "home", ".erlang.cookie")
	if err := os.WriteFile(cookie, []byte(fmt.Sprintf("crossbroker-%d-%d", os.Getpid(), time.Now().UnixNano())), 0o400); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(d, "enabled_plugins"), []byte("[].\n"), 0o644); err != nil {
		return err
	}
	epmdPort := strconv.Itoa(ports[2])
	epmd, err := startProc("epmd", filepath.Join(d, "epmd.log"), nil, "epmd", "-port", epmdPort)
	if err != nil {
		return err
	}
	t.epmd = epmd
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := waitListening(wctx, "127.0.0.1:"+epmdPort, epmd, filepath.Join(d, "epmd.log")); err != nil {
		return err
	}
	t.nodeName = fmt.Sprintf("crossbroker-%d-%d@localhost", os.Getpid(), ports[0])
	t.env = []string{
		"HOME=" + filepath.Join(d, "home"), "ERL_EPMD_PORT=" + epmdPort,
		"RABBITMQ_NODENAME=" + t.nodeName,
		"RABBITMQ_NODE_IP_ADDRESS=127.0.0.1", "RABBITMQ_NODE_PORT=" + strconv.Itoa(ports[0]),
		"RABBITMQ_DIST_PORT=" + strconv.Itoa(ports[1]),
		"RABBITMQ_MNESIA_BASE=" + filepath.Join(d, "mnesia"), "RABBITMQ_LOG_BASE=" + filepath.Join(d, "log"),
		"RABBITMQ_ENABLED_PLUGINS_FILE=" + filepath.Join(d, "enabled_plugins"),
		"RABBITMQ_CONFIG_FILE=" + filepath.Join(d, "rabbitmq"),
		"RABBITMQ_ADVANCED_CONFIG_FILE=" + filepath.Join(d, "advanced.config"),
		"RABBITMQ_PID_FILE=" + filepath.Join(d, "rabbitmq.pid"),
	}
	return t.Restart(ctx)
}

func (t *rabbitTarget) Restart(ctx context.Context) error {
	d := filepath.Join(t.dir, "rabbitmq")
	pidFile := filepath.Join(d, "rabbitmq.pid")
	os.Remove(pidFile)
	log := filepath.Join(d, "stdout.log")
	p, err := startProc("rabbitmq-server", log, t.env, rabbitScript)
	if err != nil {
		return err
	}
	t.p = p
	wctx, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	if err := waitListening(wctx, t.Addr(), p, log); err != nil {
		return err
	}
	// Signals go to the Erlang VM (beam.smp), whose pid the server writes;
	// the launcher script only waits for it.
	// The pid file can come a moment after the listener: wait for it.
	var data []byte
	for {
		if data, err = os.ReadFile(pidFile); err == nil && len(strings.TrimSpace(string(data))) > 0 {
			break
		}
		select {
		case <-wctx.Done():
			return fmt.Errorf("crossbroker: RabbitMQ pid file %s: %w", pidFile, errors.Join(err, wctx.Err()))
		case <-time.After(50 * time.Millisecond):
		}
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return fmt.Errorf("crossbroker: RabbitMQ pid file %s: %w", pidFile, err)
	}
	p.pid = pid
	return nil
}

func (t *rabbitTarget) ConfirmTimeout() time.Duration { return 3 * time.Second }

func (t *rabbitTarget) Stop() {
	if t.p != nil {
		t.p.stop(20 * time.Second)
	}
	if t.epmd != nil {
		t.epmd.stop(5 * time.Second)
	}
}

func (t *rabbitTarget) queueArgs() amqp.Table {
	if t.quorum {
		return amqp.Table{"x-queue-type": "quorum"}
	}
	return amqp.Table{"x-queue-type": "classic"}
}

func (t *rabbitTarget) Setup(ctx context.Context, addr string) error {
	s, err := t.dial(ctx, addr)
	if err != nil {
		return err
	}
	defer s.Close()
	ch, err := s.conn.Channel()
	if err != nil {
		return err
	}
	_, err = ch.QueueDeclare(queueName, t.quorum, false, false, false, t.queueArgs())
	return err
}

type rabbitSession struct {
	t     *rabbitTarget
	conn  *amqp.Connection
	raw   net.Conn
	ch    *amqp.Channel
	close chan *amqp.Error
}

func (t *rabbitTarget) dial(ctx context.Context, addr string) (*rabbitSession, error) {
	s := &rabbitSession{t: t}
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := amqp.DialConfig("amqp://guest:guest@"+addr+"/", amqp.Config{
		Heartbeat: 2 * time.Second,
		Dial: func(network, a string) (net.Conn, error) {
			var d net.Dialer
			c, err := d.DialContext(dctx, network, a)
			if err == nil {
				s.raw = c
				// The handshake must not hang on a paused broker.
				c.SetDeadline(time.Now().Add(5 * time.Second))
			}
			return c, err
		},
	})
	if err != nil {
		return nil, err
	}
	s.raw.SetDeadline(time.Time{})
	s.conn = conn
	return s, nil
}

func (t *rabbitTarget) Dial(ctx context.Context, addr, _ string) (Session, error) {
	return t.dial(ctx, addr)
}

func (s *rabbitSession) Publish(ctx context.Context, id string, body []byte) error {
	if s.ch == nil {
		ch, err := s.conn.Channel()
		if err == nil {
			err = ch.Confirm(false)
		}
		if err != nil {
			return err
		}
		s.ch = ch
	}
	mode := amqp.Transient
	if s.t.quorum {
		mode = amqp.Persistent
	}
	dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, "", queueName, false, false, amqp.Publishing{
		MessageId: id, Body: body, DeliveryMode: mode,
	})
	if err != nil {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return err
	case ok:
		return nil
	case s.conn.IsClosed() || s.ch.IsClosed():
		// amqp091 resolves outstanding confirms as nacks when the channel
		// closes: that is not the broker's answer.
		return errors.New("connection closed before the confirm")
	}
	return &Refusal{Reason: "basic.nack"}
}

func (s *rabbitSession) Consume(ctx context.Context, deliver func(string, []byte, bool)) error {
	ch, err := s.conn.Channel()
	if err == nil {
		err = ch.Qos(100, 0, false)
	}
	var ds <-chan amqp.Delivery
	if err == nil {
		ds, err = ch.Consume(queueName, "", false, false, false, false, nil)
	}
	if err != nil {
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case d, ok := <-ds:
			if !ok {
				return errors.New("RabbitMQ delivery channel closed")
			}
			deliver(d.MessageId, d.Body, d.Redelivered)
			if err := d.Ack(false); err != nil {
				return err
			}
		}
	}
}

// Close drops the TCP connection: a graceful AMQP close would wait for a
// paused broker's close-ok.
func (s *rabbitSession) Close() {
	if s.raw != nil {
		s.raw.Close()
	}
}

// debVersion is an installed Debian package's version, or "?".
func debVersion(pkg string) string {
	out, err := execOutput("dpkg-query", "-W", "-f", "${Version}", pkg)
	if err != nil || out == "" {
		return "?"
	}
	return out
}
