// Package envelope implements CipherMQ's end-to-end encryption: the broker
// only ever sees the envelopes this package makes, never plaintext or
// private keys.
//
// Two formats exist, both behind the format-neutral Sealer and Opener
// interfaces:
//
//   - seed: the reference CipherMQ JSON envelope, byte-compatible in both
//     directions with the reference Python clients (RSA-2048 OAEP-SHA1 wraps
//     a fresh AES-128-GCM key per message). It has no sender authentication
//     and does not bind the message id; it exists for interoperability.
//   - cmq1 (FormatSession, the default): a sender session whose random
//     32-byte key is wrapped with HPKE (RFC 9180; MLKEM768-X25519,
//     HKDF-SHA256, AES-256-GCM) for each recipient, in a header signed with
//     the sender's Ed25519 key. Every message is AES-256-GCM under a key
//     derived from the session key, with the per-session counter as nonce and
//     the header hash, counter and message id as associated data. Every
//     envelope carries the signed header, so any receiver instance can open
//     it after restarts and redeliveries; receivers cache verified sessions,
//     so the steady-state cost per message is one AES-GCM operation.
//
// Determinism: nothing here starts goroutines or reads the clock (every
// time is a parameter), and every random byte the package itself draws comes
// from the io.Reader in its options. Go's crypto/hpke draws encapsulation
// randomness from the process CSPRNG, and rsa.GenerateKey ignores its reader;
// docs/envelope.md says exactly what replays and how tests make the rest
// replay with testing/cryptotest.SetGlobalRandom.
//
// Sealers and openers are not safe for concurrent use; give each goroutine
// its own or serialise access.
//
// The byte layouts, key files and threat model are in docs/envelope.md.
package envelope
