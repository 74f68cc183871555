// Package faults describes what goes wrong in a test run: which links drop,
// duplicate, reorder, delay or break frames; which nodes are partitioned from
// which, and when; which processes crash and for how long; how often a
// simulated disk dies in the middle of an fsync; and when all of that stops.
//
// A Plan is data only. It is read from and written to JSON (docs/faults.md is
// the file format), validated with errors that name the offending field, and
// applied by others: the deterministic simulator (package sim) applies it to
// its virtual links, disks and nodes; package faults/proxy applies its link
// settings to real TCP connections. The same plan therefore drives a
// seed-replayable simulation and a real-process run.
//
// Runs have two phases, as in TigerBeetle's VOPR. During the safety phase
// (virtual time 0 up to Phases.HealAtMs) every fault in the plan may fire and
// the safety invariants must hold regardless. At HealAtMs faults stop,
// partitions heal (except those marked Forever), crashed nodes restart, and
// the liveness phase begins: within Phases.LivenessBoundMs every confirmed
// message must be processed and every pending publish must resolve.
//
// Plans come from three places: hand-written JSON files for named scenarios,
// Swarm, which draws a different "weather" per seed (which faults are on and
// how strong), and Gen, a rapid generator whose every choice is a Draw so a
// failing plan shrinks to a minimal one.
//
// Nothing in this package reads the clock or global randomness: every random
// sample takes the caller's *rand.Rand.
package faults
