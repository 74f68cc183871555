// Package ops is the broker's operations HTTP listener: liveness and
// readiness checks, Prometheus metrics (/metrics, /metrics/per-object),
// and a mux other operations handlers (the management API, the console)
// mount on. It reads the broker through Source at request time; the broker
// core knows nothing of HTTP or Prometheus. See docs/operations.md.
package ops

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/audit"
	"github.com/ciphermq/ciphermq/broker/server"
)

// Listener defaults.
const (
	// DefaultListen is RabbitMQ's management port, on loopback.
	DefaultListen = "127.0.0.1:15672"
	// ListenOff disables the listener.
	ListenOff = "off"

	readHeaderTimeout = 5 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 60 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	// maxScrapes bounds concurrent scrapes of each metrics endpoint; more
	// are answered 503 (a scrape costs O(queues)).
	maxScrapes = 4
)

// Source is what the listener reads from the broker; *server.Server
// implements it.
type Source interface {
	Metrics() server.Metrics
	EachQueue(func(broker.QueueStats) bool)
	Ready() error
}

// Authenticator checks HTTP basic credentials
// (server.Server.AuthenticateHTTP, shared with the management API).
type Authenticator func(ctx context.Context, user string, password []byte, remote string) (*server.HTTPLogin, error)

// Config configures the listener.
type Config struct {
	// Listen is host:port (ListenOff: no listener; Run returns at once).
	Listen string
	// TLS, when set, serves HTTPS (server.Server.HTTPTLSConfig).
	TLS *tls.Config
	// MetricsAuth, when set, makes /metrics and /metrics/per-object
	// require basic auth of a user tagged monitoring or administrator.
	// Nil: they are open to whoever reaches the listener (loopback by
	// default), as RabbitMQ's Prometheus endpoint is.
	MetricsAuth Authenticator
	// Logger; nil discards.
	Logger *slog.Logger
}

// Server is the operations HTTP listener.
type Server struct {
	cfg  Config
	src  Source
	log  *slog.Logger
	mux  *http.ServeMux
	http *http.Server

	mu   sync.Mutex
	addr net.Addr
}

// New builds the listener's handlers; Listen and Serve (or Run) start it.
func New(cfg Config, src Source) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, src: src, log: cfg.Logger, mux: http.NewServeMux()}
	s.http = &http.Server{
		Handler:           s.mux,
		TLSConfig:         cfg.TLS,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelDebug),
	}

	agg := prometheus.NewRegistry()
	agg.MustRegister(NewCollector(src, false))
	agg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s.mux.Handle("GET /metrics", s.metricsAuth(promhttp.HandlerFor(agg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: maxScrapes,
		Registry:            agg,
	})))
	// The per-queue series of NewCollector(src, true), written directly
	// (perobject.go).
	s.mux.Handle("GET /metrics/per-object", s.metricsAuth(&perObjectHandler{src: src, inFlight: make(chan struct{}, maxScrapes)}))
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	s.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := src.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return s
}

// Handle mounts h on the listener's mux (http.ServeMux patterns, e.g.
// "/api/" or "GET /console/"). Call it before Serve.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Handler is the listener's mux, for tests that serve it themselves.
func (s *Server) Handler() http.Handler { return s.mux }

// Addr is the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Listen binds Config.Listen. It returns (nil, nil) when the listener is
// off.
func (s *Server) Listen(ctx context.Context) (net.Listener, error) {
	if s.cfg.Listen == ListenOff {
		return nil, nil
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", s.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("ops: listen on %s: %w (choose another --http-listen address, or off)", s.cfg.Listen, err)
	}
	s.mu.Lock()
	s.addr = l.Addr()
	s.mu.Unlock()
	return l, nil
}

// Serve serves l until Shutdown; it returns nil after Shutdown.
func (s *Server) Serve(l net.Listener) error {
	s.log.Info("operations listener", "addr", l.Addr().String(), "tls", s.cfg.TLS != nil,
		"metrics_auth", s.cfg.MetricsAuth != nil)
	var err error
	if s.cfg.TLS != nil {
		err = s.http.ServeTLS(l, "", "")
	} else {
		err = s.http.Serve(l)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting, lets requests in progress finish until ctx
// ends, then closes what is left.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.http.Shutdown(ctx)
	if err != nil {
		s.http.Close()
	}
	return err
}

// CheckListen validates a --http-listen value.
func CheckListen(addr string) error {
	if addr == ListenOff {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("--http-listen %q: %v (use host:port, e.g. %s, or off)", addr, err, DefaultListen)
	}
	return nil
}

// metricsAuth wraps a metrics handler with basic auth when configured.
func (s *Server) metricsAuth(h http.Handler) http.Handler {
	check := s.cfg.MetricsAuth
	if check == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user, pass, ok := r.BasicAuth()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="ciphermq metrics"`)
			http.Error(w, "authentication required: a user tagged monitoring or administrator", http.StatusUnauthorized)
			return
		}
		login, err := check(r.Context(), user, []byte(pass), r.RemoteAddr)
		if err != nil {
			audit.Log(s.log, slog.LevelWarn, audit.AuthFailure, "metrics login refused",
				"user", user, "remote", r.RemoteAddr, "resource", r.URL.Path, "err", err)
			status := http.StatusUnauthorized
			if errors.Is(err, server.ErrThrottled) {
				status = http.StatusTooManyRequests
				w.Header().Set("Retry-After", "60")
			} else {
				w.Header().Set("WWW-Authenticate", `Basic realm="ciphermq metrics"`)
			}
			http.Error(w, err.Error(), status)
			return
		}
		tags := login.Tags
		if !slices.Contains(tags, access.TagMonitoring) && !slices.Contains(tags, access.TagAdministrator) {
			audit.Log(s.log, slog.LevelWarn, audit.AccessRefused, "metrics refused: user lacks the monitoring tag",
				"user", user, "remote", r.RemoteAddr, "resource", r.URL.Path)
			http.Error(w, "access refused: metrics need a user tagged monitoring or administrator", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	})
}
