package server

import (
	"errors"
	"slices"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
)

// This file is the server's face for management drivers (broker/mgmt):
// reading and changing the core under the server's lock, listing and
// closing connections, checking passwords with the login pool and
// throttling, and the health of the memory budget and durable log.

// Admin runs fn with the core under the server's lock, then routes the
// effects fn caused (cancelled consumers, deliveries, persisted records).
// fn must be short: every connection waits for it.
func (s *Server) Admin(fn func(core *broker.Core, now time.Time)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	fn(s.core, now)
	s.settle(now)
}

// ConnInfo describes one connection for management listings.
type ConnInfo struct {
	ID       broker.ConnID
	Remote   string
	Protocol string // "" until the client chose one
	User     string // "" until authenticated
	Vhost    string
	TLS      bool
	Opened   time.Time
	Unacked  int
	// Consumers are the connection's consumers, in the core's names.
	Consumers []broker.ConsumerInfo
}

// Connections lists at most limit connections with ids above after, in id
// order. It visits every connection (O(connections)) to pick the page; the
// server's connection limit bounds that.
func (s *Server) Connections(after broker.ConnID, limit int) (page []ConnInfo, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]broker.ConnID, 0, len(s.conns))
	for id := range s.conns {
		if id > after {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	if len(ids) > limit {
		ids, more = ids[:limit], true
	}
	for _, id := range ids {
		page = append(page, s.connInfo(s.conns[id]))
	}
	return page, more
}

// Connection describes one connection; false if there is none by that id.
func (s *Server) Connection(id broker.ConnID) (ConnInfo, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil {
		return ConnInfo{}, false
	}
	return s.connInfo(c), true
}

func (s *Server) connInfo(c *conn) ConnInfo {
	ci := ConnInfo{ID: c.id, Remote: c.remote, TLS: c.peer.TLS, Opened: c.opened}
	if c.sess != nil {
		ci.Protocol = c.sess.Protocol().String()
	}
	if who, ok := s.auth.connUser[c.id]; ok {
		ci.User = who
		ci.Vhost = s.auth.vhostOf[c.id]
	}
	ci.Unacked = s.core.ConnUnacked(c.id)
	s.core.ConnConsumers(c.id, func(ci2 broker.ConsumerInfo) { ci.Consumers = append(ci.Consumers, ci2) })
	return ci
}

// ErrNoConnection: CloseConnection found no such connection.
var ErrNoConnection = errors.New("server: no such connection")

// CloseConnection closes one connection the way Shutdown does (a native
// client gets a Close frame with CodeShuttingDown and reason; a text
// client is closed after its pending replies). Its unacked deliveries
// requeue.
func (s *Server) CloseConnection(id broker.ConnID, reason string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.conns[id]
	if c == nil || c.gone {
		return ErrNoConnection
	}
	now := time.Now()
	if c.sess == nil {
		c.nc.Close()
		return nil
	}
	s.log.Info("closing a connection on request", "conn", uint64(id), "remote", c.remote, "reason", reason)
	c.lc.Shutdown(broker.CodeShuttingDown, reason)
	s.settle(now)
	return nil
}

// Users returns the users in force, or nil for a broker without a users
// file (every client is the anonymous guest, on loopback only unless
// --allow-anonymous).
func (s *Server) Users() *access.DB { return s.auth.users.Load() }

// AllowAnonymous reports whether the operator allowed a broker without
// users to listen beyond loopback.
func (s *Server) AllowAnonymous() bool { return s.auth.cfg.AllowAnonymous }

// Health is the state of the memory budget and the durable log.
type Health struct {
	MemoryUsed      int64  `json:"mem_used"`
	MemoryHigh      int64  `json:"mem_limit"` // 0: no budget
	MemoryLow       int64  `json:"mem_low_watermark"`
	MemoryAlarm     bool   `json:"mem_alarm"`
	MemoryPeak      int64  `json:"mem_peak"`
	Durable         bool   `json:"durable"` // a data dir is configured
	StorageFailed   bool   `json:"storage_failed,omitempty"`
	StorageError    string `json:"storage_error,omitempty"`
	LogSegments     int    `json:"log_segments,omitempty"`
	LogBytes        int64  `json:"log_bytes,omitempty"`
	LogLiveMessages int    `json:"log_live_messages,omitempty"`
	LogUnsynced     uint64 `json:"log_unsynced_records,omitempty"`
	PendingConfirms int    `json:"pending_confirms"` // confirms waiting for an fsync
	FsyncPolicy     string `json:"fsync_policy,omitempty"`
	ShuttingDown    bool   `json:"shutting_down,omitempty"`
	Listening       bool   `json:"listening"`
}

// Health reports the memory budget and the durable log's state.
func (s *Server) Health() Health {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Health{
		MemoryUsed: s.memUsage(), MemoryHigh: s.mem.high, MemoryLow: s.mem.low,
		MemoryAlarm: s.mem.alarm, MemoryPeak: s.mem.peak,
		PendingConfirms: s.core.PendingPersist(),
		ShuttingDown:    s.closing,
		Listening:       len(s.listeners) > 0,
	}
	if d := s.dur; d != nil {
		h.Durable = true
		h.FsyncPolicy = d.policy.String()
		h.StorageFailed = d.failed && !s.closing
		if err := d.st.Err(); err != nil {
			h.StorageFailed, h.StorageError = true, err.Error()
		}
		st := d.st.Stats()
		h.LogSegments, h.LogBytes, h.LogLiveMessages = st.Segments, st.Bytes, st.LiveMessages
		h.LogUnsynced = uint64(st.Appended - st.Durable)
	}
	return h
}
