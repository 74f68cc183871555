package sim

import (
	"errors"
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
	"github.com/ciphermq/ciphermq/faults"
)

// clientHooks is what a node adds to the shared connection handling of
// clientConn. It also implements eventHooks or frameHooks.
type clientHooks interface {
	// ready runs once the broker answered Hello on connection c.
	ready()
	// lost runs when the current connection is gone (broken, timed out,
	// closed by the broker), before a reconnect is scheduled. The engine
	// has already disconnected.
	lost()
}

// eventHooks is implemented by the nodes that speak the protocol through
// the connection engine (publishers and receivers): they get what each
// frame after the handshake meant to it.
type eventHooks interface {
	event(ev *engine.Event)
}

// frameHooks is implemented by the nodes that read the broker's frames
// themselves after the engine's handshake (the hostile and load nodes,
// which misbehave on purpose); the payload aliases the input buffer and is
// only valid during the call.
type frameHooks interface {
	frame(t wire.FrameType, payload []byte)
}

// Each node gets the broker's frames one way or the other.
var (
	_ eventHooks = (*publisherNode)(nil)
	_ eventHooks = (*receiverNode)(nil)
	_ frameHooks = (*hostileNode)(nil)
	_ frameHooks = (*loadNode)(nil)
)

// clientConn is a client node's side of its connection to the broker: dial
// and redial with backoff, frame splitting through the real codec, and the
// timer of the heartbeat rule, around the client library's own
// connection engine (engine.Conn: the handshake, frame dispatch, sequence
// numbers and confirm mapping, prefix windows, delivery bookkeeping), which
// the library's networked driver runs over TCP.
type clientConn struct {
	w     *World
	node  faults.Node
	link  *Link
	brk   *brokerNode
	hooks clientHooks

	alive   bool // the process is up (false while crashed)
	conn    *Conn
	isReady bool
	inbuf   []byte
	out     []byte // the raw nodes' frames (hostile, load)
	spare   []byte // the engine's previous output buffer, reused

	// eng is this incarnation's connection engine. A node that needs one
	// configured (a consumer's dedup set and prefetch, a publisher)
	// sets it before start; start makes a plain one otherwise, and crash
	// drops it.
	eng *engine.Conn
	// prefixes says whether this client asks for shared prefixes
	// (docs/protocol.md §5a) in Hello.
	prefixes bool
	cov      *Coverage // the run's, for the sometimes-events seen here

	backoff   engine.Backoff
	attempt   int
	heartbeat time.Duration // proposed in Hello; the broker's once it answered
	timerGen  uint64        // the pending heartbeat timer's (armTimer)
	// gen changes whenever the connection is replaced or the process
	// crashes, so timers of an older connection do nothing.
	gen uint64

	connects, reconnects uint64

	// violations is the run's list of broker protocol violations.
	violations *[]string

	// Authenticated mode: user logs in with PLAIN (user "" sends an
	// anonymous Hello). wrongFirst makes the next login use a wrong
	// password, which must be refused with CodeAuthFailed; probing says
	// the current handshake carries that wrong password. accessViolations
	// is the run's list of access-control findings.
	user             string
	wrongFirst       bool
	probing          bool
	accessViolations *[]string
}

func (cc *clientConn) name() string { return cc.node.Name }

// newEngine makes a connection engine for this client; mutate plants the
// connection mutation of the run (publishers only).
func (cc *clientConn) newEngine(cons engine.ConsumerConfig, mutate bool) *engine.Conn {
	var features uint64
	if cc.prefixes {
		features = wire.FeatureSharedPrefixes
	}
	return engine.NewConn(engine.ConnConfig{ClientName: cc.node.Name, Heartbeat: cc.heartbeat,
		Features: features, Consumer: cons, MutationConfirmOffByOne: mutate})
}

// start brings the process up and dials.
func (cc *clientConn) start() {
	if cc.eng == nil {
		cc.eng = cc.newEngine(engine.ConsumerConfig{}, false)
	}
	cc.alive = true
	cc.gen++
	cc.attempt = 0
	cc.dial()
}

// crash takes the process down: the connection vanishes from this side (the
// broker learns after a delay) and nothing of this incarnation runs again.
func (cc *clientConn) crash() {
	cc.alive = false
	cc.gen++
	if cc.conn != nil {
		cc.w.net.closeFrom(cc.conn, sideClient, "crash")
		cc.conn = nil
	}
	cc.isReady = false
	cc.inbuf = cc.inbuf[:0]
	cc.eng = nil
}

func (cc *clientConn) dial() {
	gen := cc.gen
	cc.w.net.dial(cc.link, cc, cc.brk, func(c *Conn) {
		if gen != cc.gen || !cc.alive {
			cc.w.net.closeFrom(c, sideClient, "stale dial")
			return
		}
		if !cc.brk.accept(c) {
			cc.w.net.closeFrom(c, sideClient, "broker down")
			cc.redial()
			return
		}
		cc.opened(c)
	}, func() {
		if gen == cc.gen && cc.alive {
			cc.redial()
		}
	})
}

// redial schedules the next connection attempt after a backoff delay.
func (cc *clientConn) redial() {
	cc.attempt++
	cc.gen++
	gen := cc.gen
	d := cc.backoff.Delay(cc.attempt, cc.w.rng.r)
	cc.w.after(d, func() {
		if gen == cc.gen && cc.alive {
			cc.dial()
		}
	})
}

// opened sends the preamble and Hello on a fresh connection.
func (cc *clientConn) opened(c *Conn) {
	cc.conn = c
	cc.isReady = false
	cc.inbuf = cc.inbuf[:0]
	cc.connects++
	if cc.attempt > 0 || cc.connects > 1 {
		cc.reconnects++
	}
	var auth *wire.Auth
	if cc.user != "" {
		password := passwordOf(cc.user)
		cc.probing = cc.wrongFirst
		if cc.wrongFirst {
			cc.wrongFirst = false
			password += "-wrong"
		}
		auth = &wire.Auth{Mechanism: "PLAIN", Response: wire.PlainResponse(cc.user, password)}
	}
	cc.eng.Handshake(auth, cc.w.Now().Time())
	cc.flush()
	// The handshake has a deadline too: a Hello lost to a breaking link
	// must not leave the client waiting for ever.
	cc.armTimer()
}

// send writes b (whole frames) on the current connection, if any, after
// what the engine has queued (through the engine: its heartbeat rule counts
// what the node sends itself).
func (cc *clientConn) send(b []byte) {
	if cc.conn != nil && len(b) > 0 {
		cc.eng.Queue(func(dst []byte) []byte { return append(dst, b...) })
	}
	cc.flush()
}

// flush writes the engine's output on the current connection (the link
// copies it).
func (cc *clientConn) flush() {
	if cc.eng == nil || len(cc.eng.Output()) == 0 {
		return
	}
	b := cc.eng.TakeOutput(cc.spare)
	if cc.conn != nil {
		cc.w.net.send(cc.conn, up, b)
	}
	cc.spare = b
}

// onBytes implements endpoint: split frames with the real codec and hand
// them on.
func (cc *clientConn) onBytes(c *Conn, b []byte) {
	if c != cc.conn || !cc.alive {
		return
	}
	cc.inbuf = append(cc.inbuf, b...)
	off := 0
	for off < len(cc.inbuf) && cc.conn == c {
		t, payload, n, err := wire.SplitFrame(cc.inbuf[off:], 0)
		if n == 0 && err == nil {
			break
		}
		if err != nil {
			var unknown *wire.UnknownFrameTypeError
			if errors.As(err, &unknown) {
				off += n
				continue
			}
			cc.w.trace.begin(cc.w.Now(), cc.name()).word("bad-frame").str("err", err.Error()).end()
			cc.drop("malformed stream")
			return
		}
		off += n
		cc.handle(t, payload)
	}
	if cc.conn == c {
		k := copy(cc.inbuf, cc.inbuf[off:])
		cc.inbuf = cc.inbuf[:k]
	}
}

func (cc *clientConn) handle(t wire.FrameType, payload []byte) {
	w := cc.w
	ev := cc.eng.Receive(t, payload, w.Now().Time())
	if t == wire.FrameError && ev.Err == nil && ev.Kind != engine.EventIgnored {
		w.trace.begin(w.Now(), cc.name()).word("error").num("req", ev.ReqID).num("code", uint64(ev.Code)).end()
	}
	switch ev.Kind {
	case engine.EventIgnored:
		return
	case engine.EventReady:
		cc.isReady = true
		cc.attempt = 0
		if cc.user != "" {
			if cc.probing {
				cc.accessViolated(fmt.Sprintf("the broker accepted a wrong password for user %q", cc.user))
				return
			}
			cc.cov.AuthPlain++
		}
		if hb := cc.eng.Heartbeat(); hb > 0 {
			cc.heartbeat = hb
		}
		w.trace.begin(w.Now(), cc.name()).word("ready").num("conn", uint64(cc.conn.ID)).end()
		cc.hooks.ready()
		cc.armTimer() // the broker's interval
	case engine.EventClosed:
		switch {
		case ev.Violation && t == wire.FramePrefix:
			cc.brokerViolated("bad-prefix", ev.Err)
		case ev.Violation:
			cc.brokerViolated("bad-prefix-ref", ev.Err)
		case ev.Err != nil:
			w.trace.begin(w.Now(), cc.name()).word("bad-frame").str("err", ev.Err.Error()).end()
			cc.drop("malformed frame")
		case t == wire.FrameError:
			if !cc.isReady && cc.user != "" {
				cc.authRefused(ev.Code)
			}
			cc.drop("connection error from broker")
		default:
			cc.drop("closed by broker")
		}
		return
	case engine.EventPrefix:
		if ev.PrefixID > wire.PrefixWindow {
			cc.cov.PrefixEvicted++ // the broker's window pushed id-32 out
		}
	case engine.EventUnexpected:
		w.trace.begin(w.Now(), cc.name()).word("unexpected-frame").str("type", t.String()).end()
	default:
		switch h := cc.hooks.(type) {
		case eventHooks:
			h.event(&ev)
		case frameHooks:
			h.frame(t, payload)
		}
	}
	cc.flush()
}

// onBroken implements endpoint.
func (cc *clientConn) onBroken(c *Conn) {
	if c != cc.conn || !cc.alive {
		return
	}
	cc.conn = nil
	cc.lost()
}

// drop abandons the current connection from this side and reconnects.
func (cc *clientConn) drop(why string) {
	if cc.conn == nil {
		return
	}
	cc.w.net.closeFrom(cc.conn, sideClient, why)
	cc.conn = nil
	cc.lost()
}

// brokerViolated ends the connection on a frame a correct broker never
// sends (docs/protocol.md §5a: fatal, code 104) and records it as a finding.
func (cc *clientConn) brokerViolated(what string, err error) {
	cc.w.trace.begin(cc.w.Now(), cc.name()).word(what).str("err", err.Error()).end()
	*cc.violations = append(*cc.violations, fmt.Sprintf("%s at %v: %s: %v", cc.name(), cc.w.Now(), what, err))
	cc.drop("broker violated the protocol")
}

func (cc *clientConn) lost() {
	cc.isReady = false
	cc.inbuf = cc.inbuf[:0]
	if cc.eng != nil {
		cc.eng.Disconnected(cc.w.Now().Time())
	}
	cc.hooks.lost()
	cc.redial()
}

// armTimer runs the engine's heartbeat rule at its next deadline while the
// connection lives: a heartbeat in each interval nothing else went out, and
// the broker declared dead after three silent intervals (the handshake
// included), which is how a client notices a one-way partition on a link
// that does not break by itself. Arming again replaces the pending timer.
func (cc *clientConn) armTimer() {
	at, ok := cc.eng.NextDeadline()
	if !ok {
		return
	}
	cc.timerGen++
	gen, tgen, c := cc.gen, cc.timerGen, cc.conn
	cc.w.sched.at(FromTime(at), func() {
		if gen != cc.gen || tgen != cc.timerGen || c != cc.conn || !cc.alive {
			return
		}
		if cc.eng.Tick(cc.w.Now().Time()) {
			cc.w.trace.begin(cc.w.Now(), cc.name()).word("broker-silent").num("conn", uint64(c.ID)).end()
			cc.drop("heartbeat timeout")
			return
		}
		cc.flush()
		cc.armTimer()
	})
}

// authRefused judges a refused login: a wrong password must get
// CodeAuthFailed (the probe is then covered); the right one never may.
func (cc *clientConn) authRefused(code uint16) {
	switch {
	case cc.probing && code == uint16(broker.CodeAuthFailed):
		cc.cov.AuthFailure++
	case cc.probing:
		cc.accessViolated(fmt.Sprintf("a wrong password for user %q was answered with code %d, not %d", cc.user, code, broker.CodeAuthFailed))
	case code == uint16(broker.CodeAuthFailed):
		cc.accessViolated(fmt.Sprintf("the right password of user %q was refused with code %d", cc.user, code))
	}
	cc.probing = false
}

// accessViolated records an access-control finding and drops the
// connection.
func (cc *clientConn) accessViolated(what string) {
	cc.w.trace.begin(cc.w.Now(), cc.name()).word("access-violated").str("what", what).end()
	*cc.accessViolations = append(*cc.accessViolations, fmt.Sprintf("%s at %v: %s", cc.name(), cc.w.Now(), what))
	cc.drop("access control violated")
}
