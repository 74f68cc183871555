// Package protocol holds the per-connection protocol logic of the broker: the
// native binary protocol (Native) and the reference text protocol (Text).
//
// A session is a pure, deterministic state machine in the style of
// etcd-io/raft's RawNode. It owns no socket, starts no goroutine, reads no
// clock and arms no timer. The driver (broker/server over TCP, or the sim
// package over simulated links) owns all of that and talks to a session
// through a small loop:
//
//	n, err := s.Feed(inbound, now)      // parse and handle every complete frame/line
//	for _, e := range core.Drain() {     // the driver routes each core effect
//		sessionOf(e.Conn).HandleEffect(e, now)
//	}
//	out := s.Output()                    // bytes to write (may be empty)
//	... write out ...
//	s.Wrote(len(out), now)               // those bytes reached the transport
//	if t, ok := s.NextDeadline(); ok {   // call s.Tick(t) when t arrives
//	}
//	if closed, why := s.Closed(); closed { /* flush Output, then close */ }
//
// After every call into a session (Feed, HandleEffect, Tick, Wrote) the
// driver re-reads Output, NextDeadline and Closed: any of them may change.
// Both drivers run this loop through package broker/driver (Loop.Settle),
// written once.
// When the transport goes away the driver calls Close(now), which detaches
// the connection from the core so its unacked deliveries requeue.
//
// The core is shared by all sessions of one broker and is not safe for
// concurrent use; the driver serialises every call (one mutex, or one owner
// goroutine). Sessions never call core.Drain themselves: effects may belong
// to other connections, so routing them is the driver's job.
//
// Text protocol pacing. The reference Receiver treats every recv(1024) as one
// line, so two server lines that reach its socket together lose a message
// (docs/protocol.md, seed protocol §6). A Text session therefore keeps at most
// one unacked push in flight, writes a push alone (Output never returns a push
// together with other bytes), and waits a quiet gap after the last write
// before the next push. The gap is a deadline (NextDeadline), never a sleep.
package protocol
