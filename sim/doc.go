// Package sim is CipherMQ's deterministic simulator: the second driver of
// the broker core and the client engines (the first is the real server).
//
// # One seed, one run
//
// A World holds a virtual clock (nanoseconds since a fixed Epoch), one event
// queue ordered by (virtual time, insertion sequence) and one PCG generator
// seeded from the run's seed. Everything random — fault decisions, the
// workload, delays, TCP segment cut points, crash timing, and the bytes
// handed to the envelope code as its randomness — is drawn from that one
// generator, in the order the single-threaded event loop asks for it. There
// are no goroutines, no wall-clock reads and no map iteration where order
// matters. So a seed and a fault plan replay a run exactly, and the run's
// trace hash proves it.
//
// # What runs inside
//
// The simulator never re-implements what it tests. The broker node is the
// real broker core plus one real protocol session per connection, driven by
// the server's own driver loop (broker/driver: routing effects, the durable
// log's appends and confirm release, teardown, timers); the
// publisher and receiver nodes run the real client engines (engine.Conn, the
// client library's own connection engine, with its publisher and consumer
// engines), and the receiver
// keeps its output in the real store over a simulated Disk. Every byte
// between nodes is produced and parsed by the real codecs of broker/wire,
// carried by a Link:
//
//   - LinkTCP: bytes in order, cut into random segments so framing is
//     exercised, until the connection breaks; what was in flight is lost and
//     each end learns of the break after its own delay.
//   - LinkDatagram: each frame travels alone and may be dropped, duplicated
//     or reordered; the handshake is delivered reliably.
//
// Partitions (symmetric or one-way) follow a schedule. A partitioned TCP
// connection breaks (its retransmissions cannot get through); a partitioned
// datagram link drops what travels the blocked way.
//
// # Authenticated runs
//
// With Config.Auth (drawn for AuthFraction of swarm seeds) the broker has a
// users database, every client logs in with PLAIN as its own user (the
// broker node verifies each password the sessions hand out and answers
// after a virtual delay from the seed), and a hostile tenant with its own
// user tries every operation it is denied (each must be refused with code
// 601: Result.AccessViolations), taps and jams within its grants, and
// pre-publishes the honest publishers' future message ids. See hostile.go.
//
// # Hostile load
//
// With Config.HostileLoad (LoadSwarm draws it for LoadFraction of swarm
// seeds, LoadOn forces it; off by default) a hostile-load node runs issue
// #11's attacks on its own objects: adversarial topic bindings and long
// keys, a fanout to many queues, hundreds of consumers then a close, stats
// bursts, a greedy consumer that never acks, floods. The broker node feeds
// its connections one frame at a time and checks each command's cost in the
// core (Core.WorkMeter) against a bound computed from that command's own
// input (Result.LoadViolations), and every Tick against one core call's
// bound. See load.go.
//
// The broker runs with a teardown budget of 16 steps per call
// (simTeardownStep), so that a closing receiver holding more than a few
// deliveries is torn down over several Ticks (broker/teardown.go) while the
// other clients keep working: the checkers see its messages come back in
// steps (coverage point chunked-teardown).
//
// # Durable queues
//
// With Workload.Durable the broker node writes the real broker/wal log
// over wal.MemFS (which survives incarnations), fsyncs in group commits,
// releases confirms through Core.Persisted, and restores itself with
// broker.Restore after a power loss.
//
// # Crashes and disks
//
// A Disk buffers writes until Sync. A crash keeps only synced bytes, perhaps
// plus a torn prefix of the last unsynced write; an fsync may fail (nothing
// becomes durable) or the process may crash inside it. A restarted receiver
// rebuilds its store from what the disk kept.
//
// # A run
//
// Run builds a broker, publishers and receivers from Config (seed, fault
// plan or swarm, workload, test-only mutations), runs the safety phase with
// the plan's faults, heals at the plan's heal time (faults stop, partitions
// heal except those marked forever, crashed nodes restart), and runs the
// liveness phase until every publisher in the liveness core has resolved
// everything and every queue consumed from the core is drained, or the
// liveness bound passes. The history goes to internal/check; Result holds
// the report, the simulator's own findings (enqueued twice, prefetch
// exceeded, not converged), the "sometimes" coverage, stats and the trace
// hash. Sweep runs many seeds, in parallel if asked (runs share nothing).
// docs/testing.md explains how to read a failure and replay it.
//
// # The trace and its hash
//
// Each event that matters becomes one compact line ("t=1200 p1 publish
// seq=3 id=p1-3"); the SHA-256 of all lines is the trace hash. Bodies appear
// by the digest of their plaintext, never by ciphertext, because the modern
// envelope's KEM step draws from crypto/rand inside the standard library and
// cannot be seeded outside tests: ciphertext bytes differ between runs, but
// nothing the simulator decides depends on them, so the trace does not.
package sim
