package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wal"
)

// Defaults of Config (see DefaultConfig).
const (
	DefaultListen         = "127.0.0.1:5672"
	DefaultMaxConnections = 10_000
	// DefaultMaxConnectionsPerSource is a tenth of the global limit (as
	// DefaultUserLimits.MaxConnections): at least ten addresses can use
	// the broker whatever one of them does, and one host's clients (all of
	// a machine's local clients share 127.0.0.1) still get a thousand.
	DefaultMaxConnectionsPerSource = DefaultMaxConnections / 10
	DefaultOutboundBuffer          = 4 << 20
	DefaultWriteTimeout            = 30 * time.Second
	DefaultShutdownTimeout         = 10 * time.Second
	DefaultReadBufferSize          = 64 << 10
	minOutboundBufferBytes         = 64 << 10
	maxConfigFileSizeBytes         = 1 << 20
)

// ErrInvalidConfig reports a configuration value out of range; the message
// names the field and the accepted values.
var ErrInvalidConfig = errors.New("invalid server config")

// Config configures a Server. Start from DefaultConfig; the zero value of a
// field is not always its default.
type Config struct {
	// Listen is the plain TCP address ListenAndServe binds (host:port);
	// ListenOff ("off") serves TLS only.
	Listen string
	// TLS configures the TLS listener beside the plain one.
	TLS TLSConfig
	// MaxConnectionAge: a connection older than this is ended politely
	// (native: Close code 502; text: closed after its pending replies), so
	// that rotated certificates and credentials take effect. 0: no limit.
	MaxConnectionAge time.Duration
	// MaxConnections bounds concurrent client connections; one more is
	// answered with an error in its own protocol and closed.
	MaxConnections int
	// MaxConnectionsPerSource bounds concurrent connections from one
	// source IP address (both protocols, loopback included); one more is
	// refused like one over MaxConnections. 0: no per-source limit.
	// Connections whose remote address is not TCP (ServeConn with a pipe)
	// are not counted.
	MaxConnectionsPerSource int
	// MaxFrameSize bounds a native frame from a client (length field
	// included); a larger one closes that connection.
	MaxFrameSize int
	// MaxLineSize bounds a text line; a longer one closes that connection.
	MaxLineSize int
	// HandshakeTimeout: a connection that sends no byte (text and native)
	// or no complete Hello (native) within it is closed.
	HandshakeTimeout time.Duration
	// Heartbeat is the native heartbeat interval offered in HelloOK; a
	// native peer silent for 3 intervals is closed and its deliveries
	// requeue. Negative disables heartbeats.
	Heartbeat time.Duration
	// OutboundBufferBytes bounds one connection's unwritten output. Above
	// it the server stops reading from that connection (flow control).
	OutboundBufferBytes int
	// MemoryHighWatermark is the global memory budget in bytes (0: none):
	// above it publishers are blocked (docs/server.md, "Memory budget").
	MemoryHighWatermark int64
	// MemoryLowWatermark: below it publishers resume (0: 90% of the high
	// watermark).
	MemoryLowWatermark int64
	// WriteTimeout bounds one write to a client that does not read.
	WriteTimeout time.Duration
	// ShutdownTimeout is how long ListenAndServe waits for connections to
	// close after its context ends.
	ShutdownTimeout time.Duration
	// TextAckTimeout is the ack timeout of text-protocol consumers.
	TextAckTimeout time.Duration
	// TextPacingGap is the quiet time before each text push.
	TextPacingGap time.Duration
	// TextIdleTimeout closes a text connection without a consumer that
	// sends no complete line for this long; TextLineTimeout one whose
	// unterminated line is not complete this long after its first byte.
	// Negative disables either (see protocol.Config).
	TextIdleTimeout time.Duration
	TextLineTimeout time.Duration
	// ServerName is announced to native clients.
	ServerName string

	// DataDir holds the durable queues' log (broker/wal). Empty: no
	// durable storage; declaring a durable queue is refused.
	DataDir string
	// Fsync is the durable log's fsync policy: wal.SyncAlways (confirm
	// after fsync, the default) or wal.SyncInterval (confirm at once,
	// fsync every FsyncInterval; see docs/storage.md for what that loses).
	Fsync wal.SyncPolicy
	// FsyncInterval is the fsync period under wal.SyncInterval (0: 10ms).
	FsyncInterval time.Duration
	// storageFS replaces the real disk under DataDir (tests inject a
	// wal.MemFS that fails on demand).
	storageFS wal.FS
	// storageSegmentSize overrides the log's segment size (tests that
	// need rolls and compaction without writing 64 MiB).
	storageSegmentSize int64

	// Auth configures users, anonymous access and the text protocol.
	Auth AuthConfig

	// Broker configures the core (message size, dedup window, limits).
	broker.Config
}

// DefaultConfig returns the configuration the flags of "ciphermq server"
// start from.
func DefaultConfig() Config {
	return Config{
		Listen:                  DefaultListen,
		TLS:                     TLSConfig{ClientAuth: ClientAuthNone, MinVersion: "1.3", IdentityFrom: IdentityAuto},
		MaxConnections:          DefaultMaxConnections,
		MaxConnectionsPerSource: DefaultMaxConnectionsPerSource,
		MaxFrameSize:            protocol.DefaultMaxFrameSize,
		MaxLineSize:             protocol.DefaultMaxLineSize,
		HandshakeTimeout:        protocol.DefaultHandshakeTimeout,
		Heartbeat:               protocol.DefaultHeartbeat,
		OutboundBufferBytes:     DefaultOutboundBuffer,
		WriteTimeout:            DefaultWriteTimeout,
		ShutdownTimeout:         DefaultShutdownTimeout,
		TextAckTimeout:          protocol.DefaultTextAckTimeout,
		TextPacingGap:           protocol.DefaultTextPacingGap,
		TextIdleTimeout:         protocol.DefaultTextIdleTimeout,
		TextLineTimeout:         protocol.DefaultTextLineTimeout,
		ServerName:              protocol.DefaultServerName,
		Config: broker.Config{
			MaxMessageSize: broker.DefaultMaxMessageSize,
			DedupWindow:    broker.DefaultDedupWindow,
			DedupMaxIDs:    broker.DefaultDedupMaxIDs,
		},
	}
}

// Validate reports the first out-of-range field.
func (c Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...))
	}
	if c.Listen != "" && c.Listen != ListenOff {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return bad("listen address %q: %v (use host:port, e.g. 127.0.0.1:5672, or off for TLS only)", c.Listen, err)
		}
	}
	if err := c.TLS.validate(); err != nil {
		return bad("%v", err)
	}
	switch {
	case c.Listen == ListenOff && c.TLS.Listen == "":
		return bad("nothing to listen on: the plain listener is off and there is no TLS listener (--tls-listen)")
	case c.MaxConnectionAge < 0:
		return bad("max connection age %v must not be negative (0 disables it)", c.MaxConnectionAge)
	case c.MaxConnections <= 0:
		return bad("max connections %d must be at least 1", c.MaxConnections)
	case c.MaxConnectionsPerSource < 0:
		return bad("max connections per source %d must not be negative (0 disables the limit)", c.MaxConnectionsPerSource)
	case c.OutboundBufferBytes < minOutboundBufferBytes:
		return bad("outbound buffer %d bytes is below the minimum of %d", c.OutboundBufferBytes, minOutboundBufferBytes)
	case c.MemoryHighWatermark < 0 || c.MemoryLowWatermark < 0:
		return bad("memory watermarks must not be negative (0: no budget / 90%% of the high one)")
	case c.MemoryLowWatermark > 0 && c.MemoryLowWatermark > c.MemoryHighWatermark:
		return bad("memory low watermark %d is above the high watermark %d", c.MemoryLowWatermark, c.MemoryHighWatermark)
	case c.WriteTimeout <= 0:
		return bad("write timeout %v must be positive", c.WriteTimeout)
	case c.ShutdownTimeout < 0:
		return bad("shutdown timeout %v must not be negative", c.ShutdownTimeout)
	case c.HandshakeTimeout <= 0:
		return bad("handshake timeout %v must be positive", c.HandshakeTimeout)
	case c.Heartbeat == 0:
		return bad("heartbeat 0 is ambiguous: give an interval, or a negative value to disable heartbeats")
	case c.TextAckTimeout <= 0:
		return bad("text ack timeout %v must be positive (a never-acked push would stall its consumer)", c.TextAckTimeout)
	case c.MaxMessageSize <= 0:
		return bad("max message size %d must be positive", c.MaxMessageSize)
	case c.DedupMaxIDs < 0:
		return bad("dedup max ids %d must not be negative", c.DedupMaxIDs)
	case c.Fsync != wal.SyncAlways && c.Fsync != wal.SyncInterval:
		return bad("fsync policy %v: use always or interval", c.Fsync)
	case c.FsyncInterval < 0:
		return bad("fsync interval %v must not be negative", c.FsyncInterval)
	}
	if err := c.Auth.validate(c.Listen, c.TLS.Listen); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if err := c.sessionConfig(nil).Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

// sessionConfig derives what the protocol sessions need.
func (c Config) sessionConfig(log *slog.Logger) protocol.Config {
	return protocol.Config{
		Logger:           log,
		ServerName:       c.ServerName,
		Heartbeat:        c.Heartbeat,
		HandshakeTimeout: c.HandshakeTimeout,
		MaxFrameSize:     c.MaxFrameSize,
		MaxMessageSize:   c.MaxMessageSize,
		MaxLineSize:      c.MaxLineSize,
		MaxOutput:        c.OutboundBufferBytes,
		TextAckTimeout:   c.TextAckTimeout,
		TextPacingGap:    c.TextPacingGap,
		TextIdleTimeout:  c.TextIdleTimeout,
		TextLineTimeout:  c.TextLineTimeout,
	}
}

// Duration is a time.Duration written as a Go duration string ("10s",
// "250ms") in config files.
type Duration time.Duration

// UnmarshalJSON accepts a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("durations are strings like \"10s\" or \"250ms\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// FileConfig is the JSON config file. Every field is optional; a present
// field overrides the default, and command-line flags override the file.
// Unknown fields are an error, so a typo cannot silently be ignored.
type FileConfig struct {
	Listen                  *string   `json:"listen,omitempty"`
	TLSListen               *string   `json:"tls_listen,omitempty"`
	TLSCert                 *string   `json:"tls_cert,omitempty"`
	TLSKey                  *string   `json:"tls_key,omitempty"`
	TLSCA                   *string   `json:"tls_ca,omitempty"`
	TLSClientAuth           *string   `json:"tls_client_auth,omitempty"`
	TLSCRL                  *string   `json:"tls_crl,omitempty"`
	TLSMinVersion           *string   `json:"tls_min_version,omitempty"`
	TLSIdentityFrom         *string   `json:"tls_identity_from,omitempty"`
	MaxConnectionAge        *Duration `json:"max_connection_age,omitempty"`
	MaxConnections          *int      `json:"max_connections,omitempty"`
	MaxConnectionsPerSource *int      `json:"max_connections_per_source,omitempty"`
	MaxFrameSize            *int      `json:"max_frame_size,omitempty"`
	MaxLineSize             *int      `json:"max_line_size,omitempty"`
	HandshakeTimeout        *Duration `json:"handshake_timeout,omitempty"`
	Heartbeat               *Duration `json:"heartbeat,omitempty"`
	OutboundBufferBytes     *int      `json:"outbound_buffer_bytes,omitempty"`
	WriteTimeout            *Duration `json:"write_timeout,omitempty"`
	ShutdownTimeout         *Duration `json:"shutdown_timeout,omitempty"`
	TextAckTimeout          *Duration `json:"text_ack_timeout,omitempty"`
	TextPacingGap           *Duration `json:"text_pacing_gap,omitempty"`
	TextIdleTimeout         *Duration `json:"text_idle_timeout,omitempty"`
	TextLineTimeout         *Duration `json:"text_line_timeout,omitempty"`
	ServerName              *string   `json:"server_name,omitempty"`

	MaxMessageSize    *int      `json:"max_message_size,omitempty"`
	DedupWindow       *Duration `json:"dedup_window,omitempty"`
	DedupMaxIDs       *int      `json:"dedup_max_ids,omitempty"`
	DefaultPrefetch   *int      `json:"default_prefetch,omitempty"`
	DefaultAckTimeout *Duration `json:"default_ack_timeout,omitempty"`
	MaxQueues         *int      `json:"max_queues,omitempty"`
	MaxExchanges      *int      `json:"max_exchanges,omitempty"`
	MaxBindings       *int      `json:"max_bindings,omitempty"`
	MaxConsumers      *int      `json:"max_consumers,omitempty"`

	FileAuthConfig

	DataDir       *string   `json:"data_dir,omitempty"`
	Fsync         *string   `json:"fsync,omitempty"` // "always" or "interval"
	FsyncInterval *Duration `json:"fsync_interval,omitempty"`
}

// LoadConfigFile reads a JSON config file and applies it over base.
func LoadConfigFile(path string, base Config) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("reading config file: %w", err)
	}
	if len(data) > maxConfigFileSizeBytes {
		return base, fmt.Errorf("config file %s is %d bytes; the limit is %d", path, len(data), maxConfigFileSizeBytes)
	}
	return ParseConfig(data, base)
}

// ParseConfig parses a JSON config document and applies it over base.
func ParseConfig(data []byte, base Config) (Config, error) {
	var f FileConfig
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return base, fmt.Errorf("%w: config file: %w", ErrInvalidConfig, err)
	}
	if dec.More() {
		return base, fmt.Errorf("%w: config file: data after the JSON object", ErrInvalidConfig)
	}
	if err := f.applyAuth(&base.Auth); err != nil {
		return base, fmt.Errorf("%w: config file: %w", ErrInvalidConfig, err)
	}
	if f.Fsync != nil {
		p, err := wal.ParseSyncPolicy(*f.Fsync)
		if err != nil {
			return base, fmt.Errorf("%w: config file: fsync: %w", ErrInvalidConfig, err)
		}
		base.Fsync = p
	}
	f.apply(&base)
	return base, nil
}

func (f *FileConfig) apply(c *Config) {
	setS := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setI := func(dst *int, v *int) {
		if v != nil {
			*dst = *v
		}
	}
	setD := func(dst *time.Duration, v *Duration) {
		if v != nil {
			*dst = time.Duration(*v)
		}
	}
	setS(&c.Listen, f.Listen)
	setS(&c.TLS.Listen, f.TLSListen)
	setS(&c.TLS.CertFile, f.TLSCert)
	setS(&c.TLS.KeyFile, f.TLSKey)
	setS(&c.TLS.CAFile, f.TLSCA)
	setS(&c.TLS.ClientAuth, f.TLSClientAuth)
	setS(&c.TLS.CRLFile, f.TLSCRL)
	setS(&c.TLS.MinVersion, f.TLSMinVersion)
	setS(&c.TLS.IdentityFrom, f.TLSIdentityFrom)
	setD(&c.MaxConnectionAge, f.MaxConnectionAge)
	setI(&c.MaxConnections, f.MaxConnections)
	setI(&c.MaxConnectionsPerSource, f.MaxConnectionsPerSource)
	setI(&c.MaxFrameSize, f.MaxFrameSize)
	setI(&c.MaxLineSize, f.MaxLineSize)
	setD(&c.HandshakeTimeout, f.HandshakeTimeout)
	setD(&c.Heartbeat, f.Heartbeat)
	setI(&c.OutboundBufferBytes, f.OutboundBufferBytes)
	setD(&c.WriteTimeout, f.WriteTimeout)
	setD(&c.ShutdownTimeout, f.ShutdownTimeout)
	setD(&c.TextAckTimeout, f.TextAckTimeout)
	setD(&c.TextPacingGap, f.TextPacingGap)
	setD(&c.TextIdleTimeout, f.TextIdleTimeout)
	setD(&c.TextLineTimeout, f.TextLineTimeout)
	setS(&c.ServerName, f.ServerName)
	setI(&c.MaxMessageSize, f.MaxMessageSize)
	setD(&c.DedupWindow, f.DedupWindow)
	setI(&c.DedupMaxIDs, f.DedupMaxIDs)
	setI(&c.DefaultPrefetch, f.DefaultPrefetch)
	setD(&c.DefaultAckTimeout, f.DefaultAckTimeout)
	setI(&c.MaxQueues, f.MaxQueues)
	setI(&c.MaxExchanges, f.MaxExchanges)
	setI(&c.MaxBindings, f.MaxBindings)
	setI(&c.MaxConsumers, f.MaxConsumers)
	setS(&c.DataDir, f.DataDir)
	setD(&c.FsyncInterval, f.FsyncInterval)
}
