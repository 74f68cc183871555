// Package access decides who may do what on the broker: users, their tags,
// per-virtual-host permissions in RabbitMQ's model (three regular
// expressions, configure, write and read, plus a deny list that wins over
// any grant), per-user limits, and password hashes (argon2id, PHC strings).
//
// It is a core-level package: pure functions and values, no sockets, files,
// clocks, goroutines or global randomness. Reading and writing the users
// file and running the (expensive) password verification on a bounded
// worker pool belong to the driver (broker/server); the protocol sessions
// (broker/protocol) hold an Identity fixed at the handshake and ask it
// before every command, so a denied command never reaches the core.
package access
