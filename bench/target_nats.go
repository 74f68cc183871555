package bench

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// DefaultNATSURL is where bench/compare starts nats-server (not 4222, so a
// NATS already running on this machine is left alone).
const DefaultNATSURL = "nats://127.0.0.1:4232"

// natsTarget drives NATS JetStream through its official client: a
// work-queue stream per run (a message is removed once acked, like a queue),
// asynchronous publish with PubAck and the message id as Nats-Msg-Id (so
// JetStream deduplicates, as CipherMQ does), and one durable pull consumer
// with explicit acks shared by all consumer connections.
type natsTarget struct {
	name    string
	url     string
	pid     int
	storage jetstream.StorageType
	admin   *nats.Conn
	js      jetstream.JetStream
	spec    Spec
	stream  string
	subject string
}

const natsConsumerName = "bench"

func openNATS(_ context.Context, o TargetOptions, file bool) (Target, error) {
	t := &natsTarget{name: "nats-memory", url: o.Addr, pid: o.BrokerPID, storage: jetstream.MemoryStorage}
	if file {
		t.name, t.storage = "nats-file", jetstream.FileStorage
	}
	if t.url == "" {
		t.url = DefaultNATSURL
	}
	nc, err := nats.Connect(t.url, nats.Name("bench-admin"))
	if err != nil {
		return nil, fmt.Errorf("bench: %s: cannot reach NATS at %s: %w (is nats-server -js running? bench/compare starts one)", t.name, t.url, err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	t.admin, t.js = nc, js
	return t, nil
}

func (t *natsTarget) Name() string   { return t.name }
func (t *natsTarget) BrokerPID() int { return t.pid }

func (t *natsTarget) Setup(ctx context.Context, spec Spec) error {
	if spec.Protocol != "native" {
		return fmt.Errorf("%w: NATS speaks its own protocol only; use --protocol native", ErrUnsupported)
	}
	t.spec, t.stream, t.subject = spec, spec.RunID, "bench."+spec.RunID
	s, err := t.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: t.stream, Subjects: []string{t.subject}, Storage: t.storage, Retention: jetstream.WorkQueuePolicy,
	})
	if err != nil {
		return err
	}
	_, err = s.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable: natsConsumerName, AckPolicy: jetstream.AckExplicitPolicy,
		// The prefetch is per consumer connection; JetStream bounds
		// unacked messages per (shared) consumer, hence the product.
		MaxAckPending: spec.Prefetch * spec.Consumers,
	})
	return err
}

func (t *natsTarget) Teardown(ctx context.Context) error { return t.js.DeleteStream(ctx, t.stream) }

func (t *natsTarget) Close() error { t.admin.Close(); return nil }

func (t *natsTarget) NewPublisher(_ context.Context, i int) (Publisher, error) {
	nc, err := nats.Connect(t.url, nats.Name(fmt.Sprintf("bench-pub-%d", i)))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(t.spec.Window))
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &natsPublisher{nc: nc, js: js, subject: t.subject}, nil
}

type natsPublisher struct {
	nc      *nats.Conn
	js      jetstream.JetStream
	subject string
}

type natsPending struct{ f jetstream.PubAckFuture }

func (p natsPending) Wait(ctx context.Context) error {
	select {
	case <-p.f.Ok():
		return nil
	case err := <-p.f.Err():
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *natsPublisher) Publish(_ context.Context, id string, body []byte) (Pending, error) {
	f, err := p.js.PublishAsync(p.subject, body, jetstream.WithMsgID(id))
	if err != nil {
		return nil, err
	}
	return natsPending{f}, nil
}

func (p *natsPublisher) Close() error { p.nc.Close(); return nil }

func (t *natsTarget) NewConsumer(ctx context.Context, i int, deliver Deliver) (Consumer, error) {
	nc, err := nats.Connect(t.url, nats.Name(fmt.Sprintf("bench-cons-%d", i)))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	var cons jetstream.Consumer
	if err == nil {
		cons, err = js.Consumer(ctx, t.stream, natsConsumerName)
	}
	var cc jetstream.ConsumeContext
	if err == nil {
		cc, err = cons.Consume(func(m jetstream.Msg) {
			deliver(m.Headers().Get(jetstream.MsgIDHeader), nil, m.Data())
			_ = m.Ack() // a lost ack is redelivered, and shows as a duplicate
		}, jetstream.PullMaxMessages(t.spec.Prefetch))
	}
	if err != nil {
		nc.Close()
		return nil, errors.Join(fmt.Errorf("bench: %s consumer %d", t.name, i), err)
	}
	return &natsConsumer{nc: nc, cc: cc}, nil
}

type natsConsumer struct {
	nc *nats.Conn
	cc jetstream.ConsumeContext
}

func (c *natsConsumer) Close() error {
	c.cc.Stop()
	c.nc.Close()
	return nil
}
