package envelope

import "errors"

// Sentinel errors. Every way an envelope can be refused has its own sentinel so
// that a receiver can count and dead-letter by cause (invariant I3). Errors
// returned by this package wrap one of these with context; test with errors.Is.
var (
	// ErrUnknownFormat: the bytes are neither a seed JSON envelope nor start
	// with the modern magic "CMQ". Usually not an envelope at all.
	ErrUnknownFormat = errors.New("envelope: unknown format (neither seed JSON nor CMQ)")
	// ErrUnknownVersion: the modern magic is present but the format or header
	// version is not one this build understands; upgrade the receiver.
	ErrUnknownVersion = errors.New("envelope: unknown envelope version")
	// ErrUnsupportedSuite: the session header names a KEM/KDF/AEAD combination
	// this build does not accept.
	ErrUnsupportedSuite = errors.New("envelope: unsupported cipher suite")
	// ErrFormatNotAccepted: the envelope is well-formed but this receiver holds
	// no key for its format.
	ErrFormatNotAccepted = errors.New("envelope: format not accepted by this receiver")
	// ErrTruncated: the envelope ends before a field it announces.
	ErrTruncated = errors.New("envelope: truncated")
	// ErrTooLarge: the envelope or plaintext exceeds the configured maximum.
	ErrTooLarge = errors.New("envelope: too large")
	// ErrMalformed: the framing is complete but a field has an impossible value
	// (wrong fixed size, zero counter, trailing bytes in the header...).
	ErrMalformed = errors.New("envelope: malformed")
	// ErrBadJSON: a seed envelope is not one JSON object with the five string
	// fields message_id, enc_session_key, nonce, tag, ciphertext.
	ErrBadJSON = errors.New("envelope: bad seed JSON")
	// ErrBadBase64: a seed envelope field is not standard padded base64.
	ErrBadBase64 = errors.New("envelope: bad base64 in seed envelope")
	// ErrMessageIDMismatch: the id the broker delivered the envelope under is
	// not the id it was sealed for: a replay under a new id, or a broken relay.
	ErrMessageIDMismatch = errors.New("envelope: message id does not match the sealed id")
	// ErrTampered: the payload failed AEAD authentication: ciphertext, tag,
	// nonce, counter or bound data were changed, or the message key is wrong.
	ErrTampered = errors.New("envelope: payload authentication failed (tampered or corrupted)")
	// ErrTamperedHeader: the session header's Ed25519 signature does not verify:
	// the header (recipient entries, session id, time, suite) or the
	// signature itself was changed after the sender signed it.
	ErrTamperedHeader = errors.New("envelope: session header signature invalid (tampered header)")
	// ErrUntrustedSender: the header is signed by an Ed25519 key that is not in
	// this receiver's trust set. Add the sender's public key to trust it.
	ErrUntrustedSender = errors.New("envelope: sender is not trusted")
	// ErrNotRecipient: the envelope carries no wrapped key for this
	// receiver's key id: it was sealed for other recipients (or this is the
	// wrong private key).
	ErrNotRecipient = errors.New("envelope: not sealed for this recipient key")
	// ErrWrongKey: an entry addressed to this receiver exists (modern) or the
	// envelope claims to be for this key (seed) but the session key cannot be
	// unwrapped with the private key held.
	ErrWrongKey = errors.New("envelope: session key cannot be unwrapped with this private key")
	// ErrInvalidMessageID: the message id is empty, too long or not UTF-8.
	ErrInvalidMessageID = errors.New("envelope: invalid message id")
	// ErrInvalidOptions: a constructor was given unusable options.
	ErrInvalidOptions = errors.New("envelope: invalid options")
	// ErrSessionExhausted: the sealer could not start a fresh session (its
	// randomness source failed) after the current one reached its limits.
	ErrSessionExhausted = errors.New("envelope: session exhausted and cannot rotate")
)

// Key file errors.
var (
	// ErrNotPEM: the key file contains no PEM block.
	ErrNotPEM = errors.New("envelope: key file holds no PEM block")
	// ErrWrongPEMType: the PEM block type is not the one expected (for example
	// a public key where a private key is required).
	ErrWrongPEMType = errors.New("envelope: key file has the wrong PEM type")
	// ErrInvalidKey: the PEM block has the right type but its content is not a
	// valid key of the expected kind and size.
	ErrInvalidKey = errors.New("envelope: invalid key material")
	// ErrKeyCorrupted: the key file's key id line names another key than
	// the one the file holds: the file was corrupted or edited.
	ErrKeyCorrupted = errors.New("envelope: key file is corrupted (its key does not match its key id line)")
)
