// Package proxy is a TCP fault proxy for real-process tests, in the spirit
// of Shopify's toxiproxy but in-process and driven from Go.
//
// A Proxy listens on 127.0.0.1 (loopback only: it is a test tool, not a
// network service) and forwards every accepted connection to a target
// address. Each direction, Upstream (client to target) and Downstream
// (target to client), has its own Faults: latency with jitter or any
// faults.Delay distribution, a bandwidth limit, slicing of writes into
// small pieces with a pause between them (to shake out framing code that
// assumes whole frames per read), a probability of resetting the connection
// (a real RST, through SetLinger(0)), a black hole (bytes are read and
// discarded, the connection stays open: a silently dead peer), and a stall
// (bytes stop flowing one way and resume later, as under a partition that
// heals before TCP gives up). CutAll resets every open connection now.
// Everything can be changed while connections are open.
//
// FromPlan and RunPlan apply a faults.Plan's link settings to a proxy, so
// the plan that drives the deterministic simulator also drives a real run.
// The proxy's random choices come from a seeded PCG source (Seed option),
// but real scheduling and real time still make real runs non-deterministic:
// the same seed gives the same sequence of choices, not the same run. Use
// the simulator to replay a failure; use the proxy to confirm it happens on
// real sockets too.
package proxy
