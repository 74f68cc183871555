package engine

// Prefix is an immutable leading part shared by the bodies of many
// messages: the signed session header of cmq1 envelopes, say. Make one per
// sealing session with NewPrefix and publish every message of the session
// with it. A connection that negotiated shared prefixes (docs/protocol.md
// §5a) sends the bytes once and refers to them by id; its window is keyed
// on the handle's identity, so a new handle (a new session) is a new
// definition even if its bytes happen to be equal.
type Prefix struct {
	b []byte
}

// NewPrefix returns a handle holding a copy of b.
func NewPrefix(b []byte) *Prefix {
	return &Prefix{b: append([]byte(nil), b...)}
}

// Bytes returns the prefix's bytes; never modify them. Nil for a nil handle.
func (p *Prefix) Bytes() []byte {
	if p == nil {
		return nil
	}
	return p.b
}

// Len is len(p.Bytes()).
func (p *Prefix) Len() int {
	if p == nil {
		return 0
	}
	return len(p.b)
}
