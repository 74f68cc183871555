// Package server is the production driver of the broker: it owns the TCP
// listener, one reader and one writer goroutine per connection, real time
// and timers, and the single mutex that serialises every call into the
// deterministic core (package broker) and the protocol sessions (package
// session). It contains no protocol logic of its own, and the loop that
// routes between the core, the sessions and the durable log is
// broker/driver's, so the simulator, which drives the same core, sessions
// and loop, tests the same behaviour.
//
// # Data path
//
// A connection's reader goroutine reads whatever the socket has (up to the
// buffer), and under the mutex feeds all of it to the connection's session;
// the driver loop (package broker/driver, shared with the simulator) drains
// the core's effects and routes each to the session of its connection and
// the durable log's records to the log, then the server wakes the writers of
// every connection that got output.
// A writer takes its session's whole pending output and writes it with one
// Write, outside the mutex, then reports the write back. So a batch of
// pipelined frames becomes one batch of replies and one write.
//
// # Flow control
//
// When a connection's unwritten output exceeds Config.OutboundBufferBytes,
// its reader stops reading until the writer has drained it: a publisher that
// outruns its confirms is throttled by TCP, and consumers are bounded by
// their prefetch in the core.
//
// # Time
//
// Timers never run logic themselves: the core's NextDeadline and every
// session's NextDeadline arm one time.Timer each, whose callback takes the
// mutex and calls Tick with the current time.
//
// # Lock order
//
// Server.mu is the only lock that guards core and session state. Socket
// reads and writes happen outside it. No other lock is taken while it is
// held, except the channel sends used to wake goroutines, which never
// block (buffered, capacity 1).
package server
