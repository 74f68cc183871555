package crossbroker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsTarget is nats-server -js started as bench/compare starts it (store
// directory in the run's directory), on a port the kernel picks; the
// client is nats.go's jetstream package: a work-queue stream, publish acks
// with the message id as Nats-Msg-Id (JetStream's dedup window), a durable
// pull consumer with explicit acks.
type natsTarget struct {
	file bool
	bin  string
	dir  string
	port int
	brokerProc
}

func newNATS(_ Options, file bool) Target { return &natsTarget{file: file} }

func (t *natsTarget) Name() string {
	if t.file {
		return "nats-file"
	}
	return "nats-memory"
}

func (t *natsTarget) Settings() string {
	st := "memory storage"
	if t.file {
		st = "file storage, server default sync (fsync every 2 minutes: the ack comes after the write to the OS, before fsync)"
	}
	return "nats-server " + strings.TrimPrefix(natsVersion(), "nats-server: ") + " -js; work-queue stream, " + st +
		", duplicate window 2m (Nats-Msg-Id); publish acks; durable pull consumer, explicit acks, ack wait 5s, max ack pending 100"
}

func (t *natsTarget) Durable() bool { return t.file }

func (t *natsTarget) Available() error {
	b, err := lookPath("nats-server", "nats-server")
	t.bin = b
	return err
}

func natsVersion() string {
	out, err := execOutput("nats-server", "--version")
	if err != nil {
		return "?"
	}
	return out
}

func (t *natsTarget) Start(ctx context.Context, dir string) error {
	if err := t.Available(); err != nil {
		return err
	}
	port, err := freePort()
	if err != nil {
		return err
	}
	t.dir, t.port, t.addr = dir, port, "127.0.0.1:"+strconv.Itoa(port)
	if err := os.MkdirAll(filepath.Join(dir, "nats"), 0o755); err != nil {
		return err
	}
	return t.Restart(ctx)
}

func (t *natsTarget) Restart(ctx context.Context) error {
	log := filepath.Join(t.dir, "nats.log")
	p, err := startProc("nats-server", log, nil, t.bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(t.port),
		"-sd", filepath.Join(t.dir, "nats"))
	if err != nil {
		return err
	}
	t.p = p
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	return waitListening(wctx, t.Addr(), p, log)
}

func (t *natsTarget) ConfirmTimeout() time.Duration { return 3 * time.Second }

func (t *natsTarget) Stop() {
	if t.p != nil {
		t.p.stop(10 * time.Second)
	}
}

const natsConsumer = "xb-c"

func (t *natsTarget) Setup(ctx context.Context, addr string) error {
	s, err := t.dial(addr, "xb-admin")
	if err != nil {
		return err
	}
	defer s.Close()
	storage := jetstream.MemoryStorage
	if t.file {
		storage = jetstream.FileStorage
	}
	// JetStream may need a moment after a restart to recover its streams.
	var last error
	for range 50 {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		var st jetstream.Stream
		st, last = s.js.CreateOrUpdateStream(cctx, jetstream.StreamConfig{
			Name: queueName, Subjects: []string{queueName}, Storage: storage,
			Retention: jetstream.WorkQueuePolicy, Duplicates: 2 * time.Minute,
		})
		if last == nil {
			_, last = st.CreateOrUpdateConsumer(cctx, jetstream.ConsumerConfig{
				Durable: natsConsumer, AckPolicy: jetstream.AckExplicitPolicy,
				AckWait: 5 * time.Second, MaxAckPending: 100,
			})
		}
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("crossbroker: NATS stream setup: %w", last)
}

type natsSession struct {
	nc     *nats.Conn
	js     jetstream.JetStream
	closed chan struct{}
}

// dial connects without the library's own reconnection: the harness
// reconnects (and retries) itself, the same way for every target.
func (t *natsTarget) dial(addr, name string) (*natsSession, error) {
	s := &natsSession{closed: make(chan struct{})}
	nc, err := nats.Connect("nats://"+addr, nats.Name(name), nats.NoReconnect(), nats.Timeout(3*time.Second),
		nats.PingInterval(time.Second), nats.MaxPingsOutstanding(2),
		nats.ClosedHandler(func(*nats.Conn) { close(s.closed) }))
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	s.nc, s.js = nc, js
	return s, nil
}

func (t *natsTarget) Dial(_ context.Context, addr, name string) (Session, error) {
	return t.dial(addr, name)
}

func (s *natsSession) Publish(ctx context.Context, id string, body []byte) error {
	_, err := s.js.Publish(ctx, queueName, body, jetstream.WithMsgID(id))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) {
		return &Refusal{Reason: apiErr.Error()}
	}
	return err
}

func (s *natsSession) Consume(ctx context.Context, deliver func(string, []byte, bool)) error {
	cons, err := s.js.Consumer(ctx, queueName, natsConsumer)
	if err != nil {
		return err
	}
	failed := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		md, _ := m.Metadata()
		deliver(m.Headers().Get(jetstream.MsgIDHeader), m.Data(), md != nil && md.NumDelivered > 1)
		if err := m.Ack(); err != nil {
			select {
			case failed <- err:
			default:
			}
		}
	}, jetstream.PullMaxMessages(100), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
			select {
			case failed <- err:
			default:
			}
		}
	}))
	if err != nil {
		return err
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.closed:
		return errors.New("NATS connection closed")
	case err := <-failed:
		return err
	}
}

func (s *natsSession) Close() { s.nc.Close() }
