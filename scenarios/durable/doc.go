// Package durable proves durable queues against a broker that really dies:
// a publisher and a consumer (native protocol, written here against
// broker/wire so that the test depends on nothing but the wire format)
// run while the broker is killed with SIGKILL at random points of their
// progress and restarted on the same data directory. Their history goes
// to the same checker as the simulator's (internal/check) with the queue
// declared durable, so no broker restart excuses anything: every
// confirmed message must be processed.
//
// The broker is behind an interface (Broker) so that the same loop runs
// against a subprocess (ProcessBroker, the ginkgo spec in this package)
// and can run against a container.
package durable
