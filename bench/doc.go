// Package bench is CipherMQ's load generator: it drives a broker (CipherMQ
// in-process or as its own process, RabbitMQ, NATS JetStream) with the same
// reliable workload and reports what it measured.
//
// # Workload
//
// P publishers and C consumers, each on its own connection, share one fresh
// queue made for the run. Every publisher keeps at most Window messages
// awaiting the broker's confirm; a message counts as published only once the
// broker confirmed it. Every consumer acks every message it receives, with at
// most Prefetch unacked. Each message carries a unique id (publisher index
// and sequence number) and the time it was meant to be sent, inside the
// payload, so the run can report lost ids (confirmed, never received) and
// duplicated ids (received more than once); both must be 0.
//
// With Rate set, publishers run open loop on a fixed schedule and latency is
// measured from the intended send time, not from the moment the message
// actually left: a stalled broker then shows as latency instead of silently
// slowing the schedule down (coordinated omission). Because the
// generator's own lateness is charged too, an open-loop publisher paces
// with a precise sleep (pacer_linux.go: locked thread, 1 µs timer slack,
// nanosleep, a 20 µs final spin) and the result reports its send lag
// (actual send start minus intended time) beside the latency.
//
// # Targets
//
// A Target hides one broker's client library behind the same three verbs:
// prepare a fresh queue, publish with a confirm, consume with acks. The
// window and the prefetch are the runner's, so every target gets the same.
// The -durable CipherMQ targets give the broker they start a temporary data
// directory (fsync always, removed on Close) and declare the run's queue
// durable, to stand beside rabbitmq-persistent and nats-file.
//
// # Measurements
//
// Throughput end to end (unique messages received per second from the first
// send to the last receipt) and for publish confirms; latency percentiles
// from a log-linear histogram (HDR-style, under 1% relative error); broker
// CPU and peak RSS from /proc/<pid> of the broker process; the load
// generator's own CPU from /proc/self. Results print as a table for people
// and as JSON lines for machines (Summarize turns many JSON lines into the
// comparison table of bench/compare).
//
// Unlike the broker core, this package is a driver: it starts goroutines and
// reads the clock, because measuring real time is its job.
package bench
