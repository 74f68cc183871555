package server

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/broker/protocol"
)

// The global memory budget (docs/server.md, "Memory budget"). What the
// broker holds for clients is the core's estimate (broker.Core.MemoryUsage:
// messages, prefixes, dedup ids, topology) plus every connection's buffers:
// its unwritten output and the unconsumed bytes of its read buffer (the
// whole buffer once it grew past DefaultReadBufferSize for a large frame or
// a long line). Buffers are summed as they change, in settle, so a check is
// O(1). Above the high watermark the memory alarm turns on: every session
// is told (native: Blocked); a native session that published holds its
// further publishes (up to protocol.HeldPublishLimit) while it keeps
// serving its other frames, and its reader stops only when that hold is
// full (or its read buffer grew); text publishes are refused. Below the
// low watermark it turns off (native: Unblocked), the held publishes are
// handled and the readers read again.

// DefaultMemoryLowFraction is the low watermark as a fraction of the high
// one when MemoryLowWatermark is 0.
const DefaultMemoryLowFraction = 0.9

// memBudget is the server's alarm state. (mu)
type memBudget struct {
	high, low int64
	buffers   int64         // sum of every connection's accounted buffers
	alarm     bool          // publishers are blocked
	resume    chan struct{} // closed when the alarm clears
	peak      int64         // highest usage seen, for tests and logs
}

func (s *Server) initMemBudget() {
	s.mem.high = s.cfg.MemoryHighWatermark
	s.mem.low = s.cfg.MemoryLowWatermark
	if s.mem.low == 0 {
		s.mem.low = int64(float64(s.mem.high) * DefaultMemoryLowFraction)
	}
}

// MemoryUsage is what the broker holds for clients now, in bytes: the core's
// estimate plus the connections' buffers.
func (s *Server) MemoryUsage() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.memUsage()
}

// MemoryAlarm reports whether publishers are blocked now, and the highest
// usage seen.
func (s *Server) MemoryAlarm() (on bool, peak int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mem.alarm, s.mem.peak
}

func (s *Server) memUsage() int64 { return s.core.MemoryUsage() + s.mem.buffers }

// accountBuffers brings c's share of the buffer total up to date. s.mu held.
func (s *Server) accountBuffers(c *conn) {
	var held int64
	if c.sess != nil && !c.gone {
		if c.alarmSeen != s.mem.alarm {
			// A session opened during the alarm learns it here.
			s.tellSession(c, s.mem.alarm, time.Now())
		}
		held = int64(len(c.sess.Output())) + c.inHeld
		if ma, ok := c.sess.(protocol.MemoryAlarmed); ok {
			held += int64(ma.HeldBytes())
		}
	}
	s.mem.buffers += held - c.memHeld
	c.memHeld = held
}

// noteInput records what c's read buffer holds after a Feed that left
// rest bytes unconsumed. s.mu held.
func (c *conn) noteInput(buf []byte, rest int) {
	c.inGrown = len(buf) > DefaultReadBufferSize
	if c.inGrown {
		c.inHeld = int64(len(buf))
	} else {
		c.inHeld = int64(rest)
	}
}

// checkMemory turns the alarm on above the high watermark and off below
// the low one. O(1) unless it changes state; then it tells every session.
// s.mu held.
func (s *Server) checkMemory(now time.Time) {
	if s.mem.high <= 0 {
		return
	}
	usage := s.memUsage()
	s.mem.peak = max(s.mem.peak, usage)
	switch {
	case !s.mem.alarm && usage > s.mem.high:
		s.mem.alarm = true
		s.mem.resume = make(chan struct{})
		s.log.Info("memory alarm: above the high watermark; publishers are blocked until consumers drain the broker",
			"usage", usage, "high_watermark", s.mem.high, "low_watermark", s.mem.low, "core", s.core.MemoryUsage(), "buffers", s.mem.buffers)
		s.tellSessions(true, now)
	case s.mem.alarm && usage < s.mem.low:
		s.mem.alarm = false
		close(s.mem.resume)
		s.log.Info("memory alarm cleared: below the low watermark; publishers resume",
			"usage", usage, "low_watermark", s.mem.low)
		s.tellSessions(false, now)
		// Native sessions handled the publishes they held: route
		// their outcomes (this may turn the alarm on again; that tells
		// the sessions and handles nothing, so this recursion ends).
		s.settle(now)
	}
}

func (s *Server) alarmReason() string {
	return fmt.Sprintf("broker memory alarm: the broker holds more than its high watermark of %d bytes; publishing resumes below %d bytes",
		s.mem.high, s.mem.low)
}

// tellSessions passes an alarm change to every session and wakes their
// writers. s.mu held.
func (s *Server) tellSessions(on bool, now time.Time) {
	for _, c := range s.conns {
		if c.sess == nil || c.gone {
			continue
		}
		s.tellSession(c, on, now)
		c.wakeWriter()
		c.armTimer()
	}
}

// tellSession passes the alarm's state to c's session. s.mu held.
func (s *Server) tellSession(c *conn, on bool, now time.Time) {
	c.alarmSeen = on
	if ma, ok := c.sess.(protocol.MemoryAlarmed); ok {
		ma.SetMemoryAlarm(on, s.alarmReason(), now)
	}
}

// waitForMemory blocks the reader while the alarm is on and c's session
// stopped at a publish it cannot hold (or c's read buffer grew for one
// large frame or line). A paused publisher whose session still has room to
// hold its publishes keeps being read, so its acks, consumes, deletes and
// stats are served during the alarm. It returns false if the connection
// ended.
func (c *conn) waitForMemory() bool {
	for {
		c.s.mu.Lock()
		if c.gone {
			c.s.mu.Unlock()
			return false
		}
		if !c.s.mem.alarm || !c.pausedByAlarm() {
			c.s.mu.Unlock()
			return true
		}
		resume := c.s.mem.resume
		c.s.mu.Unlock()
		select {
		case <-resume:
		case <-c.done:
			return false
		}
	}
}

// pausedByAlarm reports whether the alarm stops reading c. s.mu held. A
// native session says so itself (its hold of publishes is full); a
// grown read buffer stops the reading of other sessions (a long text
// line). A native session's grown buffer is already allocated and
// accounted, and what it reads into it is bounded by the hold, so it
// keeps being read.
func (c *conn) pausedByAlarm() bool {
	if _, native := c.sess.(*protocol.Native); c.inGrown && !native {
		return true
	}
	ma, ok := c.sess.(protocol.MemoryAlarmed)
	return ok && ma.ReadPaused()
}

// ParseMemoryWatermark reads a watermark: a size such as 512MiB, 2GiB or a
// number of bytes, or a fraction in (0, 1] such as 0.4 of the memory
// available to the process (its cgroup's limit, else the machine's).
func ParseMemoryWatermark(v string) (int64, error) {
	v = strings.TrimSpace(v)
	if strings.Contains(v, ".") {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 || f > 1 {
			return 0, fmt.Errorf("memory watermark %q: a fraction must be in (0, 1], e.g. 0.4", v)
		}
		total, _, err := AvailableMemory()
		if err != nil {
			return 0, fmt.Errorf("memory watermark %q: %w (give a size instead, e.g. 512MiB)", v, err)
		}
		return int64(f * float64(total)), nil
	}
	return ParseByteSize(v)
}

// ParseByteSize reads a size such as 900MiB, 2GiB, 512KiB or a plain
// number of bytes.
func ParseByteSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}
	for _, u := range units {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n <= 0 || n > (1<<62)/u.mult {
			break
		}
		return n * u.mult, nil
	}
	return 0, fmt.Errorf("size %q not understood: give a positive number of bytes, optionally with KiB, MiB or GiB (e.g. 900MiB)", s)
}

// AvailableMemory is the memory the process may use: the cgroup v2 limit
// (/sys/fs/cgroup/memory.max) when there is one, else MemTotal of
// /proc/meminfo. src names where it came from.
func AvailableMemory() (total int64, src string, err error) {
	var cg int64
	if b, err := os.ReadFile("/sys/fs/cgroup/memory.max"); err == nil {
		if v := strings.TrimSpace(string(b)); v != "max" {
			if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
				cg = n
			}
		}
	}
	var mt int64
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) >= 2 && f[0] == "MemTotal:" {
				if n, err := strconv.ParseInt(f[1], 10, 64); err == nil {
					mt = n << 10 // kB
				}
			}
		}
	}
	switch {
	case cg > 0 && (mt == 0 || cg < mt):
		return cg, "cgroup memory.max", nil
	case mt > 0:
		return mt, "/proc/meminfo MemTotal", nil
	}
	return 0, "", fmt.Errorf("cannot tell the available memory: neither /sys/fs/cgroup/memory.max nor /proc/meminfo gives it")
}
