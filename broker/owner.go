package broker

import "time"

// Owner is the user on whose behalf a connection or a topology command
// acts, with the per-user limits that user's objects count against. The
// zero Owner is the anonymous user "" without per-user limits (the
// broker-wide limits of Config always apply).
//
// Every exchange, queue, binding and consumer counts against the user that
// created it until it is gone, whoever removes it (an administrator
// deleting a queue frees its owner's slots, and those of the bindings and
// consumers that went with it). Objects restored from the durable log
// have no owner: ownership is not persisted.
type Owner struct {
	User   string
	Limits UserLimits
}

// UserLimits bound what one user may hold at once. Zero or negative: no
// per-user limit.
type UserLimits struct {
	Queues, Exchanges, Bindings, Consumers int
	// QueuedBytes is the user's memory share: while the message copies it
	// published and the broker still holds count this many bytes or more
	// (Usage.QueuedBytes), its publishes are refused with CodeUnavailable
	// (ErrMemoryShare), whoever owns the queues; other users publish on.
	QueuedBytes int64
}

// Usage is what one user holds.
type Usage struct {
	Queues    int `json:"queues"`
	Exchanges int `json:"exchanges"`
	Bindings  int `json:"bindings"`
	Consumers int `json:"consumers"`
	// QueuedBytes is what the message copies this user published and the
	// broker still holds (ready or unacked, in any queue) count in the
	// core's memory estimate: id, routing key and body plus a quarter,
	// plus MessageOverhead, per copy; shared prefixes excluded (they count
	// in the global estimate once). Messages restored from the durable log
	// and those of the anonymous user "" count for nobody.
	QueuedBytes int64 `json:"queued_bytes"`
}

// Usage returns what user holds now.
func (c *Core) Usage(user string) Usage {
	if u := c.usage[user]; u != nil {
		return *u
	}
	return Usage{}
}

// use returns user's usage record, creating it.
func (c *Core) use(user string) *Usage {
	u := c.usage[user]
	if u == nil {
		u = &Usage{}
		c.usage[user] = u
	}
	return u
}

// unuse applies delta to user's usage and forgets the record once it is
// empty, so the map holds only users that hold something.
func (c *Core) unuse(user string, f func(*Usage)) {
	u := c.usage[user]
	if u == nil {
		panic("broker: releasing usage of user " + user + " who holds nothing")
	}
	f(u)
	if u.Queues < 0 || u.Exchanges < 0 || u.Bindings < 0 || u.Consumers < 0 || u.QueuedBytes < 0 {
		panic("broker: negative usage for user " + user)
	}
	if *u == (Usage{}) {
		delete(c.usage, user)
	}
}

// overLimit refuses an object of kind when the user already holds limit of
// them (limit <= 0: no per-user limit).
func overLimit(o Owner, kind string, held, limit int) *Error {
	if limit > 0 && held >= limit {
		return Errorf(CodeResourceLimit, "user %q already holds %d %s, its limit: remove some first or ask an operator to raise the user's limit", o.User, held, kind)
	}
	return nil
}

// ErrMemoryShare matches (errors.Is) the refusal of a publish whose user
// is at its memory share: code 503 (Unavailable, "not now"), nothing
// enqueued. The publisher should wait and resend: the share frees as the
// consumers of its messages ack them (docs/server.md, "Memory budget").
var ErrMemoryShare = &Error{Code: CodeUnavailable, Msg: "user memory share reached"}

// overShare refuses a publish of o while the copies o published and the
// core still holds count at least o's memory share. The check is before
// routing, so one accepted publish may overshoot the share by its own
// copies (at most MaxMessageSize per target queue).
func (c *Core) overShare(o Owner) *Error {
	limit := o.Limits.QueuedBytes
	if limit <= 0 || o.User == "" {
		return nil
	}
	u := c.usage[o.User]
	if u == nil || u.QueuedBytes < limit {
		return nil
	}
	return Errorf(CodeUnavailable, "user %q memory share reached: its published messages still held by the broker count %d bytes, its share is %d; this message was not accepted, resend it once consumers have drained some (the share is per user: other users are not blocked)", o.User, u.QueuedBytes, limit)
}

// OpenAs registers a new connection acting as owner: its consumers count
// against owner's consumer limit.
func (c *Core) OpenAs(conn ConnID, owner Owner, now time.Time) {
	c.Open(conn, now)
	c.conns[conn].owner = owner
}
