package clients

import "github.com/ciphermq/ciphermq/clients/engine"

// Prefix is a shared leading part of message bodies (see PublishPrefixed).
type Prefix = engine.Prefix

// NewPrefix returns a prefix handle holding a copy of b.
func NewPrefix(b []byte) *Prefix { return engine.NewPrefix(b) }

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
