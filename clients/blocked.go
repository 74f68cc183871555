package clients

import (
	"fmt"

	"github.com/ciphermq/ciphermq/broker/wire"
)

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
	return c.sess != nil && c.sess.blocked
}

// handleAlarmLocked applies Blocked or Unblocked, logging each change once
// at info. c.mu held.
func (c *Conn) handleAlarmLocked(s *session, typ wire.FrameType, payload []byte) error {
	if typ == wire.FrameBlocked {
		var f wire.Blocked
		if err := wire.DecodeBlocked(payload, &f); err != nil {
			return fmt.Errorf("decode %s from broker: %w", typ, err)
		}
		if !s.blocked {
			s.blocked = true
			c.log.Info("broker blocked publishing (memory alarm); publishes wait until it unblocks", "session", s.epoch, "reason", f.Reason)
		}
		return nil
	}
	if err := wire.DecodeUnblocked(payload, nil); err != nil {
		return fmt.Errorf("decode %s from broker: %w", typ, err)
	}
	if s.blocked {
		s.blocked = false
		c.log.Info("broker unblocked publishing", "session", s.epoch)
	}
	return nil
}
