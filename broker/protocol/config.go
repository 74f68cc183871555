package protocol

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Defaults for Config fields left at zero by WithDefaults.
const (
	DefaultServerName       = "ciphermq"
	DefaultHeartbeat        = 10 * time.Second
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultMaxFrameSize     = broker.DefaultMaxMessageSize + 64<<10
	DefaultMaxMessageSize   = broker.DefaultMaxMessageSize
	DefaultMaxLineSize      = 4 << 20
	DefaultMaxOutput        = 4 << 20
	DefaultTextAckTimeout   = 30 * time.Second
	DefaultTextPacingGap    = 20 * time.Millisecond
	DefaultTextIdleTimeout  = 5 * time.Minute
	DefaultTextLineTimeout  = 30 * time.Second
)

// Config holds what the protocol sessions need to know. The server derives
// it from its own configuration; the simulator builds one directly.
type Config struct {
	// ServerName is announced in HelloOK.
	ServerName string
	// Heartbeat is the server's native heartbeat interval. A client may
	// propose a shorter one in Hello. Negative disables heartbeats.
	Heartbeat time.Duration
	// HandshakeTimeout bounds the time from Open to a complete Hello
	// (native). The driver enforces time-to-first-byte itself.
	HandshakeTimeout time.Duration
	// MaxFrameSize is the largest native frame, its 4-byte length field included (as wire.SplitFrame counts it)
	// accepted from a client.
	MaxFrameSize int
	// MaxMessageSize is announced in HelloOK; the core enforces it.
	MaxMessageSize int
	// MaxOutput bounds the input a session consumes per Feed: once its
	// unwritten Output is above MaxOutput it stops handling frames or
	// lines and returns the bytes consumed so far, so one read full of
	// requests (300 stats, say) cannot pile up replies. The driver feeds
	// the rest once the output has drained (the server after waitForRoom).
	// The output can exceed MaxOutput by at most one reply plus the
	// deliveries and confirms the core pushes meanwhile. Zero: the
	// server's default outbound buffer, 4 MiB.
	MaxOutput int
	// MaxLineSize is the longest text line (without its newline). The
	// default leaves room for a publish_batch of several maximal envelopes.
	MaxLineSize int
	// TextAckTimeout is the ack timeout of consumers registered by the text
	// command consume, and how long a Text session waits for the ack of its
	// one in-flight push before it pushes again.
	TextAckTimeout time.Duration
	// TextPacingGap is the quiet time after any write before a push.
	TextPacingGap time.Duration
	// TextIdleTimeout closes a text connection that sends no complete line
	// for this long while it has no consumer and no push in flight or
	// waiting (a consumer connection may be silent for ever: the reference
	// Receiver sends nothing between messages). Negative disables.
	TextIdleTimeout time.Duration
	// TextLineTimeout closes a text connection whose unterminated line is
	// not complete this long after its first byte arrived, so that a
	// client cannot hold a connection (and its line buffer) with a line it
	// never finishes. Negative disables.
	TextLineTimeout time.Duration
	// Users returns the users database in force (the driver swaps it on
	// reload; a session takes it once, at its handshake). A nil function
	// or a nil database: the broker has no users, and every connection is
	// access.Anonymous() (the user guest, allowed everything on "/").
	Users func() *access.DB
	// TextUser is the user that text-protocol connections act as (they
	// carry no credentials); empty means access.Guest. With a users
	// database it must be in it with permissions on "/", or text
	// connections are refused.
	TextUser string
	// AllowPlainWithoutTLS accepts PLAIN authentication over unencrypted
	// TCP from a non-loopback address, where a password would cross the
	// network in clear text. Off by default.
	AllowPlainWithoutTLS bool
	// Admit, if set, is asked once a connection's identity is known (after
	// authentication; at once for text connections), before the connection
	// reaches the core. The driver enforces per-user connection limits
	// here; a non-nil error refuses the connection with its code.
	Admit func(conn broker.ConnID, id *access.Identity) *broker.Error
	// Logger receives one line per event that matters; nil discards.
	Logger *slog.Logger
	// Features are the native feature bits (wire.Feature*) the server
	// offers; a connection uses those its client asks for too. Zero: every
	// feature this version supports. NoFeatures turns them all off.
	Features   uint64
	NoFeatures bool
	// MutationPrefixIDReuse is a deliberate bug, TEST ONLY: the outbound
	// prefix window binds each new prefix to the previous id instead of a
	// new one, as a sender that forgets to advance its window would. The
	// consumer's window refuses the repeated id (fatal, code 104); the
	// simulator's sweep must catch it as a protocol violation.
	MutationPrefixIDReuse bool
	// MutationPrefixRefWrong is a deliberate bug, TEST ONLY: a DeliverRef
	// names the live prefix defined just before the right one, a mistake no
	// window check can see. The simulator's sweep must catch the wrong
	// bytes (intact envelopes rejected).
	MutationPrefixRefWrong bool
	// MutationSkipPublishPermission is a deliberate bug, TEST ONLY: native
	// and text publishes skip the identity's Publish (write on the
	// exchange) check, so a user without write permission can publish.
	// The permission table tests and the simulator's sweep must catch the
	// accepted publish.
	MutationSkipPublishPermission bool
}

// ErrInvalidConfig reports a Config field out of range.
var ErrInvalidConfig = errors.New("invalid session config")

// WithDefaults returns c with every zero field replaced by its default.
func (c Config) WithDefaults() Config {
	if c.ServerName == "" {
		c.ServerName = DefaultServerName
	}
	if c.Features == 0 && !c.NoFeatures {
		c.Features = wire.SupportedFeatures
	}
	if c.NoFeatures {
		c.Features = 0
	}
	if c.Heartbeat == 0 {
		c.Heartbeat = DefaultHeartbeat
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = DefaultMaxFrameSize
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxOutput == 0 {
		c.MaxOutput = DefaultMaxOutput
	}
	if c.MaxLineSize == 0 {
		c.MaxLineSize = DefaultMaxLineSize
	}
	if c.TextAckTimeout == 0 {
		c.TextAckTimeout = DefaultTextAckTimeout
	}
	if c.TextPacingGap == 0 {
		c.TextPacingGap = DefaultTextPacingGap
	}
	if c.TextIdleTimeout == 0 {
		c.TextIdleTimeout = DefaultTextIdleTimeout
	}
	if c.TextLineTimeout == 0 {
		c.TextLineTimeout = DefaultTextLineTimeout
	}
	if c.TextUser == "" {
		c.TextUser = access.Guest
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first field that is out of range, saying which
// values are accepted.
func (c Config) Validate() error {
	switch {
	case c.HandshakeTimeout < 0:
		return fmt.Errorf("%w: handshake timeout %v is negative; use a positive duration", ErrInvalidConfig, c.HandshakeTimeout)
	case c.MaxFrameSize < wire.MinMaxFrameSize:
		return fmt.Errorf("%w: max frame size %d is below the protocol minimum of %d bytes", ErrInvalidConfig, c.MaxFrameSize, wire.MinMaxFrameSize)
	case c.MaxMessageSize <= 0:
		return fmt.Errorf("%w: max message size %d must be positive", ErrInvalidConfig, c.MaxMessageSize)
	case c.MaxFrameSize < c.MaxMessageSize+frameOverhead:
		return fmt.Errorf("%w: max frame size %d cannot carry a message of the max message size %d; raise it to at least %d",
			ErrInvalidConfig, c.MaxFrameSize, c.MaxMessageSize, c.MaxMessageSize+frameOverhead)
	case c.MaxLineSize < 1024:
		return fmt.Errorf("%w: max line size %d is below 1024 bytes (reference clients send lines of up to 1024 bytes)", ErrInvalidConfig, c.MaxLineSize)
	case c.TextAckTimeout < 0:
		return fmt.Errorf("%w: text ack timeout %v is negative", ErrInvalidConfig, c.TextAckTimeout)
	case c.TextPacingGap < 0:
		return fmt.Errorf("%w: text pacing gap %v is negative", ErrInvalidConfig, c.TextPacingGap)
	}
	return nil
}

// users returns the users database in force, nil without one.
func (c *Config) users() *access.DB {
	if c.Users == nil {
		return nil
	}
	return c.Users()
}

// frameOverhead is room for a publish/deliver frame's fields around the body
// (names, routing key, message id, varints). Names are short in practice;
// 4 KiB leaves ample margin.
const frameOverhead = 4 << 10
