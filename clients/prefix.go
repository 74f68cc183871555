package clients

import "github.com/ciphermq/ciphermq/clients/engine"

// Prefix is an immutable leading part shared by the bodies of many
// messages (see PublishPrefixed): the signed session header of cmq1
// envelopes, say. A connection that negotiated shared prefixes sends the
// bytes once per handle and refers to them by id, so a new handle is a new
// definition even if its bytes happen to be equal.
type Prefix engine.Prefix

// NewPrefix returns a prefix handle holding a copy of b.
func NewPrefix(b []byte) *Prefix { return (*Prefix)(engine.NewPrefix(b)) }

// Bytes returns the prefix's bytes; never modify them. Nil for a nil handle.
func (p *Prefix) Bytes() []byte { return p.engine().Bytes() }

// Len is len(p.Bytes()).
func (p *Prefix) Len() int { return p.engine().Len() }

// engine is the same handle as the engine's type (the identity, which the
// prefix window keys on, is kept).
func (p *Prefix) engine() *engine.Prefix { return (*engine.Prefix)(p) }

// PrefixHandles keeps one Prefix handle per sealing session: For returns
// the same handle as long as it is given the same prefix slice (same
// backing array, as envelope.SessionSealer.SealParts returns for every
// message of a session) and a new one when the slice changes (rotation).
// Not safe for concurrent use.
type PrefixHandles struct {
	last []byte
	h    *Prefix
}

// For returns the handle for prefix, nil for an empty one.
func (t *PrefixHandles) For(prefix []byte) *Prefix {
	if len(prefix) == 0 {
		return nil
	}
	if t.h == nil || len(prefix) != len(t.last) || &prefix[0] != &t.last[0] {
		t.h, t.last = NewPrefix(prefix), prefix
	}
	return t.h
}
