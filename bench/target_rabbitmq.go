package bench

import (
	"context"
	"errors"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"
)

// DefaultRabbitURL is where bench/compare starts RabbitMQ: not 5672, which
// is CipherMQ's port.
const DefaultRabbitURL = "amqp://guest:guest@127.0.0.1:5682/"

// rabbitTarget drives RabbitMQ through its official client: publisher
// confirms, manual acks, a classic queue, transient or persistent (a durable
// queue and persistent messages, which RabbitMQ writes to disk before it
// confirms them... once they are not consumed first).
type rabbitTarget struct {
	name       string
	url        string
	pid        int
	persistent bool
	admin      *amqp.Connection
	adminCh    *amqp.Channel
	spec       Spec
	queue      string
	exch       string
	key        string
}

func openRabbit(_ context.Context, o TargetOptions, persistent bool) (Target, error) {
	t := &rabbitTarget{name: "rabbitmq-transient", url: o.Addr, pid: o.BrokerPID, persistent: persistent}
	if persistent {
		t.name = "rabbitmq-persistent"
	}
	if t.url == "" {
		t.url = DefaultRabbitURL
	}
	c, err := amqp.Dial(t.url)
	if err != nil {
		return nil, fmt.Errorf("bench: %s: cannot reach RabbitMQ at %s: %w (is it running? bench/compare starts one)", t.name, t.url, err)
	}
	ch, err := c.Channel()
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	t.admin, t.adminCh = c, ch
	return t, nil
}

func (t *rabbitTarget) Name() string   { return t.name }
func (t *rabbitTarget) BrokerPID() int { return t.pid }

func (t *rabbitTarget) Setup(_ context.Context, spec Spec) error {
	if spec.Protocol != "native" {
		return fmt.Errorf("%w: RabbitMQ speaks AMQP only; use --protocol native", ErrUnsupported)
	}
	t.spec, t.queue, t.exch, t.key = spec, spec.RunID, spec.RunID+"-x", "bench."+spec.RunID
	args := amqp.Table{"x-queue-type": "classic"}
	if _, err := t.adminCh.QueueDeclare(t.queue, t.persistent, false, false, false, args); err != nil {
		return err
	}
	if err := t.adminCh.ExchangeDeclare(t.exch, spec.ExchangeType, t.persistent, false, false, false, nil); err != nil {
		return err
	}
	return t.adminCh.QueueBind(t.queue, bindingKey(spec), t.exch, false, nil)
}

func (t *rabbitTarget) Teardown(context.Context) error {
	_, err := t.adminCh.QueueDelete(t.queue, false, false, false)
	return errors.Join(err, t.adminCh.ExchangeDelete(t.exch, false, false))
}

func (t *rabbitTarget) Close() error { return t.admin.Close() }

func (t *rabbitTarget) NewPublisher(context.Context, int) (Publisher, error) {
	c, err := amqp.Dial(t.url)
	if err != nil {
		return nil, err
	}
	ch, err := c.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	mode := amqp.Transient
	if t.persistent {
		mode = amqp.Persistent
	}
	return &rabbitPublisher{conn: c, ch: ch, exch: t.exch, key: t.key, mode: mode}, nil
}

type rabbitPublisher struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	exch string
	key  string
	mode uint8
}

type rabbitPending struct{ dc *amqp.DeferredConfirmation }

// errNacked: RabbitMQ answered a publish with basic.nack.
var errNacked = errors.New("bench: RabbitMQ nacked the message")

func (p rabbitPending) Wait(ctx context.Context) error {
	ok, err := p.dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errNacked
	}
	return nil
}

func (p *rabbitPublisher) Publish(ctx context.Context, id string, body []byte) (Pending, error) {
	dc, err := p.ch.PublishWithDeferredConfirmWithContext(ctx, p.exch, p.key, true, false, amqp.Publishing{
		MessageId: id, Body: body, DeliveryMode: p.mode,
	})
	if err != nil {
		return nil, err
	}
	return rabbitPending{dc}, nil
}

func (p *rabbitPublisher) Close() error { return p.conn.Close() }

func (t *rabbitTarget) NewConsumer(_ context.Context, i int, deliver Deliver) (Consumer, error) {
	c, err := amqp.Dial(t.url)
	if err != nil {
		return nil, err
	}
	ch, err := c.Channel()
	if err == nil {
		err = ch.Qos(t.spec.Prefetch, 0, false)
	}
	var ds <-chan amqp.Delivery
	if err == nil {
		ds, err = ch.Consume(t.queue, fmt.Sprintf("bench-%d", i), false, false, false, false, nil)
	}
	if err != nil {
		return nil, errors.Join(err, c.Close())
	}
	rc := &rabbitConsumer{conn: c, done: make(chan struct{})}
	go func() {
		defer close(rc.done)
		for d := range ds {
			deliver(d.MessageId, nil, d.Body)
			if d.Ack(false) != nil {
				return
			}
		}
	}()
	return rc, nil
}

type rabbitConsumer struct {
	conn *amqp.Connection
	done chan struct{}
}

func (c *rabbitConsumer) Close() error {
	err := c.conn.Close()
	<-c.done
	return err
}
