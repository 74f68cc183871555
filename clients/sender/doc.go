// Package sender is the publishing loop behind `ciphermq send` (and the
// demo): it takes plaintexts from a Source, seals each for its recipients,
// publishes it with confirms through a window, and counts how every message
// ended.
//
// It is its own package rather than a file of clients because it composes
// two packages clients does not know about (envelope, for sealing, and the
// scenario checker's event model, for the report) and because it is an
// application-level loop, not part of the protocol client: clients gives one
// Publisher and its Confirm futures; sender decides ids, order of events and
// what a run's summary is.
//
// # Life of one message
//
//  1. The Source yields the plaintext (a copy is not kept).
//  2. The IDs function names it (random UUIDs by default; Sequential gives
//     "prefix-N" so a restarted sender can continue a sequence).
//  3. Observer.Attempt sees it before a single byte goes to the broker. The
//     report (NewReport) writes its attempt line there and the write reaches
//     the operating system before Publish is called, so a sender killed at
//     any point leaves every published message in its report, its outcome
//     "unknown" if the kill came first.
//  4. It is sealed and published; Publish blocks while the window is full.
//  5. Its Confirm resolves (confirmed, duplicate, refused, or unconfirmed
//     when the publisher gave up) and Observer.Resolved sees it. Confirms
//     are read in publish order, after each publish and while waiting for
//     the last ones, so an outcome is reported soon after it arrives but
//     never before the outcomes of earlier messages.
//
// Run reads the clock only through Options.Now and draws randomness only
// from Options.Rand, so tests can fix both. It starts no goroutines of its
// own (the connection has its own).
//
// # Indeterminate refusals
//
// A refusal of a message the library sent more than once (after a
// reconnect or a confirm timeout) answers only the last attempt: an earlier
// one may have been stored if the broker's dedup window no longer knew the
// id (clients.IsIndeterminate). The report writes such a refusal as
// internal/check's "indeterminate" outcome, not "refused", and the Summary
// counts it in Indeterminate rather than Refused.
package sender
