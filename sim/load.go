package sim

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients/engine"
	"github.com/ciphermq/ciphermq/faults"
)

// LoadMode says whether a run has a hostile-load node (Config.HostileLoad).
type LoadMode uint8

const (
	// LoadOff: no hostile-load node (the default, so fixed-seed runs keep
	// their trace hashes).
	LoadOff LoadMode = iota
	// LoadSwarm: swarm runs draw the node for LoadFraction of their seeds.
	LoadSwarm
	// LoadOn: every run has it.
	LoadOn
)

// LoadFraction is the share of swarm seeds that get a hostile-load node
// under LoadSwarm. The choice comes from its own generator, seeded from the
// run's seed, so the seeds that do not draw it run exactly as before.
const LoadFraction = 0.2

func loadDrawn(seed uint64) bool {
	return rand.New(rand.NewPCG(seed, 0x10AD5EED)).Float64() < LoadFraction
}

// Names of the hostile-load node's user and objects: every name it uses
// starts with "l." (its own namespace; in an authenticated run its user may
// configure, read and write only those).
const (
	loadUser   = "loader"
	loadPre    = "l."
	loadTopic  = "l.topic"  // topic exchange: adversarial patterns
	loadFan    = "l.fan"    // fanout exchange bound to many queues
	loadDirect = "l.direct" // direct exchange in front of the flood queue
	loadFlood  = "l.flood"  // the queue it floods and over-consumes
	loadFanQ   = "l.fq"     // + index: the fanout's queues
	// loadFanQueues is the most fanout queues it declares.
	loadFanQueues = 160
	// loadMaxLen bounds its queues, so its floods cost the run a bounded
	// amount of memory (refusals past it are part of the attack).
	loadMaxLen = 400
)

// The attacks of the hostile-load node: the simulator's share of issue
// #11's catalogue.
const (
	attackTopic     = iota // alternating "#"/"*" bindings, 128-word keys
	attackFanout           // a fanout bound to many queues, descending names
	attackConsumers        // hundreds of consumers on one connection, then close it
	attackStats            // a burst of stats requests in one write
	attackGreedy           // a consumer with a huge prefetch that never acks
	attackFlood            // publishes flooding its own queue
	numAttacks
)

var attackNames = [numAttacks]string{"topic-alternation", "fanout-many", "consumers-then-close", "stats-burst", "greedy-consumer", "flood"}

// AttackNames are the hostile-load node's attacks, in catalogue order; each
// is also a sometimes-event "load-<name>".
func AttackNames() []string { return slices.Clone(attackNames[:]) }

// LoadSometimes are the sometimes-events of a sweep with hostile load: each
// attack ran at least once.
func LoadSometimes() []string {
	out := make([]string, numAttacks)
	for i, n := range attackNames {
		out[i] = "load-" + n
	}
	return out
}

// LoadStats counts what the hostile-load node did and what the meter saw.
type LoadStats struct {
	// Attacks counts the attacks run, by name.
	Attacks map[string]uint64 `json:"attacks"`
	// Metered is how many of its commands (and connection teardowns) the
	// broker node measured; MaxWork and MaxTopicStates the largest cost one
	// of them had.
	Metered        uint64 `json:"metered"`
	MaxWork        uint64 `json:"max_work"`
	MaxTopicStates uint64 `json:"max_topic_states"`
	// Refused counts refusals it got (queue full, limits), by code.
	Refused map[uint16]uint64 `json:"refused"`
}

// Add adds o's counts to s.
func (s *LoadStats) Add(o LoadStats) {
	for k, n := range o.Attacks {
		s.attack(k, n)
	}
	for c, n := range o.Refused {
		s.refused(c, n)
	}
	s.Metered += o.Metered
	s.MaxWork = max(s.MaxWork, o.MaxWork)
	s.MaxTopicStates = max(s.MaxTopicStates, o.MaxTopicStates)
}

func (s *LoadStats) attack(name string, n uint64) {
	if s.Attacks == nil {
		s.Attacks = map[string]uint64{}
	}
	s.Attacks[name] += n
}

func (s *LoadStats) refused(code uint16, n uint64) {
	if s.Refused == nil {
		s.Refused = map[uint16]uint64{}
	}
	s.Refused[code] += n
}

// String lists the counts in a fixed order.
func (s LoadStats) String() string {
	out := "attacks:"
	for _, n := range attackNames {
		out += fmt.Sprintf(" %s=%d", n, s.Attacks[n])
	}
	codes := make([]uint16, 0, len(s.Refused))
	for c := range s.Refused {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	out += fmt.Sprintf("; %d commands metered, max work %d, max topic states %d; refusals:", s.Metered, s.MaxWork, s.MaxTopicStates)
	if len(codes) == 0 {
		out += " none"
	}
	for _, c := range codes {
		out += fmt.Sprintf(" %d=%d", c, s.Refused[c])
	}
	return out
}

// loadNode is the hostile-load node: a client on a calm link of its own
// (outside the fault plan, like the hostile tenant) that uses only its own
// objects, within what it is allowed, to make the broker work. On a
// schedule drawn from the run's generator each round runs one or two
// attacks of issue #11's catalogue (see the attack constants); the broker
// node meters every command it sends (loadMeter) and the honest clients'
// invariants are checked as in every run.
type loadNode struct {
	st *runState
	cc clientConn

	nextReq, nextSeq uint64
	fanQueues        int // fanout queues declared and bound so far
	topicBinds       int // adversarial topic bindings made so far
	conns            int // connection number, for unique consumer tags

	stats LoadStats
}

func (st *runState) newLoad(cc clientConn) *loadNode {
	l := &loadNode{st: st, cc: cc}
	l.cc.hooks = l
	span := time.Duration(st.healAt)
	rounds := 4 + st.w.rng.intn(5)
	for range rounds {
		st.w.sched.at(VTime(st.w.rng.between(span/20, span)), l.round)
	}
	return l
}

// buildLoad adds the hostile-load node on a calm link of its own (not in
// st.links: the weather is for the honest clients).
func (st *runState) buildLoad() {
	n := faults.Node{Name: "l0", Role: faults.RolePublisher, Index: -2}
	lk := &Link{Name: n.Name, Mode: LinkTCP, Faults: linkFaults(faults.LinkFaults{})}
	backoff := engine.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	cc := clientConn{w: st.w, node: n, link: lk, brk: st.brk, heartbeat: st.work.Heartbeat, backoff: backoff,
		cov: &st.cov, violations: &st.protocolViolations, accessViolations: &st.accessViolations}
	if st.auth {
		cc.user = loadUser
	}
	st.load = st.newLoad(cc)
}

func (l *loadNode) name() string { return l.cc.name() }

func (l *loadNode) req() uint64 { l.nextReq++; return l.nextReq }

// ready implements clientHooks: declare (again) its own objects.
func (l *loadNode) ready() {
	l.conns++
	b := l.cc.out[:0]
	b = wire.AppendDeclareExchange(b, &wire.DeclareExchange{ReqID: l.req(), Name: loadTopic, Type: uint8(broker.Topic)})
	b = wire.AppendDeclareExchange(b, &wire.DeclareExchange{ReqID: l.req(), Name: loadFan, Type: uint8(broker.Fanout)})
	b = wire.AppendDeclareExchange(b, &wire.DeclareExchange{ReqID: l.req(), Name: loadDirect, Type: uint8(broker.Direct)})
	b = wire.AppendDeclareQueue(b, &wire.DeclareQueue{ReqID: l.req(), Name: loadFlood, MaxLength: loadMaxLen})
	b = wire.AppendBind(b, &wire.Bind{ReqID: l.req(), Exchange: loadDirect, Queue: loadFlood, Key: "flood"})
	l.cc.out = b
	l.cc.send(b)
}

// round runs one or two attacks drawn from the catalogue.
func (l *loadNode) round() {
	w := l.st.w
	if !l.cc.isReady {
		// Down or reconnecting (a broker crash, its own close): try again
		// a little later, until shortly after the heal.
		if w.Now() < l.st.healAt.Add(5*time.Second) {
			w.after(w.rng.between(100*time.Millisecond, time.Second), l.round)
		}
		return
	}
	for range 1 + w.rng.intn(2) {
		a := w.rng.intn(numAttacks)
		w.trace.begin(w.Now(), l.name()).word("load-attack").str("kind", attackNames[a]).end()
		l.stats.attack(attackNames[a], 1)
		l.st.cov.LoadAttacks[a]++
		switch a {
		case attackTopic:
			l.topic()
		case attackFanout:
			l.fanout()
		case attackConsumers:
			l.consumersThenClose()
			return // the connection is gone
		case attackStats:
			l.statsBurst()
		case attackGreedy:
			l.greedy()
		case attackFlood:
			l.flood()
		}
	}
}

// adversarialPattern is a topic pattern of 62 "#.*" or "*.#" pairs (order
// drawn) and a literal: up to 255 bytes, the shape that made the old
// matcher backtrack exponentially.
func (l *loadNode) adversarialPattern(i int) string {
	var sb strings.Builder
	for range 62 {
		if l.st.w.rng.chance(0.5) {
			sb.WriteString("#.*.")
		} else {
			sb.WriteString("*.#.")
		}
	}
	sb.WriteString("k" + strconv.Itoa(i))
	return sb.String()
}

// longKey is a routing key of 128 one-letter words (255 bytes), ending in
// the literal of binding i when it hits one.
func (l *loadNode) longKey() string {
	words := make([]string, 128)
	for i := range words {
		words[i] = string(rune('a' + l.st.w.rng.intn(3)))
	}
	if l.topicBinds > 0 && l.st.w.rng.chance(0.5) {
		words[127] = "k" + strconv.Itoa(l.st.w.rng.intn(l.topicBinds))
		for len(strings.Join(words, ".")) > broker.MaxRoutingKeyLen {
			words = words[1:]
		}
	}
	return strings.Join(words, ".")
}

func (l *loadNode) topic() {
	w := l.st.w
	b := l.cc.out[:0]
	for range 2 + w.rng.intn(6) {
		q := loadFanQ + "t" + strconv.Itoa(l.topicBinds%4)
		if l.topicBinds < 4 {
			b = wire.AppendDeclareQueue(b, &wire.DeclareQueue{ReqID: l.req(), Name: q, MaxLength: 8})
		}
		b = wire.AppendBind(b, &wire.Bind{ReqID: l.req(), Exchange: loadTopic, Queue: q, Key: l.adversarialPattern(l.topicBinds)})
		l.topicBinds++
	}
	for range 3 + w.rng.intn(8) {
		b = l.publish(b, loadTopic, l.longKey())
	}
	l.cc.out = b
	l.cc.send(b)
}

func (l *loadNode) fanout() {
	w := l.st.w
	b := l.cc.out[:0]
	// Queues in descending name order, the order that made the old code
	// insertion-sort its targets on every publish.
	for range 10 + w.rng.intn(40) {
		if l.fanQueues >= loadFanQueues {
			break
		}
		q := fmt.Sprintf("%s%03d", loadFanQ, loadFanQueues-1-l.fanQueues)
		b = wire.AppendDeclareQueue(b, &wire.DeclareQueue{ReqID: l.req(), Name: q, MaxLength: 4})
		b = wire.AppendBind(b, &wire.Bind{ReqID: l.req(), Exchange: loadFan, Queue: q})
		l.fanQueues++
	}
	for range 2 + w.rng.intn(6) {
		b = l.publish(b, loadFan, "")
	}
	l.cc.out = b
	l.cc.send(b)
}

func (l *loadNode) consumersThenClose() {
	w := l.st.w
	b := l.cc.out[:0]
	n := 100 + w.rng.intn(400)
	for i := range n {
		b = wire.AppendConsume(b, &wire.Consume{ReqID: l.req(), Queue: loadFlood,
			ConsumerTag: fmt.Sprintf("l-many-%d-%d", l.conns, i), Prefetch: 1})
	}
	// Some messages for them to hold unacked when the connection closes.
	for range w.rng.intn(20) {
		b = l.publish(b, loadDirect, "flood")
	}
	l.cc.out = b
	l.cc.send(b)
	// Close it a moment later: half of the time within 20 ms, racing
	// their registration, and half of the time after 100..300 ms, when
	// more of them are registered (both are teardown). Few seeds meter a
	// close at 100 or more steps, which TestHostileLoadSweep requires of
	// its 40: 2 of them with only the race, none once the ack-style draws
	// of issue #14 moved the runs' timings, 1 (seed 20, 140 steps) with
	// the later close. The test stays fragile to such moves.
	gen := l.cc.gen
	wait := w.rng.between(0, 20*time.Millisecond)
	if w.rng.chance(0.5) {
		wait = w.rng.between(100*time.Millisecond, 300*time.Millisecond)
	}
	w.after(wait, func() {
		if gen == l.cc.gen && l.cc.conn != nil {
			l.cc.drop("load: close the connection with many consumers")
		}
	})
}

func (l *loadNode) statsBurst() {
	b := l.cc.out[:0]
	for range 10 + l.st.w.rng.intn(90) {
		b = wire.AppendStats(b, &wire.Stats{ReqID: l.req()})
	}
	l.cc.out = b
	l.cc.send(b)
}

func (l *loadNode) greedy() {
	b := wire.AppendConsume(l.cc.out[:0], &wire.Consume{ReqID: l.req(), Queue: loadFlood,
		ConsumerTag: fmt.Sprintf("l-greedy-%d-%d", l.conns, l.nextReq), Prefetch: 1 << 40})
	l.cc.out = b
	l.cc.send(b)
}

func (l *loadNode) flood() {
	b := l.cc.out[:0]
	for range 50 + l.st.w.rng.intn(400) {
		b = l.publish(b, loadDirect, "flood")
	}
	l.cc.out = b
	l.cc.send(b)
}

func (l *loadNode) publish(b []byte, ex, key string) []byte {
	l.nextSeq++
	body := make([]byte, 1+l.st.w.rng.intn(64))
	_, _ = l.st.w.rng.Read(body)
	return wire.AppendPublish(b, &wire.Publish{Seq: l.nextSeq, Exchange: []byte(ex), RoutingKey: []byte(key),
		MessageID: []byte("l-" + strconv.FormatUint(l.nextSeq, 10)), Body: body})
}

// frame implements clientHooks: it never acks (a consumer that does not
// read, as far as the simulated link can model one: the link always takes
// the bytes, so the deliveries stay unacked); it counts refusals.
func (l *loadNode) frame(t wire.FrameType, payload []byte) {
	switch t {
	case wire.FrameError:
		var f wire.Error
		if wire.DecodeErrorFrame(payload, &f) == nil {
			l.stats.refused(f.Code, 1)
		}
	case wire.FrameNack:
		var f wire.Nack
		if wire.DecodeNack(payload, &f) == nil {
			l.stats.refused(f.Code, 1)
		}
	}
}

// lost implements clientHooks: sequence numbers start again on the next
// connection.
func (l *loadNode) lost() { l.nextSeq = 0 }

// loadMeter is the broker node's meter of one connection of the
// hostile-load node: it feeds that connection's bytes to the session one
// frame at a time, reads the core's work counters around each, and checks
// the cost against a bound computed from the command's own input (and the
// node's own earlier commands: the patterns it bound, the consumers it
// registered, the deliveries it was sent). See boundFor.
type loadMeter struct {
	preamble  bool // the preamble has been fed
	consumes  uint64
	delivered uint64
}

// loadPatterns is what the meter knows of the node's topic bindings (over
// all its connections and broker incarnations: a superset of what the
// broker holds): the distinct prefixes of their normalised word lists,
// i.e. the nodes of the trie those bindings alone would build.
type loadPatterns struct {
	prefixes map[string]bool
}

func (p *loadPatterns) add(pattern string) {
	if p.prefixes == nil {
		p.prefixes = map[string]bool{}
	}
	words := broker.NormalizeTopicPattern(pattern)
	for i := 1; i <= len(words); i++ {
		p.prefixes[strings.Join(words[:i], ".")] = true
	}
}

// nodes bounds the trie nodes of the node's own bindings (the root too).
func (p *loadPatterns) nodes() uint64 { return 1 + uint64(len(p.prefixes)) }

// The per-command bounds of the load check (docs/testing.md, "Hostile
// load"). Work is Core.work: consumers removed, unacked copies discarded,
// stats entries built; topic states are the matcher's visits.
const (
	// boundStatsWork: a stats reply lists at most MaxStatsEntries queues
	// and as many exchanges, and visits one more of each to know whether
	// more follow (broker/protocol/guard.go, TestStatsPageCost).
	boundStatsWork = 2 * (1000 + 1)
	// boundOtherWork: any other command (declare, bind, consume, publish,
	// ack) removes or lists nothing itself, but its dispatch may remove
	// consumers of closing connections or park those of full ones that it
	// meets: at most one teardown budget per call (broker/consumer.go).
	boundOtherWork = simTeardownStep
	// boundCallWork bounds any one core call's teardown work: one budget
	// of skips, one of unparking, one of teardown plus one heap sift path
	// (broker/teardown.go, broker/outbound.go).
	boundCallWork = 3*simTeardownStep + 64
)

// boundFor is the bound of one command of the load node: work and topic
// states. patterns are the node's own topic bindings so far.
func boundFor(t wire.FrameType, payload []byte, m *loadMeter, pats *loadPatterns) (work, states uint64, what string) {
	switch t {
	case wire.FrameStats:
		return boundStatsWork, 0, "stats"
	case wire.FrameCancel:
		return 1, 0, "cancel"
	case wire.FramePublish:
		var f wire.Publish
		if wire.DecodePublish(payload, &f) != nil {
			return boundOtherWork, 0, "malformed publish"
		}
		what = fmt.Sprintf("publish to %s key %.24q (%d bytes)", f.Exchange, f.RoutingKey, len(f.RoutingKey))
		if string(f.Exchange) != loadTopic {
			return boundOtherWork, 0, what
		}
		// A match visits each (trie node, word position) pair at most once
		// (docs/performance.md, "Routing cost under hostile topology"), and
		// never more than MaxTopicStates.
		words := uint64(strings.Count(string(f.RoutingKey), ".") + 1)
		return boundOtherWork, min((words+1)*pats.nodes(), broker.MaxTopicStates), what
	case wire.FrameBind:
		var f wire.Bind
		if wire.DecodeBind(payload, &f) == nil && f.Exchange == loadTopic {
			pats.add(f.Key)
		}
		return boundOtherWork, 0, "bind " + f.Queue + " to " + f.Exchange
	case wire.FrameConsume:
		m.consumes++
		return boundOtherWork, 0, "consume"
	}
	return boundOtherWork, 0, t.String()
}

// closeBound is the bound of tearing down one of the load node's
// connections: one step per consumer it registered, and per unacked copy
// it held (at most what it was delivered) one to collect it, one to pop it
// and one per heap level on each of heapify and pop
// (TestManyConsumersOnOneConnection, broker/teardown.go). Close itself does
// at most one budget of it; the rest runs in the Ticks that follow, each
// judged against boundCallWork.
// With older, other teardowns were pending, and Close may spend its
// budget on them too.
func (m *loadMeter) closeBound(older bool) uint64 {
	d := m.delivered
	own := m.consumes + d*(2+2*uint64(bits.Len64(d)))
	if older {
		own += simTeardownStep + 64
	}
	return min(own, boundCallWork)
}

// meterFeed feeds bc's buffered input one frame at a time, checking each
// command's cost. It returns the feed error, if any.
func (b *brokerNode) meterFeed(bc *brokerConn, now time.Time) error {
	m := bc.meter
	for len(bc.inbuf) > 0 {
		unit := len(wire.Preamble)
		var t wire.FrameType
		var payload []byte
		if m.preamble {
			var err error
			var n int
			t, payload, n, err = wire.SplitFrame(bc.inbuf, 0)
			switch {
			case err != nil:
				unit = len(bc.inbuf) // the session reports it
			case n == 0:
				return nil // incomplete: wait for more
			default:
				unit = n
			}
		} else if len(bc.inbuf) < unit {
			return nil
		}
		var bw, bs uint64
		what := "preamble"
		if m.preamble && t != 0 {
			bw, bs, what = boundFor(t, payload, m, &b.st.loadPats)
		}
		w0, _ := b.core.WorkMeter()
		fed := 0
		var err error
		for fed < unit && err == nil {
			var n int
			n, err = bc.s.Feed(bc.inbuf[fed:unit], now)
			fed += n
			if n == 0 {
				break
			}
		}
		w1, states := b.core.WorkMeter()
		if m.preamble && t != 0 {
			b.judgeLoad(what, w1-w0, uint64(states), bw, bs)
		}
		m.preamble = true
		k := copy(bc.inbuf, bc.inbuf[fed:])
		bc.inbuf = bc.inbuf[:k]
		if err != nil || fed < unit {
			return err
		}
	}
	return nil
}

// judgeLoad records one metered command and fails the run if it cost more
// than its bound.
func (b *brokerNode) judgeLoad(what string, work, states, boundWork, boundStates uint64) {
	ls := &b.st.load.stats
	ls.Metered++
	ls.MaxWork = max(ls.MaxWork, work)
	ls.MaxTopicStates = max(ls.MaxTopicStates, states)
	if work <= boundWork && states <= boundStates {
		return
	}
	f := fmt.Sprintf("%v %s: work %d (bound %d), topic states %d (bound %d)", b.w.Now(), what, work, boundWork, states, boundStates)
	b.w.trace.begin(b.w.Now(), "broker").word("load-bound-exceeded").str("what", f).end()
	b.st.loadViolations = append(b.st.loadViolations, f)
}

// tenantQueue reports whether q belongs to the hostile tenant or the
// hostile-load node: no honest history is kept of it.
func tenantQueue(q string) bool {
	return strings.HasPrefix(q, hostilePre) || strings.HasPrefix(q, loadPre)
}
