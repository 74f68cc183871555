package ops

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/server"
)

// Collector is the one Prometheus collector of the broker: at each scrape
// it reads the broker's stats (Source) and turns them into constant
// metrics, so nothing is registered per queue and a deleted queue's series
// are simply absent from the next scrape. The aggregated form (/metrics)
// sums the queues and adds the broker-wide figures; the per-object form
// (/metrics/per-object) has one series per queue, labelled vhost and queue
// only. Names mirror RabbitMQ's (docs/operations.md has the mapping).
type Collector struct {
	src       Source
	perObject bool
}

// NewCollector returns the aggregated (perObject false) or per-queue
// collector over src.
func NewCollector(src Source, perObject bool) *Collector {
	return &Collector{src: src, perObject: perObject}
}

const ns = "ciphermq"

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(ns+"_"+name, help, labels, nil)
}

// queueMetric is one per-queue figure: a gauge or a counter.
type queueMetric struct {
	name, help string
	counter    bool
	get        func(*broker.QueueStats) float64
}

var queueMetrics = []queueMetric{
	{"queue_messages_ready", "Messages ready to be delivered.", false, func(q *broker.QueueStats) float64 { return float64(q.Ready) }},
	{"queue_messages_unacked", "Messages delivered and not yet acknowledged.", false, func(q *broker.QueueStats) float64 { return float64(q.Unacked) }},
	{"queue_messages_bytes", "Body bytes of the ready and unacknowledged messages.", false, func(q *broker.QueueStats) float64 { return float64(q.Bytes) }},
	{"queue_consumers", "Consumers.", false, func(q *broker.QueueStats) float64 { return float64(q.Consumers) }},
	{"queue_messages_published_total", "Messages enqueued by publishes.", true, func(q *broker.QueueStats) float64 { return float64(q.Published) }},
	{"queue_messages_duplicates_total", "Duplicate publishes (inside the dedup window) that routed here; not enqueued again.", true, func(q *broker.QueueStats) float64 { return float64(q.Duplicates) }},
	{"queue_messages_delivered_total", "Delivery attempts, push and fetch, redeliveries included.", true, func(q *broker.QueueStats) float64 { return float64(q.Delivered) }},
	{"queue_messages_redelivered_total", "Delivery attempts that were redeliveries.", true, func(q *broker.QueueStats) float64 { return float64(q.Redelivered) }},
	{"queue_messages_acked_total", "Messages settled by an acknowledgement.", true, func(q *broker.QueueStats) float64 { return float64(q.Acked) }},
	{"queue_messages_dead_lettered_total", "Messages moved to the queue's dead-letter queue.", true, func(q *broker.QueueStats) float64 { return float64(q.DeadLettered) }},
	{"queue_messages_discarded_total", "Messages dropped at their delivery limit with no dead-letter queue, or a full one.", true, func(q *broker.QueueStats) float64 { return float64(q.Discarded) }},
	{"queue_messages_refused_total", "Publishes refused because this queue was full.", true, func(q *broker.QueueStats) float64 { return float64(q.Refused) }},
	{"queue_messages_dead_letter_in_total", "Messages received as a dead-letter queue.", true, func(q *broker.QueueStats) float64 { return float64(q.DeadLetterIn) }},
}

// Descriptors, built once.
var (
	perQueueDescs = func() []*prometheus.Desc {
		ds := make([]*prometheus.Desc, len(queueMetrics))
		for i, m := range queueMetrics {
			ds[i] = desc(m.name, m.help, "vhost", "queue")
		}
		return ds
	}()
	aggQueueDescs = func() []*prometheus.Desc {
		ds := make([]*prometheus.Desc, len(queueMetrics))
		for i, m := range queueMetrics {
			help := m.help + " Sum over every queue"
			if m.counter {
				help += ", deleted queues included."
			} else {
				help += "."
			}
			ds[i] = desc(m.name, help)
		}
		return ds
	}()

	queuesDesc         = desc("queues", "Queues.")
	exchangesDesc      = desc("exchanges", "Exchanges.")
	bindingsDesc       = desc("bindings", "Bindings.")
	connectionsDesc    = desc("connections", "Open client connections.")
	consumersDesc      = desc("consumers", "Consumers.")
	confirmedDesc      = desc("global_messages_confirmed_total", "Publish confirms released to publishers, duplicates included.")
	duplicatesDesc     = desc("global_messages_duplicates_total", "Publishes confirmed as duplicates of a message inside the dedup window.")
	refusedDesc        = desc("global_messages_refused_total", "Publishes refused, by reason.", "reason")
	memoryDesc         = desc("memory_used_bytes", "Memory the broker holds for clients: messages, prefixes, dedup ids, topology and connection buffers (the figure the memory budget watches).")
	memoryHighDesc     = desc("memory_high_watermark_bytes", "Memory budget: above it publishers are blocked (0: no budget).")
	memoryLowDesc      = desc("memory_low_watermark_bytes", "Below it blocked publishers resume.")
	memoryAlarmDesc    = desc("alarms_memory_used_watermark", "1 while the memory alarm blocks publishers.")
	dedupIDsDesc       = desc("dedup_ids", "Message ids remembered for deduplication.")
	dedupWindowDesc    = desc("dedup_window_seconds", "Configured deduplication window (0: off).")
	dedupEffectiveDesc = desc("dedup_window_effective_seconds", "How far back deduplication reaches now: the window, or less when a user's id limit evicts ids before they age out.")
	logBytesDesc       = desc("durable_log_bytes", "Bytes of the durable log's segments.")
	fsyncDesc          = desc("durable_fsync_seconds", "Duration of the durable log's fsyncs.")
	confirmLatDesc     = desc("publish_confirm_latency_seconds", "From reading a publish (native protocol) to releasing its confirm or refusal, fsync included for durable queues.")
	deliverLatDesc     = desc("publish_deliver_latency_seconds", "From reading a publish (native protocol; one read with publishes in 16 sampled) to handing its first delivery to a consumer's connection.")
)

// Describe sends every descriptor the collector may emit.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	if c.perObject {
		for _, d := range perQueueDescs {
			ch <- d
		}
		return
	}
	for _, d := range aggQueueDescs {
		ch <- d
	}
	for _, d := range []*prometheus.Desc{
		queuesDesc, exchangesDesc, bindingsDesc, connectionsDesc, consumersDesc, confirmedDesc,
		duplicatesDesc, refusedDesc, memoryDesc, memoryHighDesc, memoryLowDesc, memoryAlarmDesc,
		dedupIDsDesc, dedupWindowDesc, dedupEffectiveDesc, logBytesDesc, fsyncDesc, confirmLatDesc, deliverLatDesc,
	} {
		ch <- d
	}
}

// Collect reads the broker and sends the metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	if c.perObject {
		c.src.EachQueue(func(q broker.QueueStats) bool {
			vhost, name := broker.SplitQualified(q.Name)
			for i, m := range queueMetrics {
				ch <- prometheus.MustNewConstMetric(perQueueDescs[i], valueType(m.counter), m.get(&q), vhost, name)
			}
			return true
		})
		return
	}
	m := c.src.Metrics()
	// Counters: the deleted queues' plus the live ones', so a sum never
	// goes back when a queue is deleted. Gauges: the live queues only
	// (DeletedQueues has zero gauges).
	sum := make([]float64, len(queueMetrics))
	for i, qm := range queueMetrics {
		sum[i] = qm.get(&m.DeletedQueues)
	}
	c.src.EachQueue(func(q broker.QueueStats) bool {
		for i, qm := range queueMetrics {
			sum[i] += qm.get(&q)
		}
		return true
	})
	for i, qm := range queueMetrics {
		ch <- prometheus.MustNewConstMetric(aggQueueDescs[i], valueType(qm.counter), sum[i])
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	st := &m.Stats
	gauge(queuesDesc, float64(st.QueueCount))
	gauge(exchangesDesc, float64(st.ExchangeCount))
	gauge(bindingsDesc, float64(st.Bindings))
	gauge(connectionsDesc, float64(st.Connections))
	gauge(consumersDesc, float64(st.Consumers))
	counter(confirmedDesc, m.Confirmed)
	counter(duplicatesDesc, st.Duplicates)
	for reason, n := range m.Refused {
		counter(refusedDesc, n, reason)
	}
	gauge(memoryDesc, float64(m.Memory))
	gauge(memoryHighDesc, float64(m.MemoryHigh))
	gauge(memoryLowDesc, float64(m.MemoryLow))
	alarm := 0.0
	if m.MemoryAlarm {
		alarm = 1
	}
	gauge(memoryAlarmDesc, alarm)
	gauge(dedupIDsDesc, float64(st.DedupIDs))
	gauge(dedupWindowDesc, float64(st.DedupWindowMs)/1000)
	gauge(dedupEffectiveDesc, float64(st.DedupEffectiveWindowMs)/1000)
	if m.Durable {
		gauge(logBytesDesc, float64(m.LogBytes))
		ch <- histogram(fsyncDesc, m.Fsync)
	}
	ch <- histogram(confirmLatDesc, m.ConfirmLatency)
	ch <- histogram(deliverLatDesc, m.DeliverLatency)
}

func valueType(counter bool) prometheus.ValueType {
	if counter {
		return prometheus.CounterValue
	}
	return prometheus.GaugeValue
}

// histogram turns a server histogram (per-bucket counts) into a constant
// Prometheus one (cumulative counts).
func histogram(d *prometheus.Desc, h server.Histogram) prometheus.Metric {
	buckets := make(map[float64]uint64, len(server.LatencyBounds))
	var cum uint64
	for i, le := range server.LatencyBounds {
		if i < len(h.Counts) {
			cum += h.Counts[i]
		}
		buckets[le] = cum
	}
	return prometheus.MustNewConstHistogram(d, h.Count, h.Sum, buckets)
}
