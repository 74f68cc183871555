package wal

import (
	"hash/crc32"

	"github.com/ciphermq/ciphermq/broker/record"
)

// The durable log's record vocabulary and codec live in broker/record, a
// leaf package the broker core can import without pulling in file I/O.
// These aliases keep the store's own names.

type (
	RecordType    = record.RecordType
	Outcome       = record.Outcome
	QueueOptions  = record.QueueOptions
	Target        = record.Target
	Record        = record.Record
	Exchange      = record.Exchange
	Queue         = record.Queue
	Binding       = record.Binding
	DedupEntry    = record.DedupEntry
	MessageRef    = record.MessageRef
	QueueMessages = record.QueueMessages
	Message       = record.Message
	Damage        = record.Damage
	Recovered     = record.Recovered
)

const (
	RecDeclareExchange = record.RecDeclareExchange
	RecDeleteExchange  = record.RecDeleteExchange
	RecDeclareQueue    = record.RecDeclareQueue
	RecDeleteQueue     = record.RecDeleteQueue
	RecBind            = record.RecBind
	RecUnbind          = record.RecUnbind
	RecPublish         = record.RecPublish
	RecDelivered       = record.RecDelivered
	RecSettle          = record.RecSettle
	RecDedup           = record.RecDedup

	Acked        = record.Acked
	Discarded    = record.Discarded
	DeadLettered = record.DeadLettered
)

// AppendRecord encodes r at the end of dst (record.AppendRecord).
func AppendRecord(dst []byte, r *Record) ([]byte, error) { return record.AppendRecord(dst, r) }

// DecodeRecord decodes one record (record.DecodeRecord).
func DecodeRecord(b []byte, maxSize int) (Record, int, error) { return record.DecodeRecord(b, maxSize) }

const headerSize = record.HeaderSize

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func decodeRecord(b []byte, maxSize int, copyBody bool) (Record, int, error) {
	if copyBody {
		return record.DecodeRecord(b, maxSize)
	}
	return record.DecodeRecordAliased(b, maxSize)
}
