package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/broker/mgmt"
	"github.com/ciphermq/ciphermq/broker/ops"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/broker/wal"
)

func init() { register(newServerCmd) }

// serverFlags are the flags of "ciphermq server"; each overrides the config
// file when given.
type serverFlags struct {
	configPath string
	logLevel   string
	logFormat  string
	memLimit   string
	memHigh    string
	memLow     string

	httpListen  string
	httpTLS     bool
	metricsAuth string
}

func newServerCmd() *cobra.Command {
	o := &serverFlags{}
	def := server.DefaultConfig()
	cmd := &cobra.Command{
		Use:   "server",
		Short: "Run the broker (text and native protocol on one port)",
		Long: `server runs the CipherMQ broker. One port serves both the reference text protocol (its
Python clients work unchanged) and the native binary protocol; the first bytes of each
connection decide. Settings come from defaults, then the --config JSON file, then flags.
SIGINT or SIGTERM shuts down cleanly (unacked deliveries requeue) and exits 0.
--tls-listen adds a TLS listener (both protocols too); SIGHUP reloads the TLS certificate,
key, CA bundle and CRL without dropping connections, and the --users file.
With --users, native clients authenticate (PLAIN or EXTERNAL) and every operation is
checked against the user's permissions; without it the broker is anonymous (everyone is
guest, allowed everything) and refuses to listen beyond loopback unless --allow-anonymous.
See docs/server.md and docs/security.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runServer(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.configPath, "config", "", "JSON config file (see docs/server.md); flags override it")
	f.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	f.StringVar(&o.logFormat, "log-format", "text", "log format: text or json")
	f.StringVar(&o.memLimit, "memory-limit", "", "soft limit for the process's memory, e.g. 900MiB or 2GiB (Go's GC works harder near it; empty: GOMEMLIMIT or none)")
	f.StringVar(&o.memHigh, "memory-high-watermark", "0.4", "global memory budget: above it publishers are blocked until consumers drain the broker; a size (512MiB, 2GiB) or a fraction of the cgroup's memory limit, else the machine's (0.4); off: no budget")
	f.StringVar(&o.memLow, "memory-low-watermark", "0.9", "publishers resume below this: a size, or a fraction of the high watermark")
	f.StringVar(&o.httpListen, "http-listen", ops.DefaultListen, "operations HTTP listener (/metrics, /healthz, /readyz, the management API and console; see docs/operations.md), host:port; off: none. With --users, beyond loopback it needs --http-tls (or --allow-plain-without-tls)")
	f.BoolVar(&o.httpTLS, "http-tls", false, "serve the operations listener over HTTPS with the broker's --tls-cert and --tls-key")
	f.StringVar(&o.metricsAuth, "metrics-auth", "none", "who may read /metrics: none (whoever reaches --http-listen, loopback by default) or users (HTTP basic auth of a --users user tagged monitoring or administrator)")
	f.String("listen", def.Listen, "plain TCP address to listen on (host:port); off: TLS only")
	f.String("tls-listen", "", "TLS address to listen on, conventionally port 5671 (empty: no TLS listener)")
	f.String("tls-cert", "", "server certificate chain (PEM) for the TLS listener")
	f.String("tls-key", "", "server private key (PEM) for the TLS listener")
	f.String("tls-ca", "", "CA bundle (PEM) that signs client certificates")
	f.String("tls-client-auth", def.TLS.ClientAuth, "client certificates: none, request (verified if presented) or require")
	f.String("tls-crl", "", "X.509 CRL file(s) (PEM or DER) signed by the --tls-ca CA; revoked client certificates are refused")
	f.String("tls-min-version", def.TLS.MinVersion, "lowest TLS version accepted: 1.2 or 1.3")
	f.String("tls-identity-from", def.TLS.IdentityFrom, "client certificate field naming the peer: auto (SAN URI, else SAN DNS, else CN), san-uri, san-dns or cn")
	f.String("users", "", "users file (ciphermq user add ...); empty: no users, every connection is the anonymous guest (loopback only unless --allow-anonymous)")
	f.Bool("allow-anonymous", false, "let a broker without --users listen on a non-loopback address (anyone who reaches it may do anything)")
	f.String("text-protocol", string(server.TextProtocolLoopback), "reference text protocol (no credentials): off, loopback (from loopback addresses only) or on")
	f.String("text-user", "guest", "user that text-protocol connections act as (needs permissions on vhost / in the users file)")
	f.Bool("allow-plain-without-tls", false, "accept PLAIN passwords over unencrypted TCP from non-loopback addresses, and HTTP basic auth on a non-loopback --http-listen without --http-tls")
	f.Int("auth-workers", server.DefaultAuthWorkers, "concurrent password verifications (memory: workers x 19 MiB with default argon2id parameters)")
	f.Int("auth-per-source", server.DefaultAuthPerSource, "logins from one address waiting for or in password verification at once; more fail at once")
	f.Int("auth-failure-limit", server.DefaultAuthFailureLimit, "failed logins from one address within --auth-failure-window after which its logins fail at once")
	f.Duration("auth-failure-window", server.DefaultAuthFailureWindow, "window of --auth-failure-limit")
	f.Duration("max-connection-age", 0, "end connections older than this politely so rotated certificates take effect (0: never)")
	f.Int("max-connections", def.MaxConnections, "maximum concurrent connections")
	f.Int("max-connections-per-source", def.MaxConnectionsPerSource, "maximum concurrent connections from one IP address, loopback included (0: no limit)")
	f.Int("max-frame-size", def.MaxFrameSize, "largest native frame accepted, in bytes")
	f.Int("max-line-size", def.MaxLineSize, "longest text-protocol line accepted, in bytes")
	f.Int("max-message-size", def.MaxMessageSize, "largest message body accepted, in bytes")
	f.Duration("handshake-timeout", def.HandshakeTimeout, "time allowed for a new connection's first bytes (and native Hello)")
	f.Duration("heartbeat", def.Heartbeat, "native heartbeat interval; a peer silent for 3 intervals is closed (negative disables)")
	f.Int("outbound-buffer", def.OutboundBufferBytes, "per-connection unwritten output above which reading pauses, in bytes")
	f.Duration("write-timeout", def.WriteTimeout, "time allowed for one write to a client")
	f.Duration("shutdown-timeout", def.ShutdownTimeout, "time allowed for connections to close on shutdown")
	f.Duration("text-ack-timeout", def.TextAckTimeout, "ack timeout of text-protocol consumers")
	f.Duration("text-pacing-gap", def.TextPacingGap, "quiet time before each text push")
	f.Duration("text-idle-timeout", def.TextIdleTimeout, "close a text connection without a consumer that sends no complete line for this long (negative disables)")
	f.Duration("text-line-timeout", def.TextLineTimeout, "close a text connection whose unterminated line is not complete this long after its first byte (negative disables)")
	f.Duration("dedup-window", def.DedupWindow, "a repeated message id within this window is confirmed, not enqueued again (negative disables)")
	f.Int("dedup-max-ids", def.DedupMaxIDs, "most message ids remembered for deduplication")
	f.Int("default-prefetch", def.DefaultPrefetch, "unacked limit of a consumer that asks for 0 (0: the core's default)")
	f.Duration("default-ack-timeout", def.DefaultAckTimeout, "ack timeout of queues declared without one (0: none)")
	f.String("data-dir", "", "directory of the broker's durable log (locked while the broker runs); default $XDG_STATE_HOME/ciphermq, else ~/.local/state/ciphermq")
	f.Bool("in-memory", false, "keep no data directory: default_queue is in memory, durable declarations are refused, and every confirm says 'in memory only' (lost if the broker stops)")
	f.String("fsync", "always", "durable log fsync policy: always (confirm after fsync) or interval (confirm before fsync; power loss can lose confirmed messages, see docs/storage.md)")
	f.Duration("fsync-interval", 0, "fsync period under --fsync interval (0: 10ms)")
	return cmd
}

// serverConfig merges defaults, the config file and the flags that were set.
func serverConfig(cmd *cobra.Command, o *serverFlags) (server.Config, error) {
	cfg := server.DefaultConfig()
	if o.configPath != "" {
		var err error
		if cfg, err = server.LoadConfigFile(o.configPath, cfg); err != nil {
			return cfg, err
		}
	}
	f := cmd.Flags()
	setS := func(name string, dst *string) {
		if f.Changed(name) {
			*dst, _ = f.GetString(name)
		}
	}
	setI := func(name string, dst *int) {
		if f.Changed(name) {
			*dst, _ = f.GetInt(name)
		}
	}
	setD := func(name string, dst *time.Duration) {
		if f.Changed(name) {
			*dst, _ = f.GetDuration(name)
		}
	}
	setS("listen", &cfg.Listen)
	setS("tls-listen", &cfg.TLS.Listen)
	setS("tls-cert", &cfg.TLS.CertFile)
	setS("tls-key", &cfg.TLS.KeyFile)
	setS("tls-ca", &cfg.TLS.CAFile)
	setS("tls-client-auth", &cfg.TLS.ClientAuth)
	setS("tls-crl", &cfg.TLS.CRLFile)
	setS("tls-min-version", &cfg.TLS.MinVersion)
	setS("tls-identity-from", &cfg.TLS.IdentityFrom)
	setD("max-connection-age", &cfg.MaxConnectionAge)
	setS("users", &cfg.Auth.UsersFile)
	setS("text-user", &cfg.Auth.TextUser)
	setI("auth-workers", &cfg.Auth.AuthWorkers)
	setI("auth-failure-limit", &cfg.Auth.AuthFailureLimit)
	setI("auth-per-source", &cfg.Auth.AuthPerSource)
	setD("auth-failure-window", &cfg.Auth.AuthFailureWindow)
	setB := func(name string, dst *bool) {
		if f.Changed(name) {
			*dst, _ = f.GetBool(name)
		}
	}
	setB("allow-anonymous", &cfg.Auth.AllowAnonymous)
	setB("allow-plain-without-tls", &cfg.Auth.AllowPlainWithoutTLS)
	if f.Changed("text-protocol") {
		v, _ := f.GetString("text-protocol")
		m, err := server.ParseTextProtocolMode(v)
		if err != nil {
			return cfg, fmt.Errorf("--text-protocol: %w", err)
		}
		cfg.Auth.TextProtocol = m
	}
	setI("max-connections", &cfg.MaxConnections)
	setI("max-connections-per-source", &cfg.MaxConnectionsPerSource)
	setI("max-frame-size", &cfg.MaxFrameSize)
	setI("max-line-size", &cfg.MaxLineSize)
	setI("max-message-size", &cfg.MaxMessageSize)
	setD("handshake-timeout", &cfg.HandshakeTimeout)
	setD("heartbeat", &cfg.Heartbeat)
	setI("outbound-buffer", &cfg.OutboundBufferBytes)
	setD("write-timeout", &cfg.WriteTimeout)
	setD("shutdown-timeout", &cfg.ShutdownTimeout)
	setD("text-ack-timeout", &cfg.TextAckTimeout)
	setD("text-pacing-gap", &cfg.TextPacingGap)
	setD("text-idle-timeout", &cfg.TextIdleTimeout)
	setD("text-line-timeout", &cfg.TextLineTimeout)
	setD("dedup-window", &cfg.DedupWindow)
	setI("dedup-max-ids", &cfg.DedupMaxIDs)
	setI("default-prefetch", &cfg.DefaultPrefetch)
	setD("default-ack-timeout", &cfg.DefaultAckTimeout)
	setS("data-dir", &cfg.DataDir)
	if err := applyDataDir(cmd, &cfg); err != nil {
		return cfg, err
	}
	setD("fsync-interval", &cfg.FsyncInterval)
	if err := memoryWatermarks(&cfg, o); err != nil {
		return cfg, err
	}
	if f.Changed("fsync") {
		v, _ := f.GetString("fsync")
		p, err := wal.ParseSyncPolicy(v)
		if err != nil {
			return cfg, fmt.Errorf("--fsync: %w", err)
		}
		cfg.Fsync = p
	}
	return cfg, cfg.Validate()
}

// applyDataDir makes the broker durable by default: without --data-dir (or
// a config file's data_dir) it keeps its data in defaultDataDir; only an
// explicit --in-memory runs without one.
func applyDataDir(cmd *cobra.Command, cfg *server.Config) error {
	f := cmd.Flags()
	if inMem, _ := f.GetBool("in-memory"); inMem {
		if f.Changed("data-dir") {
			return fmt.Errorf("--in-memory and --data-dir exclude each other: pick one")
		}
		cfg.DataDir = ""
		return nil
	}
	if cfg.DataDir != "" {
		return nil
	}
	dir, err := defaultDataDir()
	if err != nil {
		return err
	}
	cfg.DataDir = dir
	return nil
}

// defaultDataDir is where a broker started without --data-dir keeps its
// data: $XDG_STATE_HOME/ciphermq, else ~/.local/state/ciphermq (the XDG
// base directory spec's place for state that persists between restarts).
// A per-user directory, not one relative to the working directory, so that
// restarting the broker from another terminal finds the same messages.
func defaultDataDir() (string, error) {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "ciphermq"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		return "", fmt.Errorf("no default data directory (neither $XDG_STATE_HOME nor $HOME is set): pass --data-dir DIR, or --in-memory to keep messages in memory only")
	}
	return filepath.Join(home, ".local", "state", "ciphermq"), nil
}

// newLogger builds the slog logger the flags ask for.
func newLogger(level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: use debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch strings.ToLower(format) {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: use text or json", format)
}

func runServer(cmd *cobra.Command, o *serverFlags) error {
	logger, err := newLogger(o.logLevel, o.logFormat)
	if err != nil {
		return err
	}
	cfg, err := serverConfig(cmd, o)
	if err != nil {
		return err
	}
	if o.memLimit != "" {
		n, err := parseByteSize(o.memLimit)
		if err != nil {
			return fmt.Errorf("--memory-limit: %w", err)
		}
		debug.SetMemoryLimit(n)
		logger.Info("memory limit set", "bytes", n)
	} else if high := cfg.MemoryHighWatermark; high > 0 && os.Getenv("GOMEMLIMIT") == "" {
		// Without a GC hint the heap may grow to twice what is live
		// before a collection; near the budget, collect harder.
		debug.SetMemoryLimit(high + high/2)
	}
	if cfg.MemoryHighWatermark > 0 {
		logger.Info("memory budget", "high_watermark", cfg.MemoryHighWatermark, "low_watermark", cfg.MemoryLowWatermark)
	}
	srv, err := server.New(cfg, logger)
	if err != nil {
		return err
	}
	if cfg.DataDir == "" {
		logger.Warn("running in memory (--in-memory): confirmed messages are lost if the broker stops")
	} else {
		logger.Info("durable by default: data directory", "data_dir", cfg.DataDir)
	}
	parent := cmd.Context()
	if parent == nil {
		parent = context.Background()
	}
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go reloadOnHUP(ctx, srv, logger, hup)
	opsSrv, err := startOps(ctx, srv, cfg, o, logger)
	if err != nil && !cmd.Flags().Changed("http-listen") && errors.Is(err, syscall.EADDRINUSE) {
		// The default port is taken (another broker on this machine): the
		// broker still starts; an explicit --http-listen must bind.
		logger.Warn("operations listener not started: its default address is in use; pass --http-listen ADDR or off", "err", err)
		opsSrv, err = nil, nil
	}
	if err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(sctx) // closes the data directory
		return err
	}
	err = srv.ListenAndServe(ctx)
	if opsSrv != nil {
		// After the broker: /readyz says "shutting down" while it drains.
		sctx, cancel := context.WithTimeout(context.Background(), opsShutdownTimeout)
		defer cancel()
		if serr := opsSrv.Shutdown(sctx); serr != nil {
			logger.Warn("operations listener: shutdown", "err", serr)
		}
	}
	if err != nil {
		return err
	}
	logger.Info("server stopped")
	return nil
}

// opsShutdownTimeout bounds the wait for HTTP requests in progress when
// the broker stops.
const opsShutdownTimeout = 5 * time.Second

// startOps binds and serves the operations HTTP listener (broker/ops) the
// flags ask for; nil when --http-listen is off.
func startOps(ctx context.Context, srv *server.Server, cfg server.Config, o *serverFlags, logger *slog.Logger) (*ops.Server, error) {
	if err := ops.CheckListen(o.httpListen); err != nil {
		return nil, err
	}
	if o.httpListen == ops.ListenOff {
		return nil, nil
	}
	oc := ops.Config{Listen: o.httpListen, Logger: logger}
	if o.httpTLS {
		if oc.TLS = srv.HTTPTLSConfig(); oc.TLS == nil {
			return nil, fmt.Errorf("--http-tls needs the broker's TLS material: pass --tls-cert and --tls-key")
		}
	}
	switch o.metricsAuth {
	case "none":
		if !server.LoopbackAddress(o.httpListen) {
			logger.Warn("operations listener beyond loopback with --metrics-auth none: whoever reaches it reads every queue's name and counts",
				"http_listen", o.httpListen)
		}
	case "users":
		if cfg.Auth.UsersFile == "" {
			return nil, fmt.Errorf("--metrics-auth users needs --users (the users file holds the monitoring users)")
		}
		oc.MetricsAuth = srv.AuthenticateHTTP
	default:
		return nil, fmt.Errorf("--metrics-auth %q: use none or users", o.metricsAuth)
	}
	if err := checkHTTPPlain(cfg, o); err != nil {
		return nil, err
	}
	if cfg.Auth.UsersFile != "" && !o.httpTLS && !server.LoopbackAddress(o.httpListen) {
		logger.Warn("operations listener beyond loopback without --http-tls (--allow-plain-without-tls): management API passwords (HTTP basic auth) cross the network in clear text",
			"http_listen", o.httpListen)
	}
	s := ops.New(oc, srv)
	// The management API and the web console share the listener (their
	// own authentication: broker users by HTTP basic auth; docs/operations.md).
	mh := mgmt.NewHandler(srv, mgmt.Options{Logger: logger})
	s.Handle("/api/", mh)
	s.Handle("/", mh)
	l, err := s.Listen(ctx)
	if err != nil {
		return nil, err
	}
	go func() {
		if err := s.Serve(l); err != nil {
			logger.Error("operations listener failed", "err", err)
		}
	}()
	return s, nil
}

// checkHTTPPlain applies the broker's rule for PLAIN passwords over TCP to
// the operations listener: with users, HTTP basic auth sends a password in
// every request, so a listener beyond loopback needs --http-tls unless
// --allow-plain-without-tls says clear text is acceptable (a TLS proxy in
// front, a trusted network).
func checkHTTPPlain(cfg server.Config, o *serverFlags) error {
	if o.httpListen == ops.ListenOff || cfg.Auth.UsersFile == "" || o.httpTLS || cfg.Auth.AllowPlainWithoutTLS || server.LoopbackAddress(o.httpListen) {
		return nil
	}
	return fmt.Errorf("--http-listen %s is beyond loopback and the broker has --users: HTTP basic auth would send passwords in clear text; "+
		"add --http-tls (with --tls-cert and --tls-key), listen on loopback (e.g. 127.0.0.1:15672, behind a TLS proxy), "+
		"or accept clear text with --allow-plain-without-tls (the same rule as PLAIN logins over TCP)", o.httpListen)
}

// reloadOnHUP calls srv.Reload for every signal on hup until ctx ends.
func reloadOnHUP(ctx context.Context, srv *server.Server, logger *slog.Logger, hup <-chan os.Signal) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := srv.Reload(); err != nil {
				logger.Error("reload on SIGHUP failed; the previous settings stay in use", "err", err)
			} else {
				logger.Info("reload on SIGHUP done")
			}
		}
	}
}

// parseByteSize reads a size such as 900MiB, 2GiB, 512KiB or a plain number
// of bytes (server.ParseByteSize: one parser for every size flag).
func parseByteSize(s string) (int64, error) { return server.ParseByteSize(s) }

// memoryWatermarks resolves --memory-high-watermark and
// --memory-low-watermark into bytes.
func memoryWatermarks(cfg *server.Config, o *serverFlags) error {
	switch strings.TrimSpace(o.memHigh) {
	case "off", "0", "":
		cfg.MemoryHighWatermark, cfg.MemoryLowWatermark = 0, 0
		return nil
	}
	high, err := server.ParseMemoryWatermark(o.memHigh)
	if err != nil {
		return fmt.Errorf("--memory-high-watermark: %w", err)
	}
	cfg.MemoryHighWatermark = high
	low := strings.TrimSpace(o.memLow)
	if strings.Contains(low, ".") {
		frac, err := strconv.ParseFloat(low, 64)
		if err != nil || frac <= 0 || frac > 1 {
			return fmt.Errorf("--memory-low-watermark %q: a fraction of the high watermark must be in (0, 1], e.g. 0.9", low)
		}
		cfg.MemoryLowWatermark = int64(frac * float64(high))
		return nil
	}
	n, err := parseByteSize(low)
	if err != nil {
		return fmt.Errorf("--memory-low-watermark: %w", err)
	}
	if n > high {
		return fmt.Errorf("--memory-low-watermark %d bytes is above the high watermark %d", n, high)
	}
	cfg.MemoryLowWatermark = n
	return nil
}
