package envelope

import "time"

// Metadata is what can be read from an envelope without any private key:
// its format and, for the modern format, who signed the session header and
// for which recipient keys. It never includes plaintext.
type Metadata struct {
	Format Format
	// Err is why the envelope's structure could not be read (nil if it
	// could, or if the format carries no header: seed envelopes).
	Err error
	// Modern format only, from the session header.
	SenderKeyID string // SignerKeyID of the claimed sender key
	// SignatureValid: the header's signature verifies under the sender
	// key it carries. It proves the header was not altered since that key
	// signed it, not that the key is one anybody trusts.
	SignatureValid  bool
	RecipientKeyIDs []string // short ids (KeyID.Short) of the recipient keys
	Counter         uint64   // the message's position in its session
	Created         time.Time
}

// Inspect reads an envelope's metadata. It decrypts nothing.
func Inspect(env []byte) Metadata {
	md := Metadata{Format: Detect(env)}
	if md.Format != FormatSession {
		return md
	}
	e, err := parseSessionEnvelope(env, len(env))
	if err != nil {
		md.Err = err
		return md
	}
	h, err := parseHeader(e.header)
	if err != nil {
		md.Err = err
		return md
	}
	md.SenderKeyID = SignerKeyID(h.sender)
	md.SignatureValid = h.verify() == nil
	for _, en := range h.entries {
		md.RecipientKeyIDs = append(md.RecipientKeyIDs, en.keyID.Short())
	}
	md.Counter = e.counter
	md.Created = h.created
	return md
}
