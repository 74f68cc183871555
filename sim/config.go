package sim

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ciphermq/ciphermq/faults"
)

// ErrInvalidConfig reports a Config the simulator cannot run.
var ErrInvalidConfig = errors.New("sim: invalid config")

// Config is one simulated run.
type Config struct {
	// Seed fixes every choice of the run.
	Seed uint64
	// Plan is the fault plan. Nil: Swarm decides; with Swarm false as well,
	// the run is fault free (Calm).
	Plan *faults.Plan
	// Swarm draws the plan from the seed (faults.Swarm), TigerBeetle style.
	Swarm bool
	// DrawSeed, when not zero, replaces Seed for the swarm's draws that
	// shape the run before it starts: the fault plan, the configuration
	// (swarmcfg.go), whether the run is authenticated and whether it has a
	// hostile-load node. The run itself (timings, bodies, keys, crash
	// times) still follows Seed. The guided explorer (explore.go) runs new
	// seeds under the draws of seeds that reached new behaviour; zero
	// keeps every seed's own draws, as a sweep does.
	DrawSeed uint64
	// Workload is what the clients do; zero fields take DefaultWorkload's.
	Workload Workload
	// Auth runs authenticated: the broker has a users database, every
	// client logs in with PLAIN as its own user with permissions on what it
	// uses, and a hostile tenant attacks (docs/testing.md). Swarm runs draw
	// it for AuthFraction of their seeds; true forces it.
	Auth bool
	// HostileLoad runs a hostile-load node beside the honest clients
	// (load.go): off by default; LoadSwarm draws it for LoadFraction of
	// swarm seeds, LoadOn forces it.
	HostileLoad LoadMode
	// FixedWorkload turns the swarm's per-seed workload draws off
	// (swarmcfg.go, drawWorkload): a swarm run then uses Workload and its
	// defaults as given, as before the draws existed. Without it, a swarm
	// run draws queue bounds, prefetch, message sizes, slow batches and
	// durability for the fields left at zero, and the receivers' ack style
	// and a dead-letter chain (ackstyle.go).
	FixedWorkload bool
	// BrokerFsyncErrors lets half of the durable broker's disk faults be
	// failed fsyncs (EIO) instead of crashes inside the fsync
	// (brokerdisk.go): the core then leaves the publishes waiting for the
	// fsync unanswered and the broker closes their connections (their
	// outcome is unknown; Core.StorageFailed). Swarm runs draw it for
	// FsyncErrorFraction of their seeds; true forces it.
	BrokerFsyncErrors bool
	// Mutations break one guarantee each. TEST ONLY.
	Mutations Mutations
	// Trace, when set, receives every trace line (--trace).
	Trace io.Writer
	// MaxSteps bounds the events of a run (default 20 million), so a
	// livelock ends as a failure instead of hanging the sweep.
	MaxSteps uint64
}

// Workload describes the clients and the traffic.
type Workload struct {
	Publishers int
	Receivers  int
	// Messages is the total over all publishers.
	Messages int
	// MinBody and MaxBody bound plaintext sizes in bytes.
	MinBody, MaxBody int
	// Prefetch per consumer.
	Prefetch int
	// Window is the publisher's in-flight window.
	Window int
	// ConfirmTimeout is the publisher's first resend timeout.
	ConfirmTimeout time.Duration
	// AckTimeout is every queue's ack timeout.
	AckTimeout time.Duration
	// DeliveryLimit dead-letters a message delivered this often (0: none).
	DeliveryLimit int
	// MaxLength bounds every queue but the dead-letter queue (ready +
	// unacked); a publish beyond it is refused with CodeQueueFull (I6).
	// Default 120 (queues fill while their receiver is down); negative for
	// no bound.
	MaxLength int
	// MaxBytes bounds the body bytes every queue but the dead-letter queue
	// holds (ready + unacked); a publish beyond it is refused with
	// CodeQueueFull. Default 0: no bound (swarm runs draw one for some
	// seeds); negative for no bound.
	MaxBytes int64
	// Durable declares every queue durable: the broker writes a log (the
	// real broker/wal over an in-memory crash-simulating file system),
	// confirms only after its fsync, and a restarted broker restores its
	// queues from it, so nothing it confirmed may be lost to a broker crash.
	Durable bool
	// SlowBatch is the probability that a receiver's batch takes long to
	// process (up to twice the ack timeout: a stalled disk, a long pause),
	// so redeliveries race with processing. Default 0: never (see
	// TestSlowBatchesKeepExactlyOnce for why swarm runs leave it off).
	SlowBatch float64
	// PoisonRate is the fraction of messages whose envelope is tampered
	// with after sealing (one byte flipped): receivers must reject them to
	// the dead-letter queue, never store them (I3). Default 0.01; negative
	// for none.
	PoisonRate float64
	// Heartbeat is the interval clients propose; a peer silent for three
	// intervals is dead.
	Heartbeat time.Duration
	// PublishSpan spreads the publishes over this much virtual time
	// (default: 80% of the safety phase), so they meet the faults.
	PublishSpan time.Duration
	// SessionMessages rotates each publisher's sealing session (and with
	// it the shared prefix its envelopes are published with, see
	// docs/protocol.md §5a) after this many messages. Zero: each publisher
	// draws its own from 2..40, so windows fill and evict in some runs;
	// negative: publish whole envelopes, no prefixes.
	SessionMessages int
	// PlainClients is the fraction of client connections that do not
	// negotiate shared prefixes (default 0.25; negative for none), so
	// prefixed and whole bodies meet in the same queues.
	PlainClients float64
}

// DefaultWorkload is the benchmark workload: 3 publishers, 2 receivers,
// 200 messages.
func DefaultWorkload() Workload {
	return Workload{
		Publishers:     3,
		Receivers:      2,
		Messages:       200,
		MinBody:        1,
		MaxBody:        256,
		Prefetch:       16,
		Window:         32,
		ConfirmTimeout: time.Second,
		AckTimeout:     5 * time.Second,
		DeliveryLimit:  8,
		MaxLength:      120,
		PoisonRate:     0.01,
		Heartbeat:      time.Second,
		PlainClients:   0.25,
	}
}

func (w Workload) withDefaults() Workload {
	d := DefaultWorkload()
	if w.Publishers == 0 {
		w.Publishers = d.Publishers
	}
	if w.Receivers == 0 {
		w.Receivers = d.Receivers
	}
	if w.Messages == 0 {
		w.Messages = d.Messages
	}
	if w.MinBody == 0 {
		w.MinBody = d.MinBody
	}
	if w.MaxBody == 0 {
		w.MaxBody = d.MaxBody
	}
	if w.Prefetch == 0 {
		w.Prefetch = d.Prefetch
	}
	if w.Window == 0 {
		w.Window = d.Window
	}
	if w.ConfirmTimeout == 0 {
		w.ConfirmTimeout = d.ConfirmTimeout
	}
	if w.AckTimeout == 0 {
		w.AckTimeout = d.AckTimeout
	}
	if w.DeliveryLimit == 0 {
		w.DeliveryLimit = d.DeliveryLimit
	}
	if w.MaxLength == 0 {
		w.MaxLength = d.MaxLength
	}
	if w.PoisonRate == 0 {
		w.PoisonRate = d.PoisonRate
	}
	if w.Heartbeat == 0 {
		w.Heartbeat = d.Heartbeat
	}
	if w.PlainClients == 0 {
		w.PlainClients = d.PlainClients
	}
	return w
}

// describe is the settings a swarm seed may draw, for the trace.
func (w Workload) describe() string {
	return fmt.Sprintf("prefetch=%d max-length=%d max-bytes=%d body=%d..%d slow-batch=%v durable=%t",
		w.Prefetch, w.MaxLength, w.MaxBytes, w.MinBody, w.MaxBody, w.SlowBatch, w.Durable)
}

func (w Workload) validate() error {
	switch {
	case w.Publishers < 1 || w.Publishers > 64:
		return fmt.Errorf("%w: %d publishers: use 1..64", ErrInvalidConfig, w.Publishers)
	case w.Receivers < 1 || w.Receivers > 64:
		return fmt.Errorf("%w: %d receivers: use 1..64 (one queue each; the envelope allows 64 recipients)", ErrInvalidConfig, w.Receivers)
	case w.Messages < 0:
		return fmt.Errorf("%w: %d messages: use 0 or more", ErrInvalidConfig, w.Messages)
	case w.MinBody < 1 || w.MaxBody < w.MinBody:
		return fmt.Errorf("%w: body sizes %d..%d: need 1 <= min <= max", ErrInvalidConfig, w.MinBody, w.MaxBody)
	case w.SlowBatch < 0 || w.SlowBatch > 1 || w.PoisonRate > 1:
		return fmt.Errorf("%w: slow batch %v and poison rate %v must be probabilities (poison rate may be negative for none)", ErrInvalidConfig, w.SlowBatch, w.PoisonRate)
	case w.DeliveryLimit < 0 || w.Prefetch < 0 || w.Window < 0:
		return fmt.Errorf("%w: negative delivery limit, prefetch or window", ErrInvalidConfig)
	case w.ConfirmTimeout < 0 || w.AckTimeout < 0 || w.Heartbeat < 0 || w.PublishSpan < 0:
		return fmt.Errorf("%w: negative duration in the workload", ErrInvalidConfig)
	}
	return nil
}

// Mutations are test-only switches that each break one guarantee, so the
// checkers can be shown to notice (docs/architecture.md, "Invariants";
// docs/testing.md, "Mutation proofs"). Never set outside tests.
type Mutations struct {
	// ReceiverNoDedup: the receiver processes a message again although it is
	// already stored (its engine asks no dedup set, the application ignores
	// the store's duplicate verdict).
	ReceiverNoDedup bool
	// BrokerNoDedup: the broker enqueues repeated publishes again.
	BrokerNoDedup bool
	// NoRequeueOnDisconnect: the broker drops the unacked deliveries of a
	// closing connection.
	NoRequeueOnDisconnect bool
	// ConfirmBeforeEnqueue: the broker confirms without enqueueing into
	// queues that have no consumer.
	ConfirmBeforeEnqueue bool
	// AckBeforeFsync: the receiver acks before its record is durable.
	AckBeforeFsync bool
	// BrokerConfirmBeforeFsync: with durable queues, the broker confirms
	// publishes once their records are written to its log, before fsync.
	BrokerConfirmBeforeFsync bool
	// PrefetchIgnored: the broker is asked for four times the prefetch the
	// receiver accounts for, as if it ignored the consumer's limit.
	PrefetchIgnored bool
	// PrefixIDReuse: the broker's sessions bind each new shared prefix to
	// the id of the previous one instead of a new id, as a sender that
	// forgets to advance its window would; the consumers' windows refuse
	// the repeated id (Result.ProtocolViolations).
	PrefixIDReuse bool
	// PrefixRefWrong: the broker's DeliverRefs name the live prefix defined
	// before the right one, which no window check can see; consumers join
	// rests to the wrong header (Result.RejectedIntact).
	PrefixRefWrong bool
	// SkipPublishPermission: the broker's sessions publish without asking
	// the identity for write permission on the exchange; the hostile
	// tenant's denied publishes are confirmed (Result.AccessViolations).
	// Only authenticated runs can see it.
	SkipPublishPermission bool
	// RestoreForgetsDedup: a durable broker restarted from its log does not
	// rebuild its dedup window, so a publish retried after the restart is
	// enqueued again (Result.EnqueuedAgain; the receivers' dedup hides it
	// from the history).
	RestoreForgetsDedup bool
	// TopicHashOneWord: the core binds every "#" of a topic pattern as "*"
	// (Result.Misrouted).
	TopicHashOneWord bool
	// AckMultipleOverreach: the core's Multiple ack settles every delivery
	// outstanding on the connection, beyond the tag named, so deliveries
	// still on their way are acked and lost when the connection drops
	// before they are stored (delivery tags; Report.Lost).
	AckMultipleOverreach bool
	// DeadLetterDrops: the core drops what it should dead-letter
	// (Report.Lost: a copy rejected by the application or past its
	// delivery limit counts as dead-lettered only once drained from the
	// dead-letter queue).
	DeadLetterDrops bool
	// RestoreDropsNewest: a durable broker restored from its log skips the
	// newest message of each queue (persistence and replay; Report.Lost,
	// durable copies are never excused).
	RestoreDropsNewest bool
	// ConnConfirmOffByOne: the publishers' connection engines
	// (engine.Conn, the client library's own) map each Confirm one
	// sequence number too far, so a publish the broker did not confirm
	// (refused, or lost with its connection) is reported confirmed
	// (Report.Lost).
	ConnConfirmOffByOne bool
}

// Calm is a fault-free plan: perfect TCP links, no crashes.
func Calm() faults.Plan {
	return faults.Plan{
		Version: faults.PlanVersion,
		Name:    "calm",
		Phases:  faults.Phases{HealAtMs: 5_000, LivenessBoundMs: faults.DefaultLivenessBoundMs},
	}
}
