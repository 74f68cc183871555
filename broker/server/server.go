package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/driver"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wal"
)

// ErrServerClosed is returned by Serve and ListenAndServe after Shutdown.
var ErrServerClosed = errors.New("server: closed")

// Server is a running broker: one core, any number of listeners and
// connections.
type Server struct {
	cfg     Config
	log     *slog.Logger
	sessCfg protocol.Config

	mu        sync.Mutex // guards everything below and the core and sessions
	core      *broker.Core
	loop      *driver.Loop[*conn] // routes the core's effects (broker/driver)
	conns     map[broker.ConnID]*conn
	perSource map[string]int // connections by source IP (MaxConnectionsPerSource)
	nextID    broker.ConnID
	listeners map[net.Listener]struct{}
	addr      net.Addr
	closing   bool
	released  time.Time // when this settle began releasing outcomes (metrics.go)

	coreTimer    *time.Timer
	coreDeadline time.Time

	dur        *durability // nil without Config.DataDir
	auth       *authState
	httpLogins *httpLoginCache // verified HTTP logins (httpauth.go)

	tls      *tlsState  // nil without TLS material
	reloadMu sync.Mutex // serialises reloads
	tlsAddr  net.Addr   // (mu) first TLS listener's address

	mem memBudget // (mu) the global memory budget (membudget.go)
	ops opsStats  // (mu) the driver's own counters and latencies (metrics.go)

	active  sync.WaitGroup // connection goroutines
	serving sync.WaitGroup // Serve loops
}

// New builds a server from a validated configuration. A nil logger discards
// logs.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:       cfg,
		log:       logger,
		sessCfg:   cfg.sessionConfig(logger).WithDefaults(),
		conns:     make(map[broker.ConnID]*conn),
		perSource: make(map[string]int),
		listeners: make(map[net.Listener]struct{}),
	}
	auth, err := newAuthState(cfg.Auth.withDefaults().withMemoryShare(cfg.MemoryHighWatermark))
	if err != nil {
		return nil, err
	}
	s.auth = auth
	s.httpLogins = newHTTPLoginCache()
	s.sessCfg.Users = auth.users.Load
	s.sessCfg.Admit = auth.admit
	s.sessCfg.TextUser = auth.cfg.TextUser
	s.sessCfg.AllowPlainWithoutTLS = auth.cfg.AllowPlainWithoutTLS
	if err := s.initTLS(); err != nil {
		return nil, err
	}
	if err := s.openStorage(); err != nil {
		return nil, err
	}
	opts := driver.Options{}
	if s.dur != nil {
		opts.Log = s.dur
		// The documented trade-off of --fsync interval: confirm once
		// written, fsync later.
		opts.ReleaseOnWrite = s.dur.policy == wal.SyncInterval
	}
	s.loop = driver.New(s.core, (*loopHost)(s), opts)
	s.coreTimer = time.AfterFunc(time.Hour, s.onCoreTimer)
	s.coreTimer.Stop()
	s.initMemBudget()
	return s, nil
}

// Addr returns the address of the first plain listener (the first TLS
// listener's when there is no plain one), or nil before Serve.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.addr == nil {
		return s.tlsAddr
	}
	return s.addr
}

// TLSAddr returns the address of the first TLS listener, or nil.
func (s *Server) TLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tlsAddr
}

// ListenAndServe listens on Config.Listen (unless it is ListenOff) and on
// Config.TLS.Listen (when set), serves until ctx ends, then shuts down
// (waiting at most Config.ShutdownTimeout) and returns nil. A listen error
// is returned at once.
func (s *Server) ListenAndServe(ctx context.Context) error {
	var lc net.ListenConfig
	type listener struct {
		l   net.Listener
		tls bool
	}
	var ls []listener
	closeAll := func() {
		for _, x := range ls {
			x.l.Close()
		}
	}
	if s.cfg.Listen != ListenOff {
		l, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
		if err != nil {
			return fmt.Errorf("server: listen on %s: %w (%s)", s.cfg.Listen, err, listenHint("--listen", err))
		}
		ls = append(ls, listener{l, false})
	}
	if s.cfg.TLS.Listen != "" {
		if s.tls == nil {
			closeAll()
			return errors.New("server: a TLS listener needs a certificate and key (--tls-cert, --tls-key)")
		}
		l, err := lc.Listen(ctx, "tcp", s.cfg.TLS.Listen)
		if err != nil {
			closeAll()
			return fmt.Errorf("server: listen on %s: %w (%s)", s.cfg.TLS.Listen, err, listenHint("--tls-listen", err))
		}
		ls = append(ls, listener{l, true})
	}
	served := make(chan error, len(ls))
	for _, x := range ls {
		go func() {
			if x.tls {
				served <- s.ServeTLS(x.l)
			} else {
				served <- s.Serve(x.l)
			}
		}()
	}
	var err error
	received := 0
	select {
	case err = <-served:
		// A listener failed: stop the others too, and report it.
		received++
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	serr := s.Shutdown(sctx)
	for ; received < len(ls); received++ {
		<-served
	}
	if err != nil && !errors.Is(err, ErrServerClosed) {
		return err
	}
	return serr
}

// Serve accepts plain TCP connections on l until Shutdown or an accept
// error. It accepts any net.Listener, so tests and tools can serve
// in-memory pipes.
func (s *Server) Serve(l net.Listener) error { return s.serve(l, false) }

// ServeTLS accepts connections on l (plain TCP: the server adds TLS) and
// serves them over TLS with the configured certificates. Each connection's
// handshake runs in its own goroutine under the handshake timeout.
func (s *Server) ServeTLS(l net.Listener) error {
	if s.tls == nil {
		l.Close()
		return errors.New("server: ServeTLS needs TLS material (Config.TLS.CertFile and KeyFile)")
	}
	return s.serve(l, true)
}

func (s *Server) serve(l net.Listener, useTLS bool) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		l.Close()
		return ErrServerClosed
	}
	s.listeners[l] = struct{}{}
	if !useTLS && s.addr == nil {
		s.addr = l.Addr()
	}
	if useTLS && s.tlsAddr == nil {
		s.tlsAddr = l.Addr()
	}
	s.serving.Add(1)
	s.mu.Unlock()
	defer s.serving.Done()
	s.log.Info("listening", "addr", l.Addr().String(), "tls", useTLS)

	var backoff time.Duration
	for {
		nc, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			delete(s.listeners, l)
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Temporary exhaustion (e.g. file descriptors): back off
				// instead of spinning, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("accept failed; retrying", "err", err, "backoff", backoff)
				time.Sleep(backoff)
				s.mu.Lock()
				s.listeners[l] = struct{}{}
				s.mu.Unlock()
				continue
			}
			return fmt.Errorf("server: accept: %w", err)
		}
		backoff = 0
		s.accept(nc, useTLS)
	}
}

// ServeConn serves one already established connection (for example one end
// of net.Pipe, or a connection a tool accepted itself) in the background,
// exactly as if Serve had accepted it. After Shutdown it closes nc.
func (s *Server) ServeConn(nc net.Conn) { s.accept(nc, false) }

// Shutdown stops accepting, asks every connection to close (native clients
// get a Close frame), waits for them to finish writing and close (their
// unacked deliveries requeue), and returns. When ctx ends first it closes
// the remaining connections hard and returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		s.log.Info("shutting down", "connections", len(s.conns))
	}
	for l := range s.listeners {
		l.Close()
	}
	now := time.Now()
	for _, c := range s.conns {
		if c.lc != nil {
			c.lc.Shutdown(broker.CodeShuttingDown, "server shutting down")
		} else {
			c.nc.Close()
		}
	}
	s.settle(now)
	s.mu.Unlock()

	done := make(chan struct{})
	go func() {
		s.active.Wait()
		s.serving.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.mu.Lock()
		for _, c := range s.conns {
			c.nc.Close()
		}
		s.mu.Unlock()
		<-done
	}
	s.mu.Lock()
	s.coreTimer.Stop()
	s.mu.Unlock()
	s.closeStorage()
	if ctx.Err() != nil {
		return fmt.Errorf("server: shutdown: connections closed forcibly: %w", ctx.Err())
	}
	return nil
}

// Stats returns the core's statistics.
func (s *Server) Stats() broker.Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.core.Stats()
}

// settle routes the core's effects to their sessions until the outbox is
// empty (the driver loop, broker/driver: loopHost below is the server's
// side of it), wakes the writers and re-arms the timers of every touched
// connection, then checks the memory budget and re-arms the core's timer.
// s.mu held. Call it after every call into the core or a session.
func (s *Server) settle(now time.Time) {
	s.released = time.Time{}
	s.loop.Settle(now)
	s.checkMemory(now)
	s.armCoreTimer()
}

// loopHost is the server as the driver loop's host: it observes effects for
// the metrics and wakes the writers of touched connections. Its methods run
// under s.mu, inside settle.
type loopHost Server

// Effect implements driver.Host.
func (h *loopHost) Effect(e *broker.Effect, c *conn, ok bool) {
	s := (*Server)(h)
	switch e.Kind {
	case broker.EffectConfirm, broker.EffectRefuse:
		if s.released.IsZero() {
			// Once per settle: now is when the operation began, before
			// the core's work the latency should include.
			s.released = time.Now()
		}
		s.countOutcome(e, c, s.released)
	case broker.EffectDeliver:
		if len(s.ops.deliverSamples) > 0 {
			if s.released.IsZero() {
				s.released = time.Now()
			}
			s.observeDeliver(&e.Delivery, s.released)
		}
	}
	if !ok {
		s.log.Warn("core effect for an unknown connection; dropped", "conn", uint64(e.Conn), "kind", e.Kind)
	}
}

// Ready implements driver.Host: c's session may have output, a new
// deadline or be closed.
func (h *loopHost) Ready(c *conn, now time.Time) {
	s := (*Server)(h)
	if c.gone {
		return
	}
	s.accountBuffers(c)
	closed, _ := c.sess.Closed()
	if closed || len(c.sess.Output()) > 0 {
		c.wakeWriter()
	}
	c.armTimer()
}

// armCoreTimer points the core's timer at its next deadline. s.mu held.
func (s *Server) armCoreTimer() {
	d, ok := s.core.NextDeadline()
	if !ok {
		if !s.coreDeadline.IsZero() {
			s.coreTimer.Stop()
			s.coreDeadline = time.Time{}
		}
		return
	}
	if d.Equal(s.coreDeadline) {
		return
	}
	s.coreDeadline = d
	s.coreTimer.Reset(time.Until(d))
}

func (s *Server) onCoreTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	s.coreDeadline = time.Time{}
	s.loop.TickCore(now)
	s.settle(now)
}

// listenHint says what to do about a failed listen, by its cause.
func listenHint(flag string, err error) string {
	var ae *net.AddrError
	var dnse *net.DNSError
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return "is another broker running? choose another " + flag + " address"
	case errors.As(err, &ae):
		return flag + " must be host:port with a port from 0 to 65535 (0: any free port)"
	case errors.As(err, &dnse), errors.Is(err, syscall.EADDRNOTAVAIL):
		return "the host of " + flag + " is not an address of this machine: use one of its addresses, or 0.0.0.0 for all"
	case errors.Is(err, syscall.EACCES):
		return "not permitted: ports below 1024 need privileges; choose another " + flag + " port"
	}
	return "choose another " + flag + " address"
}
