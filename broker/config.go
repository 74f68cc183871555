package broker

import "time"

// Names of the topology every core starts with unless Config.NoDefaults is
// set. The seed protocol's clients never declare anything and rely on them.
const (
	DefaultExchange   = "default_exchange"
	DefaultQueue      = "default_queue"
	DefaultRoutingKey = "default_key"
	// DefaultDeadLetterQueue is default_queue's dead-letter queue: what a
	// consumer of default_queue rejects is kept there, not discarded.
	DefaultDeadLetterQueue = DefaultQueue + DeadLetterSuffix
)

// DeadLetterSuffix names a queue's dead-letter queue by convention:
// <queue>.dlq. The queues the broker and the CLI declare follow it, and
// `ciphermq dlq` relies on it to find a dead-letter queue's source queue.
const DeadLetterSuffix = ".dlq"

// DeadLetterQueueName returns the conventional dead-letter queue of queue.
func DeadLetterQueueName(queue string) string { return queue + DeadLetterSuffix }

// Size limits on names and keys. They keep every per-message string small and
// make the text protocol's single-token fields safe.
const (
	MaxNameLen       = 255 // exchange, queue and consumer tag names
	MaxMessageIDLen  = 255
	MaxRoutingKeyLen = 255 // routing keys and binding keys
)

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxMessageSize = 1 << 20
	DefaultDedupWindow    = 10 * time.Minute
	DefaultDedupMaxIDs    = 250_000
	DefaultPrefetch       = 256
	DefaultMaxQueues      = 10_000
	DefaultMaxExchanges   = 10_000
	DefaultMaxBindings    = 100_000
	DefaultMaxConsumers   = 100_000
)

// Config tunes a Core. The zero value is a usable configuration: New fills
// every zero field with the default documented beside it.
type Config struct {
	// MaxMessageSize bounds a publish body in bytes (default 1 MiB); larger
	// publishes are refused with CodeTooLarge.
	MaxMessageSize int
	// DedupWindow: a message id accepted within this window is confirmed as
	// a duplicate and not enqueued again (default 10m; negative disables
	// deduplication).
	DedupWindow time.Duration
	// DedupMaxIDs bounds the remembered ids (default 250,000); the oldest
	// are forgotten first, so memory stays bounded under any publish rate.
	DedupMaxIDs int
	// DefaultPrefetch is a consumer's unacked limit when it asks for 0
	// (default 256).
	DefaultPrefetch int
	// DefaultAckTimeout applies to queues declared without AckTimeout
	// (default 0: no ack timeout unless the queue or consumer sets one).
	DefaultAckTimeout time.Duration
	// NoDefaults skips declaring default_exchange (direct), default_queue
	// and their binding with key default_key.
	NoDefaults bool
	// Resource limits; 0 selects the defaults above. Exceeding one is
	// refused with CodeResourceLimit.
	MaxQueues, MaxExchanges, MaxBindings, MaxConsumers int
	// TeardownStep bounds the work one core call spends on releasing
	// closed connections (a consumer removed, a delivery requeued, a heap
	// level sifted; default DefaultTeardownStep): a connection holding
	// more is torn down over the following Ticks.
	TeardownStep int

	// Mutations deliberately break guarantees. TEST ONLY: they exist so the
	// fault harness can prove that its checkers notice a broken broker.
	// Never set them in production.
	Mutations Mutations
}

// Mutations are test-only switches that each break one guarantee of the
// core, so that invariant checkers can be shown to fail. All are off by
// default.
type Mutations struct {
	// NoDedup disables deduplication: a repeated message id is enqueued again.
	NoDedup bool
	// NoRequeueOnClose drops the unacked deliveries of a closing
	// connection instead of requeueing them (silent loss).
	NoRequeueOnClose bool
	// ConfirmBeforeEnqueue confirms a publish but does not enqueue it into
	// target queues that have no consumer at that moment (silent loss of a
	// confirmed message).
	ConfirmBeforeEnqueue bool
	// ConfirmBeforePersist confirms publishes to durable queues at once
	// instead of after Persisted (a confirmed message can be lost by a
	// crash before its record reached the disk).
	ConfirmBeforePersist bool
	// ForgetDedupOnRestore: Restore does not rebuild the dedup window from
	// the log, so a publish retried after a restart is enqueued again
	// although its first copy was on disk (checked only in Restore).
	ForgetDedupOnRestore bool
	// TopicHashOneWord: a topic binding's "#" words are bound as "*", so
	// "#" matches exactly one word instead of zero or more (checked only
	// in Bind, never on the publish path).
	TopicHashOneWord bool
	// AckMultipleOverreach: a Multiple ack settles every delivery
	// outstanding on the connection, not only those up to its tag, so
	// deliveries still on their way to the consumer are acked (checked
	// only when an ack is Multiple).
	AckMultipleOverreach bool
	// DeadLetterDrops: a message that should be dead-lettered (rejected,
	// nacked without requeue, past its delivery limit) is dropped instead
	// of moved to the dead-letter queue (checked only on that path).
	DeadLetterDrops bool
	// RestoreDropsNewest: Restore skips the newest message the log holds
	// for each queue, as a replay that stops one record short would
	// (checked only in Restore).
	RestoreDropsNewest bool
}

// withDefaults returns cfg with every zero field replaced by its default.
func (cfg Config) withDefaults() Config {
	if cfg.MaxMessageSize <= 0 {
		cfg.MaxMessageSize = DefaultMaxMessageSize
	}
	if cfg.DedupWindow == 0 {
		cfg.DedupWindow = DefaultDedupWindow
	}
	if cfg.DedupMaxIDs <= 0 {
		cfg.DedupMaxIDs = DefaultDedupMaxIDs
	}
	if cfg.DefaultPrefetch <= 0 {
		cfg.DefaultPrefetch = DefaultPrefetch
	}
	if cfg.DefaultAckTimeout < 0 {
		cfg.DefaultAckTimeout = 0
	}
	if cfg.MaxQueues <= 0 {
		cfg.MaxQueues = DefaultMaxQueues
	}
	if cfg.MaxExchanges <= 0 {
		cfg.MaxExchanges = DefaultMaxExchanges
	}
	if cfg.MaxBindings <= 0 {
		cfg.MaxBindings = DefaultMaxBindings
	}
	if cfg.MaxConsumers <= 0 {
		cfg.MaxConsumers = DefaultMaxConsumers
	}
	if cfg.TeardownStep <= 0 {
		cfg.TeardownStep = DefaultTeardownStep
	}
	return cfg
}
