// Package driver is the broker's driver loop: the one piece of logic that
// both drivers, broker/server (TCP, goroutines, real timers and files) and
// sim (one goroutine, a virtual clock, simulated links and disks), run
// between the transport and the cores.
//
// A Loop owns the per-step bookkeeping that used to be written twice:
//
//   - the registry of connections and their sessions (broker/protocol);
//   - feeding a connection's bytes to its session and marking it touched;
//   - draining the core's outbox until it is empty, routing each effect to
//     its connection's session (HandleEffect) in the order the core emitted
//     them, and batching the EffectPersist records of one drain into one
//     Log.Append;
//   - the durable log's confirm release: the last token appended, release
//     on write (fsync interval policy), Synced after a group commit, and
//     StorageFailed;
//   - after routing, telling the host once per touched connection (Ready)
//     that its session may have output, a new deadline or be closed;
//   - connection teardown: Close detaches the session from the core (its
//     unacked deliveries requeue, in bounded steps for a large connection),
//     routes what the core emits for the closing connection to its closed
//     session, and forgets the connection only when the outbox is empty;
//   - timers: TickCore, Conn.Tick and TickSessions run what is due, and
//     NextDeadline is the earliest instant the core or a session needs a
//     Tick. A chunked teardown keeps the core's deadline at "now" until it is
//     done, so a host that re-arms after every Settle continues it.
//
// A Loop is a core (internal/layering): it starts no goroutine, reads no
// clock, touches no socket or file. Time is an argument; the transport, the
// disk and observation (metrics, traces) belong to the host, which the loop
// reaches through two small interfaces the host passes in: Host (Effect and
// Ready) and Log (Append). It is not safe for concurrent use: the host
// serialises every call (the server under its mutex, the simulator on its
// one goroutine).
//
// The rule of the loop: a step (Feed, EndOfInput, Wrote, Tick*, Shutdown,
// PasswordChecked, Close, Synced, StorageFailed, or any call the host made on
// the core) records what changed; Settle(now) then routes everything until
// the loop is quiet. A host callback may take further steps (the simulator
// writes a connection's output and closes it from Ready); the running Settle
// routes what they produce before it returns, and a Settle called from
// inside a callback does nothing.
//
//	c := loop.Open(id, protocol.NewNative(core, id, cfg, now), hostConn)
//	loop.Settle(now)
//	n, err := c.Feed(bytes, now)  // then keep in[n:] for the next Feed
//	loop.Settle(now)              // Host.Effect per effect, Log.Append per drain, Host.Ready per touched connection
//	out := c.Session().Output()   // in Ready, or later in a writer
//	c.Wrote(len(out), now)
//	loop.Settle(now)
package driver
