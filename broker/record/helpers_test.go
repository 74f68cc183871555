package record

import (
	"fmt"
	"time"
)

// testMaxRecordSize is the store's default record size limit.
const testMaxRecordSize = 16<<20 + 64<<10

func publish(seq uint64, body string, queues ...string) Record {
	r := Record{Type: RecPublish, Seq: seq, MessageID: fmt.Sprintf("id-%d", seq), Exchange: "ex", Key: "k", Body: []byte(body)}
	for _, q := range queues {
		r.Targets = append(r.Targets, Target{Queue: q})
	}
	return r
}

// sampleRecords has one record of every type (the store's tests keep the
// same list for their replay tests).
func sampleRecords() []Record {
	return []Record{
		{Type: RecDeclareExchange, Exchange: "orders", ExchangeType: 3},
		{Type: RecDeclareQueue, Queue: "q1", QueueOptions: QueueOptions{MaxLength: 10, MaxBytes: 1 << 20, AckTimeout: 30 * time.Second, DeliveryLimit: 5, DeadLetterQueue: "dlq"}},
		{Type: RecDeclareQueue, Queue: "dlq"},
		{Type: RecDeclareQueue, Queue: "q3", QueueOptions: QueueOptions{Discard: true}},
		{Type: RecBind, Exchange: "orders", Queue: "q1", Key: "eu.#"},
		{Type: RecPublish, Seq: 7, MessageID: "m-7", Exchange: "orders", Key: "eu.de", Body: []byte("hello"), Targets: []Target{{Queue: "q1", Deliveries: 2}, {Queue: "q2"}}},
		{Type: RecDelivered, Seq: 7, Queue: "q1"},
		{Type: RecSettle, Seq: 7, Queue: "q2", Outcome: DeadLettered},
		{Type: RecDedup, MessageID: "m-7", Time: -42},
		{Type: RecUnbind, Exchange: "orders", Queue: "q1", Key: "eu.#"},
		{Type: RecDeleteQueue, Queue: "dlq"},
		{Type: RecDeleteExchange, Exchange: "orders"},
	}
}
