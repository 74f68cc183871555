package clients

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
	"github.com/ciphermq/ciphermq/internal/trywrite"
)

// Conn is a connection to a broker over the native protocol that survives
// breaks: when the transport fails it reconnects with exponential backoff
// and jitter, declares again the topology declared through it, resubscribes
// its consumers and lets its publishers resend every unconfirmed message.
// It is safe for concurrent use.
//
// Inside, one goroutine reads frames, one writes them (everything queued
// while a write is in progress goes out in the next single write), and a
// supervisor reconnects. When no write is in progress, a publish or a
// consumer's acks are written at once by the calling goroutine, without
// waiting (see writeClaimedUnlock): waking the writer goroutine would cost
// more than the write. The protocol and reliability logic lives in the
// deterministic connection engine of package engine (engine.Conn: the
// handshake, frame dispatch, sequence numbers and confirm mapping, prefix
// windows, the consumer and publisher engines); Conn only drives it. One
// mutex guards the engine, whose output buffer is the outgoing buffer; it
// is never held across I/O.
type Conn struct {
	addr    string
	opts    Options
	log     *slog.Logger
	rnd     engine.Rand
	backoff engine.Backoff

	closeCh    chan struct{} // closed by Close
	wg         sync.WaitGroup
	maxMessage atomic.Int64 // the broker's MaxMessageSize, read on every publish
	maxFrame   atomic.Int64 // the broker's MaxFrameSize: a larger frame would kill the connection

	mu        sync.Mutex
	closed    bool
	sess      *session      // nil while disconnected
	upCh      chan struct{} // closed when a session is up, replaced when it ends
	epoch     uint64
	server    wire.HelloOK
	nextReq   uint64
	reqs      map[uint64]*request
	topo      topology
	eng       *engine.Conn                     // the protocol state; its output is the session's outgoing buffer
	pubs      map[*engine.Publisher]*Publisher // by engine, for the engine's answers
	cons      *engine.Consumer                 // eng.Consumer(): every delivery of the connection
	fields    fieldCache                       // makes Deliveries cheaply, see fieldCache
	consumers map[string]*Consumer
	nextCTag  uint64
	stats     ConnStats

	// Resolved confirms for OnConfirm callbacks, in resolution order. They
	// are handed over by whoever releases c.mu next (unlock), one goroutine
	// at a time (notifying), never with c.mu held.
	notices      []notice
	noticesSpare []notice
	notifying    bool
}

// notice is one resolved confirm for its publisher's OnConfirm.
type notice struct {
	p *Publisher
	f *Confirm
}

// unlock releases c.mu, after making the OnConfirm calls that are due,
// unless another goroutine is making them already (it takes these too, in
// order). Called with c.mu held; returns with it released.
func (c *Conn) unlock() {
	if len(c.notices) == 0 || c.notifying {
		c.mu.Unlock()
		return
	}
	c.notifying = true
	for len(c.notices) > 0 {
		batch := c.notices
		c.notices, c.noticesSpare = c.noticesSpare[:0], nil
		c.mu.Unlock()
		for _, n := range batch {
			n.p.opts.OnConfirm(n.f)
		}
		c.mu.Lock()
		for _, n := range batch {
			n.p.notices--
			n.p.checkDrainedLocked()
		}
		clear(batch)
		if c.noticesSpare == nil {
			c.noticesSpare = batch[:0]
		}
	}
	c.notifying = false
	c.mu.Unlock()
}

// ConnStats are the connection's own counters.
type ConnStats struct {
	Connects   uint64 // sessions established, the first one included
	Reconnects uint64 // of which after a break
	Failures   uint64 // failed reconnect attempts
}

// session is one transport connection, from handshake to break.
type session struct {
	nc    net.Conn
	tw    *trywrite.Writer // nil: the transport cannot be written without waiting
	r     *wire.Reader
	epoch uint64
	hb    time.Duration

	// Guarded by Conn.mu. The frames waiting for the writer are the
	// engine's output (Conn.eng.Output) while this session is Conn.sess.
	spare   []byte    // the writer's previous buffer, reused
	final   bool      // Close queued: end the session once the output is written
	writing bool      // a goroutine is writing to nc; frames queued meanwhile wait for it
	wroteAt time.Time // when the last write ended

	wake chan struct{} // cap 1: the engine has output
	done chan struct{} // closed when the session ends
	once sync.Once
	err  error // why it ended; read after done
}

func (s *session) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// wakeLocked wakes the writer for frames just queued, unless a write is in
// progress: its writer looks for more when it is done. Conn.mu held.
func (s *session) wakeLocked() {
	if !s.writing {
		s.signal()
	}
}

// inlineIdleGap is how long the socket must have been idle for a caller to
// write its frames itself. Under load writes follow each other closely, and
// the writer goroutine, which takes everything queued while it was waking
// up, sends many frames per write; a caller writing its own frame would
// send one per write, a system call per message (closed-loop throughput
// fell by more than half). Idle for longer than a wake-up takes, nothing is
// lost by writing at once.
const inlineIdleGap = 50 * time.Microsecond

// claimLocked reserves s's socket for the calling goroutine when no write
// is in progress, none ended in the last inlineIdleGap, and the socket can
// be written without waiting. Frames the caller queues next are then
// written by writeClaimedUnlock instead of waking the writer goroutine.
// Conn.mu held.
func (c *Conn) claimLocked(s *session) bool {
	if s == nil || s.tw == nil || s.writing || s.final || c.sess != s || time.Since(s.wroteAt) < inlineIdleGap {
		return false
	}
	s.writing = true
	return true
}

// writeClaimedUnlock unlocks Conn.mu and, if claimed (claimLocked), writes
// what is queued on s from this goroutine, as much as the socket takes
// without waiting: the caller never blocks on the network. The rest, and
// whatever was queued meanwhile, goes to the writer goroutine in order. A
// write error ends the session as the writer's would. Called with Conn.mu
// held; returns with it released.
func (c *Conn) writeClaimedUnlock(s *session, claimed bool) {
	if !claimed {
		c.unlock()
		return
	}
	buf := c.eng.TakeOutput(s.spare)
	s.spare = nil
	c.mu.Unlock()
	n, err := s.tw.Write(buf)
	c.mu.Lock()
	s.writing, s.wroteAt = false, time.Now()
	live := c.sess == s // else the engine's output is a newer session's
	if live && err == nil && n < len(buf) {
		// The kernel took part of it: the rest goes first, before the
		// frames queued meanwhile.
		queued := c.eng.PutBack(buf[:copy(buf, buf[n:])])
		if cap(queued) <= maxKeptBuffer {
			s.spare = queued
		}
	} else if s.spare == nil && cap(buf) <= maxKeptBuffer {
		s.spare = buf[:0]
	}
	more := live && (len(c.eng.Output()) > 0 || s.final)
	c.unlock()
	if err != nil {
		s.fail(fmt.Errorf("write to broker: %w", err))
		return
	}
	if more {
		s.signal()
	}
}

// fail ends the session once; the first reason wins.
func (s *session) fail(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.done)
		_ = s.nc.Close()
	})
}

// globalRand draws jitter from math/rand/v2's global source: the library is
// a driver, so non-reproducible jitter is what we want here.
type globalRand struct{}

func (globalRand) Float64() float64 { return rand.Float64() }

// Dial connects to the broker at addr ("host:port") and performs the native
// handshake. The first connection fails fast: if the broker is not there,
// Dial returns an error at once instead of retrying. Later breaks are
// repaired in the background until Close.
func Dial(ctx context.Context, addr string, opts Options) (*Conn, error) {
	opts = opts.withDefaults()
	c := &Conn{
		addr:      addr,
		opts:      opts,
		log:       opts.Logger.With("broker", addr, "client", opts.ClientName),
		rnd:       globalRand{},
		backoff:   engine.Backoff{Min: opts.ReconnectMin, Max: opts.ReconnectMax},
		closeCh:   make(chan struct{}),
		upCh:      make(chan struct{}),
		reqs:      make(map[uint64]*request),
		pubs:      make(map[*engine.Publisher]*Publisher),
		consumers: make(map[string]*Consumer),
	}
	// Confirm durability, stats cursors and reject reasons are always asked
	// for: they cost nothing, and a broker that predates them simply does
	// not grant them.
	features := wire.FeatureConfirmDurability | wire.FeatureStatsCursor | wire.FeatureRejectReasons
	if !opts.NoSharedPrefixes {
		features |= wire.FeatureSharedPrefixes
	}
	c.eng = engine.NewConn(engine.ConnConfig{
		ClientName:   opts.ClientName,
		Heartbeat:    opts.Heartbeat,
		MaxFrameSize: opts.MaxFrameSize,
		Features:     features,
	})
	c.cons = c.eng.Consumer()
	s, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	c.install(s)
	c.wg.Add(1)
	go c.supervise(s)
	return c, nil
}

// connect opens the transport and performs the handshake.
func (c *Conn) connect(ctx context.Context) (*session, error) {
	dctx, cancel := context.WithTimeout(ctx, c.opts.DialTimeout)
	defer cancel()
	nc, err := c.opts.DialFunc(dctx, c.addr)
	if err != nil && isTLSHandshakeError(err) {
		return nil, fmt.Errorf("broker at %s: %w (check the CA bundle, the server name and the client certificate)", c.addr, err)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot reach broker at %s: %w; is `ciphermq server` running?", c.addr, err)
	}
	s, err := c.handshake(dctx, nc)
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("handshake with broker at %s: %w", c.addr, err)
	}
	return s, nil
}

func (c *Conn) handshake(ctx context.Context, nc net.Conn) (*session, error) {
	if d, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(d)
	}
	// Closing the socket is the only way to interrupt a blocked read when
	// ctx ends without a deadline (cancelled by Close).
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	// No session is live while a handshake runs (c.sess is nil), so the
	// engine's output holds only the handshake.
	c.mu.Lock()
	c.eng.Handshake(c.opts.authFrame(), time.Now())
	buf := c.eng.TakeOutput(nil)
	c.mu.Unlock()
	if _, err := nc.Write(buf); err != nil {
		return nil, fmt.Errorf("send hello: %w", err)
	}
	r := wire.NewReader(nc, c.opts.MaxFrameSize)
	typ, payload, err := r.ReadFrame()
	if err != nil {
		if isTLSAlert(err) {
			// TLS 1.3: the broker checks the client certificate after the
			// client considers the handshake done, so its refusal arrives
			// here.
			return nil, fmt.Errorf("read hello answer: %w (the broker refused the TLS session: is the client certificate missing, expired or revoked?)", err)
		}
		return nil, fmt.Errorf("read hello answer: %w (is the address a CipherMQ broker speaking the native protocol?)", err)
	}
	// The engine is up from here, but publishes and settlements wait for
	// install: they are written only while c.sess is set.
	c.mu.Lock()
	ev := c.eng.Receive(typ, payload, time.Now())
	ok := c.eng.Server()
	c.mu.Unlock()
	switch {
	case ev.Kind == engine.EventReady:
	case ev.Kind == engine.EventClosed && ev.Err == nil:
		return nil, &BrokerError{Op: "connection", Code: ev.Code, Reason: ev.Reason}
	case ev.Kind == engine.EventClosed:
		return nil, ev.Err
	default:
		return nil, fmt.Errorf("broker answered Hello with %s instead of HelloOK", typ)
	}
	if ok.MaxFrameSize > 0 && (c.opts.MaxFrameSize <= 0 || int(ok.MaxFrameSize) < c.opts.MaxFrameSize) {
		r.SetMaxFrameSize(int(ok.MaxFrameSize))
	}
	_ = nc.SetDeadline(time.Time{})
	c.mu.Lock()
	c.server = ok
	c.mu.Unlock()
	c.maxMessage.Store(int64(ok.MaxMessageSize))
	c.maxFrame.Store(int64(ok.MaxFrameSize))
	return &session{
		nc:   nc,
		tw:   trywrite.New(nc),
		r:    r,
		hb:   time.Duration(ok.HeartbeatMs) * time.Millisecond,
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
	}, nil
}

// install makes s the live session: it queues the topology, the consumers'
// subscriptions and the publishers' resends, in that order (the broker
// handles a connection's frames in order), then starts the session's reader
// and writer. It reports false if the connection was closed meanwhile.
func (c *Conn) install(s *session) bool {
	now := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.epoch++
	s.epoch = c.epoch
	c.sess = s
	c.stats.Connects++
	if c.stats.Connects > 1 {
		c.stats.Reconnects++
	}
	// The engine connected its consumer and publishers at HelloOK; what it
	// resends goes after the topology and the subscriptions.
	c.replayTopologyLocked(s)
	for _, cs := range c.consumers {
		c.subscribeLocked(s, cs, nil)
	}
	for _, ep := range c.eng.Publishers() {
		if p := c.pubs[ep]; p != nil {
			p.pumpLocked(now)
		}
	}
	close(c.upCh)
	c.unlock()
	c.log.Debug("connected to broker", "session", s.epoch, "heartbeat", s.hb)
	c.wg.Add(2)
	go c.readLoop(s)
	go c.writeLoop(s)
	s.signal()
	return true
}

// sessionEnded forgets everything tied to s: its requests fail with
// ErrConnectionLost, its deliveries are dropped (the broker requeues them),
// and publishers go back to waiting for the next session.
func (c *Conn) sessionEnded(s *session) {
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess != s {
		return
	}
	c.sess = nil
	c.upCh = make(chan struct{})
	c.eng.Disconnected(now)
	for _, cs := range c.consumers {
		cs.dropQueuedLocked()
	}
	for id, r := range c.reqs {
		if r.epoch == s.epoch {
			delete(c.reqs, id)
			r.finish(reply{err: fmt.Errorf("%s: %w", r.op, ErrConnectionLost)})
		}
	}
}

// supervise waits for each session to end and builds the next one.
func (c *Conn) supervise(s *session) {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-c.closeCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		<-s.done
		c.sessionEnded(s)
		if c.isClosed() {
			return
		}
		c.log.Warn("connection to broker lost; reconnecting", "session", s.epoch, "err", s.err)
		for attempt := 1; ; attempt++ {
			t := time.NewTimer(c.backoff.Delay(attempt, c.rnd))
			select {
			case <-t.C:
			case <-c.closeCh:
				t.Stop()
				return
			}
			ns, err := c.connect(ctx)
			if err != nil {
				c.mu.Lock()
				c.stats.Failures++
				c.mu.Unlock()
				if c.isClosed() {
					return
				}
				c.log.Warn("reconnect failed", "attempt", attempt, "err", err)
				continue
			}
			if !c.install(ns) {
				_ = ns.nc.Close()
				return
			}
			s = ns
			break
		}
	}
}

func (c *Conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// writeLoop writes whatever frames accumulated, one Write per batch, and a
// heartbeat when nothing else went out for an interval. It never writes
// while another goroutine holds the socket (session.writing).
func (c *Conn) writeLoop(s *session) {
	defer c.wg.Done()
	// One timer at the engine's next deadline: a heartbeat when nothing
	// else went out for an interval, and the broker's silence (the
	// reader's deadline applies the same rule to a blocked read).
	var beat *time.Timer
	var tick <-chan time.Time
	c.mu.Lock()
	if at, ok := c.eng.NextDeadline(); ok && c.sess == s {
		beat = time.NewTimer(time.Until(at))
		tick = beat.C
	}
	c.mu.Unlock()
	if beat != nil {
		defer beat.Stop()
	}
	for {
		select {
		case <-s.wake:
		case <-tick:
			c.mu.Lock()
			var silent error
			if c.sess == s && c.eng.Tick(time.Now()) {
				silent = fmt.Errorf("broker silent for %v (3 heartbeats)", 3*c.eng.Heartbeat())
			}
			if at, ok := c.eng.NextDeadline(); ok && c.sess == s {
				beat.Reset(time.Until(at))
			}
			c.mu.Unlock()
			if silent != nil {
				s.fail(silent)
				return
			}
		case <-s.done:
			return
		}
		c.mu.Lock()
		if c.sess != s {
			// Ended (or never installed): the engine's output is not
			// this session's.
			c.mu.Unlock()
			return
		}
		if s.writing {
			// A publisher or consumer is writing; it wakes this loop if
			// anything is left when it is done.
			c.mu.Unlock()
			continue
		}
		buf := c.eng.TakeOutput(s.spare)
		s.spare = nil
		s.writing = len(buf) > 0
		c.mu.Unlock()
		if len(buf) > 0 {
			_ = s.nc.SetWriteDeadline(time.Now().Add(c.writeTimeout(s)))
			if _, err := s.nc.Write(buf); err != nil {
				s.fail(fmt.Errorf("write to broker: %w", err))
				return
			}
		}
		c.mu.Lock()
		if len(buf) > 0 {
			s.writing, s.wroteAt = false, time.Now()
		}
		if s.spare == nil && cap(buf) <= maxKeptBuffer {
			s.spare = buf[:0]
		}
		live := c.sess == s
		final := s.final && (!live || len(c.eng.Output()) == 0)
		pending := live && len(c.eng.Output()) > 0
		c.mu.Unlock()
		if final {
			s.fail(ErrClosed)
			return
		}
		if pending {
			s.signal()
		}
	}
}

// maxKeptBuffer bounds the write buffer kept for reuse, so one burst of
// large messages does not pin its memory for the connection's life.
const maxKeptBuffer = 4 << 20

func (c *Conn) writeTimeout(s *session) time.Duration {
	if s.hb > 0 {
		return max(3*s.hb, 10*time.Second)
	}
	return 30 * time.Second
}

// readLoop reads and dispatches frames until the session ends. A peer
// silent for 3 heartbeat intervals is declared dead.
func (c *Conn) readLoop(s *session) {
	defer c.wg.Done()
	var armed time.Time
	for {
		if s.hb > 0 {
			if now := time.Now(); now.Sub(armed) > s.hb/2 {
				_ = s.nc.SetReadDeadline(now.Add(3 * s.hb))
				armed = now
			}
		}
		typ, payload, err := s.r.ReadFrame()
		if err != nil {
			if errors.Is(err, wire.ErrUnknownFrameType) {
				c.log.Warn("ignoring a frame of unknown type from the broker", "type", typ)
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				err = fmt.Errorf("broker silent for %v (3 heartbeats): %w", 3*s.hb, err)
			}
			s.fail(fmt.Errorf("read from broker: %w", err))
			return
		}
		if err := c.dispatch(s, typ, payload); err != nil {
			s.fail(err)
			return
		}
	}
}

// ClientStats returns the connection's counters.
func (c *Conn) ClientStats() ConnStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stats
}

// Connected reports whether a session is up right now.
func (c *Conn) Connected() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil
}

// MaxMessageSize is the largest body the broker accepts, as it announced in
// the handshake (0: no announced limit).
func (c *Conn) MaxMessageSize() int { return int(c.maxMessage.Load()) }

// Close ends the connection: it tells the broker, stops reconnecting,
// resolves every unconfirmed publish with ErrUnconfirmed, ends every
// consumer (their handlers' contexts are cancelled) and waits for the
// connection's goroutines, handlers included. Use Publisher.Close first to
// wait for confirms. Close is idempotent.
func (c *Conn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	c.closed = true
	close(c.closeCh)
	s := c.sess
	if s != nil {
		c.eng.Queue(func(dst []byte) []byte {
			return wire.AppendClose(dst, &wire.Close{Code: 0, Reason: "client closing"})
		})
		s.final = true
	}
	pubs := make([]*Publisher, 0, len(c.pubs))
	for _, p := range c.pubs {
		pubs = append(pubs, p)
	}
	consumers := make([]*Consumer, 0, len(c.consumers))
	for _, cs := range c.consumers {
		consumers = append(consumers, cs)
	}
	for id, r := range c.reqs {
		delete(c.reqs, id)
		r.finish(reply{err: ErrClosed})
	}
	c.mu.Unlock()
	if s != nil {
		s.signal()
		// The Close frame gets a moment to go out; a stuck network must
		// not make Close hang.
		t := time.NewTimer(time.Second)
		select {
		case <-s.done:
		case <-t.C:
			s.fail(ErrClosed)
		}
		t.Stop()
	}
	for _, p := range pubs {
		p.abandon(ErrUnconfirmed)
	}
	for _, cs := range consumers {
		cs.end(ErrClosed)
	}
	c.wg.Wait()
	c.log.Debug("connection closed")
	return nil
}
