// Package realworld runs named fault scenarios against real processes: the
// real broker (`ciphermq server` as a subprocess), real receivers (`ciphermq
// recv`) and real senders (`ciphermq scenario sender`, a small publisher
// that records every attempt and outcome), with the TCP fault proxy of
// package faults/proxy between every client and the broker. At the end the
// senders' reports and the receivers' output files become one
// internal/check history, and the same checker that judges the simulator
// judges the run.
//
// # Shape of a run
//
// Every scenario is a flow in phases:
//
//  1. setup: a fresh directory, key files from `ciphermq keygen`, the broker
//     on a free loopback port (waited for with a deadline), one fault proxy
//     per client, the receivers started and consuming;
//  2. safety: the senders publish at a steady rate while the scenario
//     injects its faults (proxy settings, SIGKILLs, a broker restart),
//     triggered by the senders' progress, not by the clock;
//  3. liveness: every fault removed, crashed processes restarted; the
//     senders must resolve every publish and the receivers must process
//     every confirmed message before a deadline;
//  4. verdict: receivers stopped with SIGTERM, histories read, the checker
//     run. A scenario passes only with a clean report: nothing lost,
//     unexpected, duplicated, corrupted, out of order (where order is
//     promised) or pending.
//
// A scenario may also fail on its own terms when its fault never bit (no
// reset happened, no reconnect was needed): a green run that tested nothing
// would be worse than a red one.
//
// # What the history is made of
//
// The sender writes its report before it publishes (the attempt) and as each
// confirm resolves (the outcome), one write per line, so a SIGKILL leaves at
// most a torn last line and never a publish without its attempt. A killed
// sender's unresolved attempts are recorded as abandoned: their outcome is
// unknown for ever, and the checker counts such a message as recovered if
// it arrives, never as lost if it does not. The receivers' output files are
// their dedup records, so what they hold is exactly what was processed.
//
// For the broker restart the checker must know what the broker held when it
// died. Queues are in memory, so the scenario makes that knowable: the
// receiver is killed first, the sender finishes (every publish resolved),
// and then the held copies are exactly the confirmed ones the receiver's
// file does not hold.
//
// Real runs are not deterministic: the seed fixes the plaintexts, the fault
// proxy's random choices and the kill points (as progress thresholds), not
// the scheduling. Use the simulator (package sim) to replay a failure bit for
// bit; use these scenarios to show it happens on real sockets and processes.
package realworld
