package clients

// Blocked reports whether the broker said, on the current transport
// connection, that its memory alarm is on (docs/protocol.md §9a): it has
// stopped reading this connection's publishes until consumers drain it.
// Publishes queue in the client meanwhile and are confirmed once the broker
// reads again; nothing is lost. A new transport connection starts
// unblocked (the broker repeats Blocked after HelloOK if the alarm is
// still on).
func (c *Conn) Blocked() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sess != nil && c.eng.Blocked()
}
