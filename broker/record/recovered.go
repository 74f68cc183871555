package record

import "fmt"

// Exchange is a durable exchange.
type Exchange struct {
	Name string
	Type uint8 // broker.ExchangeType's number
}

// Queue is a durable queue with the options it was declared with.
type Queue struct {
	Name    string
	Options QueueOptions
}

// Binding binds a durable queue to an exchange with a key.
type Binding struct {
	Exchange, Queue, Key string
}

// DedupEntry is one message id of the dedup window and when it was accepted.
type DedupEntry struct {
	ID   string
	Time int64 // unix nanoseconds
}

// MessageRef names a live message of a queue; Store.ReadMessage returns its
// contents. Deliveries > 0 means it was delivered before the restart (and
// may have been processed): the core marks it redelivered.
type MessageRef struct {
	Seq        uint64
	Deliveries uint32
}

// QueueMessages are the live messages of one queue in enqueue order.
type QueueMessages struct {
	Queue    string
	Messages []MessageRef
}

// Message is a stored message's contents.
type Message struct {
	Seq        uint64
	ID         string
	Exchange   string
	RoutingKey string
	Body       []byte
	// Reason is the dead-letter reason of the copy (Record.Reason).
	Reason uint8
}

// Damage is a torn or corrupt tail that recovery cut off. Whatever it held
// was never durable under SyncAlways (a record is confirmed only after the
// fsync that covers it), so cutting it loses nothing that was confirmed.
type Damage struct {
	Segment string
	Offset  int64 // where the first bad byte is
	Dropped int64 // bytes cut off
	Reason  string
}

func (d Damage) String() string {
	return fmt.Sprintf("segment %s: %d bytes cut at offset %d (%s)", d.Segment, d.Dropped, d.Offset, d.Reason)
}

// Recovered is what Open rebuilt from the log.
type Recovered struct {
	Exchanges []Exchange      // by name
	Queues    []Queue         // by name
	Bindings  []Binding       // by exchange, queue, key
	Messages  []QueueMessages // by queue name, each in Seq order
	Dedup     []DedupEntry    // by time
	// NextSeq is the first message sequence number not used yet.
	NextSeq uint64
	// Records is the number of records replayed.
	Records int
	// Orphans counts delivered/settle records whose message was already
	// gone (normal after compaction deleted the segment it was in).
	Orphans int
	// Damage lists the tails that were cut off; empty on a clean start.
	Damage []Damage
}
