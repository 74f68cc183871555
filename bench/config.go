package bench

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// ErrInvalidConfig: a workload setting is out of range; the message names it.
var ErrInvalidConfig = errors.New("bench: invalid workload")

// Defaults of Config, also the defaults of "ciphermq bench".
const (
	DefaultTarget       = "ciphermq-inproc"
	DefaultPublishers   = 1
	DefaultConsumers    = 1
	DefaultSize         = 512
	DefaultWindow       = 256
	DefaultPrefetch     = 256
	DefaultDuration     = 5 * time.Second
	DefaultDrainTimeout = 30 * time.Second
)

// Config is one workload.
type Config struct {
	Publishers int // each on its own connection
	Consumers  int // each on its own connection
	// Size is the plaintext size of every message in bytes (at least
	// MinMessageSize); with encryption the envelope on the wire is larger.
	Size     int
	Window   int // unconfirmed messages per publisher
	Prefetch int // unacked messages per consumer
	// Count is the total number of messages; 0 runs for Duration instead.
	Count    int64
	Duration time.Duration
	// Rate is the total publish rate in messages per second for open-loop
	// runs (latency from the intended send time); 0 publishes as fast as
	// the window allows.
	Rate         float64
	ExchangeType string // direct (default), fanout or topic
	Encryption   string // off (default), seed or modern
	Protocol     string // native (default) or text
	// DrainTimeout bounds the wait, after publishing ends, for consumers
	// to receive every confirmed message; what is missing then is lost.
	DrainTimeout time.Duration
	// Progress, when set, is called about four times a second.
	Progress func(Progress)
	Logger   *slog.Logger
}

// Progress is a snapshot of a running run.
type Progress struct {
	Elapsed   time.Duration
	Planned   time.Duration // Duration, or 0 in count mode
	Count     int64         // Count, or 0 in duration mode
	Confirmed int64
	Received  int64
}

// withDefaults fills zero fields.
func (c Config) withDefaults() Config {
	if c.Publishers == 0 {
		c.Publishers = DefaultPublishers
	}
	if c.Consumers == 0 {
		c.Consumers = DefaultConsumers
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Window == 0 {
		c.Window = DefaultWindow
	}
	if c.Prefetch == 0 {
		c.Prefetch = DefaultPrefetch
	}
	if c.Count == 0 && c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.ExchangeType == "" {
		c.ExchangeType = "direct"
	}
	if c.Encryption == "" {
		c.Encryption = EncryptionOff
	}
	if c.Protocol == "" {
		c.Protocol = "native"
	}
	if c.DrainTimeout == 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// Validate reports the first setting out of range.
func (c Config) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, a...))
	}
	switch {
	case c.Publishers < 1 || c.Publishers > 10_000:
		return bad("publishers %d: use 1 to 10000", c.Publishers)
	case c.Consumers < 1 || c.Consumers > 10_000:
		return bad("consumers %d: use 1 to 10000", c.Consumers)
	case c.Size < MinMessageSize || c.Size > 16<<20:
		return bad("size %d bytes: use %d to %d (the id and send time take %d)", c.Size, MinMessageSize, 16<<20, headerSize)
	case c.Window < 1 || c.Window > maxAhead:
		return bad("window %d: use 1 to %d", c.Window, maxAhead)
	case c.Prefetch < 1:
		return bad("prefetch %d: use at least 1", c.Prefetch)
	case c.Count < 0:
		return bad("count %d must not be negative", c.Count)
	case c.Count == 0 && c.Duration <= 0:
		return bad("give a positive count or duration")
	case c.Rate < 0 || math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0):
		return bad("rate %g: use 0 (closed loop) or a positive number of msgs/s", c.Rate)
	case c.Rate > 0 && c.Rate*3600 < float64(c.Publishers):
		// Slower than one message per publisher per hour: the pacing
		// interval would overflow a time.Duration long before that matters.
		return bad("rate %g msgs/s gives each of %d publishers less than one message an hour: use at least %g", c.Rate, c.Publishers, float64(c.Publishers)/3600)
	case c.DrainTimeout < 0:
		return bad("drain timeout %v must not be negative", c.DrainTimeout)
	}
	switch c.ExchangeType {
	case "direct", "fanout", "topic":
	default:
		return bad("exchange type %q: use direct, fanout or topic", c.ExchangeType)
	}
	switch c.Encryption {
	case EncryptionOff, EncryptionSeed, EncryptionModern:
	default:
		return bad("encryption %q: use off, seed or modern", c.Encryption)
	}
	switch c.Protocol {
	case "native", "text":
	default:
		return bad("protocol %q: use native or text", c.Protocol)
	}
	return nil
}
