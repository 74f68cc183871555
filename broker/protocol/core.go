package protocol

import (
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Core is the part of *broker.Core a session uses. It is an interface only
// so that the session package can be read and tested on its own; production
// and simulation both pass the real *broker.Core.
type Core interface {
	Open(conn broker.ConnID, now time.Time)
	OpenAs(conn broker.ConnID, owner broker.Owner, now time.Time)
	SetOutboundLimit(conn broker.ConnID, limit int64)
	Writable(conn broker.ConnID, pending int64, now time.Time)
	Close(conn broker.ConnID, now time.Time)

	DeclareExchange(name string, typ broker.ExchangeType) error
	DeclareExchangeAs(owner broker.Owner, name string, typ broker.ExchangeType) error
	DeleteExchange(name string) error
	DeclareQueue(name string, opts broker.QueueOptions) error
	DeclareQueueAs(owner broker.Owner, name string, opts broker.QueueOptions) error
	DeleteQueue(name string, now time.Time) (discarded int, err error)
	QueueExists(name string) bool
	ExchangeExists(name string) bool
	Bind(exchange, queue, key string) error
	BindAs(owner broker.Owner, exchange, queue, key string) error
	Unbind(exchange, queue, key string) error

	Publish(conn broker.ConnID, p *broker.Publish, now time.Time)
	Refuse(conn broker.ConnID, seq uint64, err *broker.Error, now time.Time)
	Consume(conn broker.ConnID, opts broker.ConsumeOptions, now time.Time) (tag string, err error)
	Cancel(conn broker.ConnID, tag string, now time.Time) error
	Ack(conn broker.ConnID, tag uint64, multiple bool, now time.Time) error
	Nack(conn broker.ConnID, tag uint64, multiple, requeue bool, now time.Time) error
	Reject(conn broker.ConnID, tag uint64, now time.Time) error
	NackReason(conn broker.ConnID, tag uint64, multiple, requeue bool, reason wire.RejectReason, now time.Time) error
	RejectReason(conn broker.ConnID, tag uint64, reason wire.RejectReason, now time.Time) error
	Fetch(conn broker.ConnID, queue string, now time.Time) (broker.Delivery, bool, error)

	Stats() broker.Stats
	StatsSummary() broker.Stats
	EachQueue(after string, fn func(broker.QueueStats) bool)
	EachExchange(after string, fn func(broker.ExchangeStats) bool)
	Usage(user string) broker.Usage
	EachVhostQueue(vhost, after string, fn func(broker.QueueStats) bool)
	EachVhostExchange(vhost, after string, fn func(broker.ExchangeStats) bool)
}
