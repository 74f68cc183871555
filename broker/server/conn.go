package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/driver"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// conn is one client connection: a reader goroutine, a writer goroutine and
// the connection's session. Fields marked (mu) are guarded by Server.mu.
type conn struct {
	s      *Server
	id     broker.ConnID
	nc     net.Conn
	remote string
	source string    // source IP counted in Server.perSource; "" if not counted
	peer   PeerInfo  // transport facts, final once the session exists
	opened time.Time // accepted at

	ageTimer *time.Timer // (mu) ends the connection at MaxConnectionAge

	sess    protocol.Session    // (mu) nil until the protocol is known
	lc      *driver.Conn[*conn] // (mu) the connection in the driver loop; nil while sess is
	gone    bool                // (mu) torn down
	timer   *time.Timer         // (mu) fires at the session's next deadline
	armedAt time.Time           // (mu)
	reason  string              // (mu) why it closed, for the log line

	inHeld, memHeld int64 // (mu) read buffer bytes held; buffers accounted (membudget.go)
	inGrown         bool  // (mu) the read buffer grew past its default size
	alarmSeen       bool  // (mu) its session knows the memory alarm is on

	pubSeen uint64  // (mu) greatest publish seq seen after a Feed (metrics.go)
	pubs    pubRing // (mu) when the publishes not yet answered arrived

	wake     chan struct{} // wakes the writer; capacity 1, never blocks
	drained  chan struct{} // wakes a reader stopped by flow control
	done     chan struct{} // closed when torn down
	doneOnce sync.Once
}

// accept registers a new connection and starts its goroutines; with useTLS
// the connection's goroutine runs the TLS handshake first.
func (s *Server) accept(nc net.Conn, useTLS bool) {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		nc.Close()
		return
	}
	remote := nc.RemoteAddr().String()
	source := ""
	if ta, ok := nc.RemoteAddr().(*net.TCPAddr); ok && s.cfg.MaxConnectionsPerSource > 0 {
		source = ta.IP.String()
	}
	var over string
	switch {
	case len(s.conns) >= s.cfg.MaxConnections:
		over = "too many connections (limit " + strconv.Itoa(s.cfg.MaxConnections) + "); try again later"
		if len(s.conns) >= 2*s.cfg.MaxConnections {
			// Far over the limit: do not even spend a goroutine on a
			// polite refusal.
			s.mu.Unlock()
			nc.Close()
			s.log.Warn("connection refused: far over the connection limit", "remote", remote)
			return
		}
	case source != "" && s.perSource[source] >= s.cfg.MaxConnectionsPerSource:
		over = "too many connections from your address " + source + " (limit " + strconv.Itoa(s.cfg.MaxConnectionsPerSource) + " per address); close some or try again later"
		if s.perSource[source] >= 2*s.cfg.MaxConnectionsPerSource {
			// Polite refusals in progress count too: far over the limit,
			// this address gets no goroutine, not even for a refusal.
			s.mu.Unlock()
			nc.Close()
			s.log.Warn("connection refused: far over the per-address connection limit", "remote", remote, "limit", s.cfg.MaxConnectionsPerSource)
			return
		}
	}
	s.nextID++
	peer := PeerInfo{Remote: remote, Loopback: isLoopback(nc.RemoteAddr())}
	if useTLS {
		nc = tls.Server(nc, s.tls.base)
	}
	c := &conn{
		s:       s,
		id:      s.nextID,
		nc:      nc,
		remote:  remote,
		source:  source,
		peer:    peer,
		opened:  time.Now(),
		wake:    make(chan struct{}, 1),
		drained: make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	s.conns[c.id] = c
	if source != "" {
		s.perSource[source]++
	}
	s.active.Add(1)
	s.mu.Unlock()
	go c.run(over)
}

// run is the reader goroutine; it starts the writer once the protocol is
// known.
func (c *conn) run(overLimit string) {
	defer c.s.active.Done()
	if tc, ok := c.nc.(*tls.Conn); ok {
		if err := c.handshakeTLS(tc); err != nil {
			lvl := slog.LevelWarn
			if errors.Is(err, io.EOF) {
				// Closed before saying anything: a port probe or a
				// health check, not a failed client.
				lvl = slog.LevelDebug
			}
			c.s.log.Log(context.Background(), lvl, "TLS handshake failed", "remote", c.remote, "err", err)
			c.teardown("TLS handshake failed: " + err.Error())
			return
		}
	}
	buf := make([]byte, DefaultReadBufferSize)
	n, err := c.readFirst(buf)
	if err != nil {
		c.teardown("no data within the handshake timeout: " + err.Error())
		return
	}
	proto := wire.Sniff(buf[:n])
	if overLimit != "" {
		c.refuse(proto, overLimit)
		return
	}
	if proto == wire.ProtocolAMQP {
		// AMQP asks a server that cannot serve a version to answer with the
		// version it does speak; we speak none, so answer and close.
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		c.nc.Write([]byte("AMQP\x00\x00\x09\x01"))
		c.teardown("AMQP is not supported (use the native or the text protocol)")
		return
	}

	c.s.mu.Lock()
	if c.gone {
		c.s.mu.Unlock()
		c.teardown("server shutting down")
		return
	}
	now := time.Now()
	if proto == wire.ProtocolText && !c.s.textAllowed(c) {
		c.s.mu.Unlock()
		c.refuseText()
		return
	}
	if proto == wire.ProtocolNative {
		c.sess = protocol.NewNativeFrom(c.s.core, c.id, c.s.sessCfg, c.s.peerOf(c), now)
	} else {
		c.sess = protocol.NewText(c.s.core, c.id, c.s.sessCfg, now)
	}
	c.timer = time.AfterFunc(time.Hour, c.onTimer)
	c.timer.Stop()
	c.lc = c.s.loop.Open(c.id, c.sess, c)
	if c.s.closing {
		c.lc.Shutdown(broker.CodeShuttingDown, "server shutting down")
	}
	if age := c.s.cfg.MaxConnectionAge; age > 0 {
		c.ageTimer = time.AfterFunc(age-now.Sub(c.opened), c.onMaxAge)
	}
	c.s.settle(now)
	c.s.mu.Unlock()
	c.s.log.Info("connection opened", "conn", uint64(c.id), "protocol", proto.String(), "remote", c.remote,
		"tls", c.peer.TLS, "identity", c.peer.CertIdentity)

	c.s.active.Add(1)
	go c.writeLoop()
	c.readLoop(buf, n)
}

// readFirst waits for the first bytes under the handshake timeout.
func (c *conn) readFirst(buf []byte) (int, error) {
	c.nc.SetReadDeadline(time.Now().Add(c.s.cfg.HandshakeTimeout))
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.nc.SetReadDeadline(time.Time{})
			return n, nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// refuse answers a connection over MaxConnections or
// MaxConnectionsPerSource in its own protocol, saying which (msg).
func (c *conn) refuse(proto wire.Protocol, msg string) {
	var out []byte
	switch proto {
	case wire.ProtocolNative:
		out = wire.AppendError(nil, &wire.Error{Code: uint16(broker.CodeResourceLimit), Message: msg})
	case wire.ProtocolText:
		out = []byte("Error: " + msg + "\n")
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	c.nc.Write(out)
	c.s.log.Warn("connection refused: connection limit reached", "remote", c.remote, "reason", msg)
	c.teardown("connection limit reached")
}

// readLoop feeds everything the socket has to the session, n bytes of buf
// being already read.
func (c *conn) readLoop(buf []byte, n int) {
	maxBuf := max(c.s.cfg.MaxFrameSize, c.s.cfg.MaxLineSize+2) + DefaultReadBufferSize
	for {
		c.s.mu.Lock()
		if c.gone {
			c.s.mu.Unlock()
			return
		}
		now := time.Now()
		consumed, _ := c.lc.Feed(buf[:n], now)
		c.noteInput(buf, n-consumed)
		c.notePublishes(now)
		c.s.pollAuth(c)
		c.s.settle(now)
		closed, _ := c.sess.Closed()
		c.s.mu.Unlock()
		if closed {
			// The writer flushes the reply and tears down; stop reading.
			return
		}
		n = copy(buf, buf[consumed:n])
		if n == len(buf) {
			if len(buf) >= maxBuf {
				// The session should have refused the frame or line by now;
				// never grow without bound.
				c.teardown("input buffer limit reached")
				return
			}
			nb := make([]byte, min(2*len(buf), maxBuf))
			copy(nb, buf[:n])
			buf = nb
		}
		if !c.waitForRoom() || !c.waitForMemory() {
			return
		}
		if consumed > 0 && n > 0 {
			// The session may have stopped early at its output bound
			// with whole requests still buffered: feed them before
			// waiting for more bytes that may never come.
			continue
		}
		k, err := c.nc.Read(buf[n:])
		n += k
		if err != nil {
			c.s.mu.Lock()
			if !c.gone {
				now := time.Now()
				consumed := 0
				if k > 0 {
					consumed, _ = c.lc.Feed(buf[:n], now)
				}
				if errors.Is(err, io.EOF) {
					// The peer finished sending: what it is still owed
					// (e.g. the reply to its last command) is written by
					// the writer, which then closes.
					c.lc.EndOfInput(buf[consumed:n], now)
				}
				c.s.settle(now)
			}
			c.s.mu.Unlock()
			if !errors.Is(err, io.EOF) {
				c.teardown("read: " + err.Error())
			}
			return
		}
	}
}

// waitForRoom blocks while the connection's unwritten output is above the
// outbound bound (flow control). It returns false if the connection ended.
func (c *conn) waitForRoom() bool {
	for {
		c.s.mu.Lock()
		if c.gone {
			c.s.mu.Unlock()
			return false
		}
		pending := len(c.sess.Output())
		c.s.mu.Unlock()
		if pending <= c.s.cfg.OutboundBufferBytes {
			return true
		}
		select {
		case <-c.drained:
		case <-c.done:
			return false
		}
	}
}

// writeLoop writes the session's output, one Write per batch, until the
// session is closed and flushed or the connection fails.
func (c *conn) writeLoop() {
	defer c.s.active.Done()
	for {
		c.s.mu.Lock()
		if c.gone {
			c.s.mu.Unlock()
			return
		}
		out := c.sess.Output()
		closed, why := c.sess.Closed()
		c.s.mu.Unlock()

		if len(out) == 0 {
			if closed {
				c.teardown(why)
				return
			}
			select {
			case <-c.wake:
				continue
			case <-c.done:
				return
			}
		}
		c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
		k, err := c.nc.Write(out)
		c.s.mu.Lock()
		if !c.gone {
			now := time.Now()
			c.lc.Wrote(k, now)
			c.s.settle(now)
		}
		c.s.mu.Unlock()
		select {
		case c.drained <- struct{}{}:
		default:
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				c.teardown("write timeout: the client does not read")
			} else {
				c.teardown("write: " + err.Error())
			}
			return
		}
	}
}

// wakeWriter never blocks. s.mu held.
func (c *conn) wakeWriter() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// armTimer points the connection's timer at its session's next deadline.
// s.mu held.
func (c *conn) armTimer() {
	d, ok := c.sess.NextDeadline()
	if !ok {
		if !c.armedAt.IsZero() {
			c.timer.Stop()
			c.armedAt = time.Time{}
		}
		return
	}
	if d.Equal(c.armedAt) {
		return
	}
	c.armedAt = d
	c.timer.Reset(time.Until(d))
}

func (c *conn) onTimer() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.gone {
		return
	}
	now := time.Now()
	c.armedAt = time.Time{}
	c.lc.Tick(now)
	c.s.settle(now)
}

// onMaxAge ends a connection that reached Config.MaxConnectionAge the way
// Shutdown does: native peers get Close{502}, text peers are closed after
// their pending replies.
func (c *conn) onMaxAge() {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.gone || c.sess == nil {
		return
	}
	c.s.log.Info("closing a connection at the max connection age", "conn", uint64(c.id), "remote", c.remote, "age", c.s.cfg.MaxConnectionAge)
	now := time.Now()
	c.lc.Shutdown(broker.CodeShuttingDown, "connection reached the server's max connection age ("+c.s.cfg.MaxConnectionAge.String()+"); reconnect")
	c.s.settle(now)
}

// teardown detaches the session from the core (its unacked deliveries
// requeue to other consumers), forgets the connection and closes the socket.
// Safe to call from any goroutine, any number of times.
func (c *conn) teardown(reason string) {
	s := c.s
	s.mu.Lock()
	if c.gone {
		s.mu.Unlock()
		return
	}
	c.gone = true
	if c.reason == "" {
		c.reason = reason
	}
	reason = c.reason
	var proto string
	if c.sess != nil {
		proto = c.sess.Protocol().String()
		c.timer.Stop()
		if c.ageTimer != nil {
			c.ageTimer.Stop()
		}
		now := time.Now()
		// The loop detaches the session and forgets the connection only
		// once the outbox is empty, so that any effect the core still emits
		// for it while closing reaches its (closed) session instead of being
		// reported as addressed to nobody.
		c.lc.Close(now)
		s.settle(now)
	}
	delete(s.conns, c.id)
	if c.source != "" {
		if s.perSource[c.source]--; s.perSource[c.source] <= 0 {
			delete(s.perSource, c.source)
		}
	}
	s.accountBuffers(c) // gone: gives its share back
	s.auth.release(c.id)
	s.mu.Unlock()
	c.doneOnce.Do(func() { close(c.done) })
	c.nc.Close()
	if proto != "" {
		s.log.Info("connection closed", "conn", uint64(c.id), "protocol", proto, "remote", c.remote, "reason", reason)
	} else {
		s.log.Debug("connection closed before choosing a protocol", "conn", uint64(c.id), "remote", c.remote, "reason", reason)
	}
}
