package realworld

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients"
)

// HostileCatalogue returns the hostile-client catalogue in the order
// `ciphermq scenario hostile list` shows it.
func HostileCatalogue() []Attack {
	return []Attack{
		{
			Name:        "topic-patterns",
			Description: "topic bindings alternating # and * (255-byte patterns) and pipelined publishes with 128-word keys",
			Short:       AttackScale{N: 300, M: 300}, Long: AttackScale{N: 3000, M: 3000},
			Run: topicPatterns,
		},
		{
			Name:        "fanout-descending",
			Description: "a fanout exchange bound to many queues declared in descending name order, then publishes",
			Short:       AttackScale{N: 2000, M: 20}, Long: AttackScale{N: 9990, M: 5},
			// max_queues is 10,000 and the canary has one; 20 publishes to
			// 9,990 queues (2 KiB each in the estimate) raise the 64 MiB alarm.
			Run: fanoutDescending,
		},
		{
			Name:        "text-consume-flood",
			Description: "one text connection sends `consume q` tens of thousands of times, then closes",
			Short:       AttackScale{N: 20000}, Long: AttackScale{N: 100000},
			Run: textConsumeFlood,
		},
		{
			Name:        "stats-pipeline",
			Description: "hundreds of `stats` requests in one write, the replies read only after a pause",
			Short:       AttackScale{N: 300, M: 500, D: time.Second}, Long: AttackScale{N: 3000, M: 2000, D: 10 * time.Second},
			Run: statsPipeline,
		},
		{
			Name:        "prefetch-hog",
			Description: "a consumer with a huge prefetch that never reads, sharing a queue of queued messages with a normal consumer",
			Flags:       []string{"--write-timeout", "2s"},
			Short:       AttackScale{N: 20000}, Long: AttackScale{N: 30000}, // 40,000 queued 1 KiB messages would reach the 64 MiB alarm
			Run: prefetchHog,
		},
		{
			Name:        "memory-flood",
			Description: "a publisher floods a queue nobody consumes past --memory-high-watermark (64 MiB), holds, then deletes it",
			Short:       AttackScale{D: time.Second}, Long: AttackScale{D: 5 * time.Second},
			Run: memoryFlood,
			// The alarm blocks every publisher, the canary's too (by design,
			// docs/server.md "Memory budget"), for as long as the flood is
			// held: the during-attack bounds grow by the hold.
			AlarmHold: true,
		},
		{
			Name: "tenant-memory-flood",
			Description: "a tenant (user mallory, memory share 8 MiB) floods its own queue nobody consumes until its share refuses it, " +
				"keeps trying, then deletes the queue; the canary is another user and is never blocked",
			Short: AttackScale{N: 4000, D: time.Second}, Long: AttackScale{N: 4000, D: 10 * time.Second},
			Run:     tenantMemoryFlood,
			Tenants: true,
		},
		{
			Name:        "tenant-flood",
			Description: "fairness: a tenant publishes to its own queue as fast as it can while its consumer drains it",
			Short:       AttackScale{N: 2, D: 3 * time.Second}, Long: AttackScale{N: 4, D: 30 * time.Second},
			Run: tenantFlood,
		},
	}
}

// attackerConn dials the broker from 127.0.0.1 with the Go client.
func attackerConn(ctx context.Context, addr, name string) (*clients.Conn, error) {
	return clients.Dial(ctx, addr, clients.Options{ClientName: name, Logger: slog.New(slog.DiscardHandler)})
}

// publishAll publishes msgs messages as fast as the window allows and
// waits for their outcomes; it returns how many were confirmed.
func publishAll(ctx context.Context, pub *clients.Publisher, prefix string, msgs int, body []byte) (confirmed, refused int, err error) {
	confs := make([]*clients.Confirm, 0, msgs)
	for i := range msgs {
		c, err := pub.Publish(ctx, fmt.Sprintf("%s-%d", prefix, i), body)
		if err != nil {
			return confirmed, refused, err
		}
		confs = append(confs, c)
	}
	for _, c := range confs {
		if c.Wait(ctx) == nil {
			confirmed++
		} else {
			refused++
		}
	}
	return confirmed, refused, nil
}

// adversarialPattern is the i-th binding pattern: # and * alternating,
// with a literal word at a varying place so that every pattern is
// distinct, up to 255 bytes.
func adversarialPattern(i int) string {
	var b strings.Builder
	lit := fmt.Sprintf("w%d", i)
	for n := 0; ; n++ {
		w := "#"
		switch {
		case n == i%64:
			w = lit
		case n%2 == 1:
			w = "*"
		}
		if b.Len()+len(w)+1 > wire.MaxNameLen {
			break
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(w)
	}
	return b.String()
}

func topicPatterns(ctx context.Context, addr string, s AttackScale) (string, error) {
	c, err := attackerConn(ctx, addr, "topic-attacker")
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.DeclareExchange(ctx, "hostile-topic", clients.Topic); err != nil {
		return "", err
	}
	const queues = 4
	for q := range queues {
		if err := c.DeclareQueue(ctx, fmt.Sprintf("hostile-topic-%d", q), clients.QueueOptions{MaxLength: 1000}); err != nil {
			return "", err
		}
	}
	bound, refused := 0, 0
	for i := range s.N {
		err := c.Bind(ctx, "hostile-topic", fmt.Sprintf("hostile-topic-%d", i%queues), adversarialPattern(i))
		switch {
		case err == nil:
			bound++
		case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			return "", err
		default:
			refused++
		}
	}
	// 128 one-letter words: 255 bytes, the longest key; some hit a literal.
	words := make([]string, 128)
	for i := range words {
		words[i] = "a"
	}
	pub, err := c.NewPublisher(clients.PublisherOptions{Exchange: "hostile-topic", Window: 1024})
	if err != nil {
		return "", err
	}
	confs := make([]*clients.Confirm, 0, s.M)
	for i := range s.M {
		key := strings.Join(words, ".")
		if i%2 == 1 {
			key = "w" + fmt.Sprint(i%10) + key[len(fmt.Sprint(i%10))+1:]
		}
		cf, err := pub.PublishTo(ctx, "hostile-topic", key, fmt.Sprintf("t-%d", i), []byte("x"))
		if err != nil {
			return "", err
		}
		confs = append(confs, cf)
	}
	outcomes := 0
	for _, cf := range confs {
		_ = cf.Wait(ctx) // queue-full refusals are fine: the cost is the routing
		outcomes++
	}
	return fmt.Sprintf("%d adversarial bindings attempted (%d bound, %d refused by the pattern budget), %d pipelined publishes with 128-word keys resolved",
		s.N, bound, refused, outcomes), nil
}

func fanoutDescending(ctx context.Context, addr string, s AttackScale) (string, error) {
	c, err := attackerConn(ctx, addr, "fanout-attacker")
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.DeclareExchange(ctx, "hostile-fanout", clients.Fanout); err != nil {
		return "", err
	}
	for i := s.N - 1; i >= 0; i-- {
		q := fmt.Sprintf("hostile-fan-%06d", i)
		if err := c.DeclareQueue(ctx, q, clients.QueueOptions{MaxLength: 100}); err != nil {
			return "", err
		}
		if err := c.Bind(ctx, "hostile-fanout", q, ""); err != nil {
			return "", err
		}
	}
	pub, err := c.NewPublisher(clients.PublisherOptions{Exchange: "hostile-fanout"})
	if err != nil {
		return "", err
	}
	ok, refused, err := publishAll(ctx, pub, "f", s.M, []byte("fan"))
	if err != nil {
		return "", err
	}
	// Deleting the queues is part of the attack: it must not freeze either.
	// From a connection that never published: were the copies to raise the
	// memory alarm, the publisher's own connection would not be read.
	admin, err := attackerConn(ctx, addr, "fanout-admin")
	if err != nil {
		return "", err
	}
	defer admin.Close()
	for i := range s.N {
		if _, err := admin.DeleteQueue(ctx, fmt.Sprintf("hostile-fan-%06d", i)); err != nil {
			return "", err
		}
	}
	return fmt.Sprintf("%d queues bound in descending order, %d publishes to all of them (%d confirmed, %d refused), queues deleted",
		s.N, s.M, ok, refused), nil
}

// lineCounter reads a connection and counts reply lines until it closes.
type lineCounter struct {
	lines atomic.Int64
	bytes atomic.Int64
	done  chan struct{}
	err   error
}

func countLines(nc net.Conn) *lineCounter {
	lc := &lineCounter{done: make(chan struct{})}
	go func() {
		defer close(lc.done)
		r := bufio.NewReaderSize(nc, 64<<10)
		for {
			b, err := r.ReadSlice('\n')
			lc.bytes.Add(int64(len(b)))
			if err == nil {
				lc.lines.Add(1)
				continue
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				lc.err = err
			}
			return
		}
	}()
	return lc
}

func textConsumeFlood(ctx context.Context, addr string, s AttackScale) (string, error) {
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	lc := countLines(nc)
	if _, err := nc.Write([]byte("declare_queue hostile-q\n")); err != nil {
		return "", err
	}
	batch := []byte(strings.Repeat("consume hostile-q\n", 1000))
	start := time.Now()
	for sent := 0; sent < s.N; sent += 1000 {
		nc.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := nc.Write(batch); err != nil {
			return "", fmt.Errorf("after %d consume commands: %w", sent, err)
		}
	}
	want := int64(s.N) + 1
	err = waitUntil(ctx, fmt.Sprintf("%d replies to the consume flood", want), func() (bool, error) {
		select {
		case <-lc.done:
			return false, fmt.Errorf("the broker closed the connection after %d replies (%v)", lc.lines.Load(), lc.err)
		default:
		}
		return lc.lines.Load() >= want, nil
	})
	if err != nil {
		return "", err
	}
	registered := time.Since(start)
	nc.Close() // the teardown of every consumer this connection holds
	<-lc.done
	return fmt.Sprintf("%d consume commands answered in %v, then the connection closed", s.N, registered.Round(time.Millisecond)), nil
}

func statsPipeline(ctx context.Context, addr string, s AttackScale) (string, error) {
	// Some state for stats to describe.
	c, err := attackerConn(ctx, addr, "stats-setup")
	if err != nil {
		return "", err
	}
	for i := range s.M {
		if err := c.DeclareQueue(ctx, fmt.Sprintf("hostile-stats-%d", i), clients.QueueOptions{}); err != nil {
			c.Close()
			return "", err
		}
	}
	c.Close()
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	req := []byte(strings.Repeat("stats\n", s.N))
	if _, err := nc.Write(req); err != nil {
		return "", err
	}
	// Do not read for a while: the replies pile up in the broker.
	if err := hold(ctx, s.D); err != nil {
		return "", err
	}
	lc := countLines(nc)
	var last int64 = -1
	quiet := 0
	// Read until the replies stop coming (the broker may close the
	// connection or stop answering at its output limit: both are fine).
	_ = waitUntil(ctx, "the stats replies to stop", func() (bool, error) {
		select {
		case <-lc.done:
			return true, nil
		default:
		}
		n := lc.bytes.Load()
		if n == last {
			quiet++
		} else {
			quiet = 0
		}
		last = n
		return quiet >= 25, nil // 0.5 s without a byte
	})
	nc.Close()
	<-lc.done
	return fmt.Sprintf("%d stats requests in one %d-byte write with %d queues declared, replies read after %v: %d bytes, %d lines",
		s.N, len(req), s.M, s.D, lc.bytes.Load(), lc.lines.Load()), nil
}

func prefetchHog(ctx context.Context, addr string, s AttackScale) (string, error) {
	c, err := attackerConn(ctx, addr, "hog-setup")
	if err != nil {
		return "", err
	}
	defer c.Close()
	const q = "hostile-shared"
	if err := c.DeclareQueue(ctx, q, clients.QueueOptions{}); err != nil {
		return "", err
	}
	if err := c.Bind(ctx, scenarioExchange, q, q); err != nil {
		return "", err
	}
	pub, err := c.NewPublisher(clients.PublisherOptions{Exchange: scenarioExchange, RoutingKey: q, Window: 1024})
	if err != nil {
		return "", err
	}
	body := make([]byte, 1024)
	if ok, _, err := publishAll(ctx, pub, "h", s.N, body); err != nil || ok != s.N {
		return "", fmt.Errorf("prefilling %d messages: %d confirmed (%v)", s.N, ok, err)
	}
	// The hog: a raw native consumer with a huge prefetch that never reads
	// after its handshake.
	hog, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer hog.Close()
	if tc, ok := hog.(*net.TCPConn); ok {
		tc.SetReadBuffer(4 << 10) // keep the kernel from reading for it
	}
	hello := wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion})
	if _, err := hog.Write(hello); err != nil {
		return "", err
	}
	hog.SetReadDeadline(time.Now().Add(10 * time.Second))
	if typ, _, err := wire.NewReader(hog, 0).ReadFrame(); err != nil || typ != wire.FrameHelloOK {
		return "", fmt.Errorf("hog handshake: frame %v, %v", typ, err)
	}
	if _, err := hog.Write(wire.AppendConsume(nil, &wire.Consume{ReqID: 1, Queue: q, Prefetch: 1 << 30})); err != nil {
		return "", err
	}
	start := time.Now()
	// The honest consumer of the same queue joins once the hog holds the
	// head of it, and must get every message.
	var mu sync.Mutex
	got := map[string]bool{}
	var firstAt time.Duration
	if _, err := c.Consume(ctx, clients.ConsumerOptions{Queue: q, Prefetch: 256, Handler: func(_ context.Context, d *clients.Delivery) error {
		mu.Lock()
		if len(got) == 0 {
			firstAt = time.Since(start)
		}
		got[d.MessageID] = true
		mu.Unlock()
		return nil
	}}); err != nil {
		return "", err
	}
	err = waitUntil(ctx, fmt.Sprintf("the honest consumer to get all %d messages", s.N), func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return len(got) == s.N, nil
	})
	mu.Lock()
	n, first := len(got), firstAt
	mu.Unlock()
	if err != nil {
		return "", fmt.Errorf("%w (got %d)", err, n)
	}
	return fmt.Sprintf("%d queued 1 KiB messages, a never-reading consumer with prefetch 2^30; the honest consumer's first delivery after %v, all %d after %v",
		s.N, first.Round(time.Millisecond), n, time.Since(start).Round(time.Millisecond)), nil
}

func memoryFlood(ctx context.Context, addr string, s AttackScale) (string, error) {
	c, err := attackerConn(ctx, addr, "flooder")
	if err != nil {
		return "", err
	}
	defer c.Close()
	const q = "hostile-flood"
	if err := c.DeclareQueue(ctx, q, clients.QueueOptions{}); err != nil {
		return "", err
	}
	if err := c.Bind(ctx, scenarioExchange, q, q); err != nil {
		return "", err
	}
	pub, err := c.NewPublisher(clients.PublisherOptions{Exchange: scenarioExchange, RoutingKey: q, Window: 1024,
		ConfirmTimeout: 2 * time.Minute})
	if err != nil {
		return "", err
	}
	fctx, stop := context.WithCancel(ctx)
	defer stop()
	var sent atomic.Int64
	confirmed := atomic.Int64{}
	flooded := make(chan struct{})
	go func() {
		defer close(flooded)
		body := make([]byte, 16<<10)
		confs := make(chan *clients.Confirm, 4096)
		waited := make(chan struct{})
		go func() {
			defer close(waited)
			for cf := range confs {
				if cf.Wait(fctx) == nil {
					confirmed.Add(1)
				}
			}
		}()
		for i := 0; fctx.Err() == nil; i++ {
			cf, err := pub.Publish(fctx, fmt.Sprintf("m-%d", i), body)
			if err != nil {
				break
			}
			sent.Add(1)
			confs <- cf
		}
		close(confs)
		<-waited
	}()
	err = waitUntil(ctx, "the memory alarm to block the flooder", func() (bool, error) { return c.Blocked(), nil })
	if err != nil {
		return "", err
	}
	blockedAt := sent.Load()
	if err := hold(ctx, s.D); err != nil {
		return "", err
	}
	stop()
	<-flooded
	// An administrator's connection (that never published) drains the
	// broker. (The flooder's own connection could too: during the alarm
	// its publishes are held but its other requests are served, see
	// TestBlockedPublisherCanDeleteItsQueue; its window of publishes may
	// have filled its hold, though, which stops its reading.)
	admin, err := attackerConn(ctx, addr, "admin")
	if err != nil {
		return "", err
	}
	defer admin.Close()
	n, err := admin.DeleteQueue(ctx, q)
	if err != nil {
		return "", err
	}
	err = waitUntil(ctx, "the memory alarm to clear", func() (bool, error) { return !c.Blocked(), nil })
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("16 KiB publishes: blocked after %d sent; held %v; %d sent, %d confirmed; queue deleted with %d messages, alarm cleared",
		blockedAt, s.D, sent.Load(), confirmed.Load(), n), nil
}

// tenantMemoryFlood floods as hostileTenant until its memory share
// refuses a publish (503), goes on publishing (refused) for s.D, and
// deletes its queue. It fails if the share never refuses within s.N
// publishes or if the broker's global alarm blocks the tenant (the share
// must stop it first).
func tenantMemoryFlood(ctx context.Context, addr string, s AttackScale) (string, error) {
	c, err := clients.Dial(ctx, addr, clients.Options{ClientName: "tenant-flooder", Logger: slog.New(slog.DiscardHandler),
		User: hostileTenant, Password: hostileTenantPassword})
	if err != nil {
		return "", err
	}
	defer c.Close()
	const q = "hostile-share"
	if err := c.DeclareQueue(ctx, q, clients.QueueOptions{}); err != nil {
		return "", err
	}
	if err := c.Bind(ctx, scenarioExchange, q, q); err != nil {
		return "", err
	}
	pub, err := c.NewPublisher(clients.PublisherOptions{Exchange: scenarioExchange, RoutingKey: q, Window: 256,
		ConfirmTimeout: 2 * time.Minute})
	if err != nil {
		return "", err
	}
	body := make([]byte, 16<<10)
	publish := func(id string) error {
		cf, err := pub.Publish(ctx, id, body)
		if err != nil {
			return err
		}
		return cf.Wait(ctx)
	}
	refused := func(err error) bool {
		code, ok := clients.BrokerCode(err)
		return ok && code == clients.CodeUnavailable
	}
	accepted := 0
	for ; ; accepted++ {
		if accepted == s.N {
			return "", fmt.Errorf("%d publishes of 16 KiB accepted without a memory share refusal", accepted)
		}
		err := publish(fmt.Sprint("m-", accepted))
		if refused(err) {
			break
		}
		if err != nil {
			return "", err
		}
	}
	if c.Blocked() {
		return "", errors.New("the broker's global memory alarm blocked the tenant: its share did not stop it first")
	}
	// Keep trying for s.D: every publish is refused, nothing is held.
	tries, more := 0, 0
	for end := time.Now().Add(s.D); time.Now().Before(end); tries++ {
		err := publish(fmt.Sprint("again-", tries))
		switch {
		case err == nil:
			more++ // nobody consumes: an acceptance means the share did not hold
		case !refused(err):
			return "", err
		}
	}
	n, err := c.DeleteQueue(ctx, q)
	if err != nil {
		return "", err
	}
	if more > 0 {
		return "", fmt.Errorf("%d publishes accepted after the share refused one, with nobody consuming", more)
	}
	return fmt.Sprintf("16 KiB publishes: %d accepted, then refused by the 8 MiB share (code 503); %d more refused over %v; the tenant deleted its queue (%d messages)",
		accepted, tries, s.D, n), nil
}

func tenantFlood(ctx context.Context, addr string, s AttackScale) (string, error) {
	c, err := attackerConn(ctx, addr, "tenant")
	if err != nil {
		return "", err
	}
	defer c.Close()
	const q = "hostile-tenant"
	if err := c.DeclareQueue(ctx, q, clients.QueueOptions{}); err != nil {
		return "", err
	}
	if err := c.Bind(ctx, scenarioExchange, q, q); err != nil {
		return "", err
	}
	var delivered atomic.Int64
	sub, err := attackerConn(ctx, addr, "tenant-consumer")
	if err != nil {
		return "", err
	}
	defer sub.Close()
	if _, err := sub.Consume(ctx, clients.ConsumerOptions{Queue: q, Prefetch: 1024, Handler: func(context.Context, *clients.Delivery) error {
		delivered.Add(1)
		return nil
	}}); err != nil {
		return "", err
	}
	fctx, stop := context.WithTimeout(ctx, s.D)
	defer stop()
	var wg sync.WaitGroup
	var confirmed atomic.Int64
	for p := range s.N {
		pc, err := attackerConn(ctx, addr, fmt.Sprintf("tenant-pub-%d", p))
		if err != nil {
			return "", err
		}
		defer pc.Close()
		pub, err := pc.NewPublisher(clients.PublisherOptions{Exchange: scenarioExchange, RoutingKey: q, Window: 1024})
		if err != nil {
			return "", err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := make([]byte, 256)
			confs := make(chan *clients.Confirm, 4096)
			waited := make(chan struct{})
			go func() {
				defer close(waited)
				for cf := range confs {
					if cf.Wait(ctx) == nil {
						confirmed.Add(1)
					}
				}
			}()
			for i := 0; fctx.Err() == nil; i++ {
				cf, err := pub.Publish(fctx, fmt.Sprintf("p%d-%d", p, i), body)
				if err != nil {
					break
				}
				confs <- cf
			}
			close(confs)
			<-waited
		}()
	}
	wg.Wait()
	return fmt.Sprintf("%d tenant publishers for %v: %d confirmed (%.0f msg/s), %d delivered to the tenant's consumer meanwhile",
		s.N, s.D, confirmed.Load(), float64(confirmed.Load())/s.D.Seconds(), delivered.Load()), nil
}
