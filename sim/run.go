package sim

import (
	"crypto/ed25519"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wal"
	"github.com/ciphermq/ciphermq/clients/engine"
	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/faults"
	"github.com/ciphermq/ciphermq/internal/check"
)

// runState is everything one run shares between its nodes.
type runState struct {
	w     *World
	work  Workload
	mut   Mutations
	plan  faults.Plan
	hist  *recorder
	cov   Coverage
	topo  topology
	seed  uint64
	drawn drawnConfig
	// acks is the receivers' ack style (ackstyle.go): drawn per swarm
	// seed, zero otherwise.
	acks ackDraw
	// fsyncErrors: Config.BrokerFsyncErrors, or drawn (fsyncErrorsDrawn).
	fsyncErrors bool
	// oracle watches the core's queues (oracle.go).
	oracle *enqueueOracle

	brk    *brokerNode
	pubs   []*publisherNode
	recs   []*receiverNode
	links  []*Link
	lnodes []faults.Node // the client node of each link
	bnode  faults.Node

	healAt VTime
	healed bool
	// down maps a crashed node's name to its pending restart; downOrder is
	// the order nodes went down, for a deterministic heal.
	down      map[string]*downNode
	downOrder []string
	randCut   []randomCut
	// boundViolations are I6 findings of the broker's per-step check.
	boundViolations []string
	pchg            uint64

	// protocolViolations are frames the clients got that a correct broker
	// never sends (see Result.ProtocolViolations).
	protocolViolations []string

	// Authenticated mode: the hostile tenant, and the access-control
	// findings (see Result.AccessViolations).
	auth             bool
	hostile          *hostileNode
	accessViolations []string

	// The hostile-load node (load.go), its topic bindings as the broker's
	// meter saw them, and the commands that cost more than their bound
	// (Result.LoadViolations).
	loadOn         bool
	load           *loadNode
	loadPats       loadPatterns
	loadViolations []string
}

type randomCut struct {
	link       int
	up, down   bool
	start, end VTime
}

// Run executes one simulated run: build the world from the seed, run the
// safety phase with faults, heal, run the liveness phase until everything
// converged or the bound passed, then check the history.
func Run(cfg Config) Result {
	work := cfg.Workload.withDefaults()
	res := Result{Seed: cfg.Seed, DrawSeed: cfg.DrawSeed}
	draw := cfg.Seed
	if cfg.DrawSeed != 0 {
		draw = cfg.DrawSeed
	}
	drawn := drawConfig(draw, queueNames(work.Receivers))
	drewWork := cfg.Swarm && !cfg.FixedWorkload && drawn.work.apply(cfg.Workload, &work)
	var acks ackDraw
	if cfg.Swarm && !cfg.FixedWorkload {
		acks = drawn.acks
		acks.apply(cfg.Workload, &work)
	}
	if err := work.validate(); err != nil {
		res.Err = err
		return res
	}
	res.Workload = work
	w := newWorld(cfg.Seed, cfg.Trace)
	st := &runState{w: w, work: work, mut: cfg.Mutations, hist: newRecorder(), seed: draw, drawn: drawn, acks: acks,
		fsyncErrors: cfg.BrokerFsyncErrors || (cfg.Swarm && fsyncErrorsDrawn(draw))}
	switch {
	case cfg.Plan != nil:
		st.plan = *cfg.Plan
	case cfg.Swarm:
		// The plan draws from its own generator (seeded from the run's seed),
		// so a plan stays the same when the simulator's use of its generator
		// changes, and printing it replays it.
		st.plan = faults.Swarm(rand.New(rand.NewPCG(draw, 0x5157A2)))
	default:
		st.plan = Calm()
	}
	res.Plan = st.plan
	if drewWork && cfg.Workload.Prefetch == 0 && st.work.Prefetch < slowMinPrefetch && !smallPrefetchFits(st.plan.Enabled()) {
		st.work.Prefetch = DefaultWorkload().Prefetch
		res.Workload = st.work
	}
	st.auth = cfg.Auth || (cfg.Swarm && authDrawn(draw))
	res.Auth = st.auth
	res.Load = cfg.HostileLoad == LoadOn || (cfg.HostileLoad == LoadSwarm && cfg.Swarm && loadDrawn(draw))
	if err := st.plan.Validate(); err != nil {
		res.Err = fmt.Errorf("sim: fault plan: %w", err)
		return res
	}
	maxSteps := cfg.MaxSteps
	if maxSteps == 0 {
		maxSteps = 20_000_000
	}
	st.loadOn = res.Load
	st.build()
	if res.Load {
		st.buildLoad()
	}
	st.schedule()
	w.trace.begin(0, "sim").word("run").num("seed", cfg.Seed).str("plan", st.plan.String()).end()
	if cfg.DrawSeed != 0 {
		// Only then, so that every other run's trace is unchanged.
		w.trace.begin(0, "sim").word("draws").num("seed", cfg.DrawSeed).end()
	}
	w.trace.begin(0, "sim").word("config").str("grammar", st.drawn.describe()).num("segment", uint64(st.drawn.segmentSize)).end()
	if drewWork {
		// Only then, so that the traces of runs without drawn settings
		// are unchanged.
		w.trace.begin(0, "sim").word("workload").str("drawn", st.work.describe()).end()
	}
	if st.acks.on() {
		w.trace.begin(0, "sim").word("acks").str("drawn", st.acks.describe()).end()
	}

	// Safety phase, then heal, then liveness.
	deadline := st.healAt.Add(st.plan.Phases.LivenessBoundMs.Duration())
	converged := false
	for !converged {
		if w.sched.steps >= maxSteps {
			res.Err = fmt.Errorf("sim: step budget of %d events exhausted at %v (livelock?): replay with the same seed and --trace", maxSteps, w.Now())
			break
		}
		t, ok := w.sched.peek()
		if !ok || t > deadline {
			break
		}
		w.sched.step()
		if st.healed && st.quiescent() {
			converged = true
		}
	}
	res.Converged = converged
	if !converged {
		res.StuckOn = st.stuckOn()
	}
	res.Stats.ConvergedAt = time.Duration(w.Now())
	w.trace.begin(w.Now(), "sim").word("end").str("converged", strconv.FormatBool(converged)).end()
	st.finish(&res)
	return res
}

// build makes the nodes, keys and links.
func (st *runState) build() {
	w, work := st.w, st.work
	st.healAt = VTime(st.plan.Phases.HealAtMs.Duration())
	st.topo = newTopology(work.Receivers, broker.QueueOptions{
		AckTimeout: work.AckTimeout, DeliveryLimit: work.DeliveryLimit, MaxLength: max(work.MaxLength, 0),
		MaxBytes: max(work.MaxBytes, 0), Durable: work.Durable,
	}, st.drawn.grammar, st.drawn.keys)
	st.topo.chain = st.acks.chain
	st.oracle = newEnqueueOracle(st.topo.model, st.topo.queues, work.Durable, broker.DefaultDedupWindow)
	if st.topo.chain {
		st.oracle.chain()
	}
	st.bnode = faults.Node{Name: "broker", Role: faults.RoleBroker}
	st.brk = &brokerNode{w: w, st: st,
		cfg: broker.Config{NoDefaults: true, TeardownStep: simTeardownStep, Mutations: broker.Mutations{
			NoDedup:              st.mut.BrokerNoDedup,
			NoRequeueOnClose:     st.mut.NoRequeueOnDisconnect,
			ConfirmBeforeEnqueue: st.mut.ConfirmBeforeEnqueue,
			ForgetDedupOnRestore: st.mut.RestoreForgetsDedup,
			TopicHashOneWord:     st.mut.TopicHashOneWord,
			AckMultipleOverreach: st.mut.AckMultipleOverreach,
			DeadLetterDrops:      st.mut.DeadLetterDrops,
			RestoreDropsNewest:   st.mut.RestoreDropsNewest,
		}},
		scf: protocol.Config{Heartbeat: work.Heartbeat, HandshakeTimeout: 5 * work.Heartbeat,
			MutationPrefixIDReuse: st.mut.PrefixIDReuse, MutationPrefixRefWrong: st.mut.PrefixRefWrong,
			MutationSkipPublishPermission: st.mut.SkipPublishPermission}.WithDefaults(),
	}
	if st.auth {
		st.setupAuth()
	}
	if work.Durable {
		st.brk.fs = wal.NewMemFS()
	}

	// Keys come from the run's generator, so they replay with the seed.
	var recipients []envelope.RecipientPublicKey
	recvKeys := make([]*envelope.RecipientPrivateKey, work.Receivers)
	for i := range recvKeys {
		k, err := envelope.GenerateRecipientKey(w.rng)
		if err != nil {
			panic(fmt.Sprintf("sim: receiver key: %v", err))
		}
		recvKeys[i] = k
		recipients = append(recipients, k.Public())
	}
	var trusted []ed25519.PublicKey
	signers := make([]ed25519.PrivateKey, work.Publishers)
	for i := range signers {
		k, err := envelope.GenerateSigningKey(w.rng)
		if err != nil {
			panic(fmt.Sprintf("sim: signing key: %v", err))
		}
		signers[i] = k
		trusted = append(trusted, k.Public().(ed25519.PublicKey))
	}

	backoff := engine.Backoff{Min: 50 * time.Millisecond, Max: 2 * time.Second}
	newLink := func(n faults.Node) *Link {
		f := st.plan.LinkFor(n)
		l := &Link{Name: n.Name, Mode: LinkTCP, Faults: linkFaults(f)}
		if f.ModeOrDefault() == faults.LinkDatagram {
			l.Mode = LinkDatagram
		}
		l.plan = f
		st.links = append(st.links, l)
		st.lnodes = append(st.lnodes, n)
		return l
	}

	span := work.PublishSpan
	if span == 0 {
		span = time.Duration(st.healAt) * 8 / 10
	}
	perPub := make([]int, work.Publishers)
	for i := 0; i < work.Messages; i++ {
		perPub[i%work.Publishers]++
	}
	for i := 0; i < work.Publishers; i++ {
		n := faults.Node{Name: "p" + strconv.Itoa(i), Role: faults.RolePublisher, Index: i}
		p := &publisherNode{st: st, signer: signers[i], recipients: recipients, sessionMessages: work.SessionMessages}
		if p.sessionMessages == 0 {
			p.sessionMessages = 2 + w.rng.intn(39)
			if st.drawn.sessionMessages > 0 {
				p.sessionMessages = st.drawn.sessionMessages
			}
		}
		l := newLink(n)
		p.cc = clientConn{w: w, node: n, link: l, brk: st.brk, hooks: p, backoff: backoff, heartbeat: work.Heartbeat,
			prefixes: wantsPrefixes(w, l, work), cov: &st.cov, violations: &st.protocolViolations}
		st.authenticate(&p.cc)
		// Publish times: uniform over the span, in order.
		times := make([]VTime, perPub[i])
		for j := range times {
			times[j] = VTime(w.rng.between(0, span))
		}
		slices.Sort(times)
		for j := 0; j < perPub[i]; j++ {
			ex, key, qs := st.topo.pick(w.rng)
			st.oracle.plan(n.Name+"-"+strconv.Itoa(j), ex, key)
			body := make([]byte, work.MinBody+w.rng.intn(work.MaxBody-work.MinBody+1))
			_, _ = w.rng.Read(body)
			p.plan = append(p.plan, plannedMessage{
				id: n.Name + "-" + strconv.Itoa(j), exchange: ex, routingKey: key, queues: qs,
				plaintext: body, digest: check.DigestOf(body).String(), at: times[j],
				poison: w.rng.chance(work.PoisonRate),
			})
		}
		st.pubs = append(st.pubs, p)
	}
	for i := 0; i < work.Receivers; i++ {
		n := faults.Node{Name: "r" + strconv.Itoa(i), Role: faults.RoleReceiver, Index: i}
		r := &receiverNode{st: st, queue: st.topo.queues[i], alsoDLQ: true, key: recvKeys[i], trusted: trusted,
			recorded: map[string]check.Digest{}, redelivered: map[string]bool{}}
		r.disk = newDisk(w, n.Name, DiskFaults{CrashInSync: st.plan.Disk.FsyncCrash, Torn: 0.5})
		l := newLink(n)
		r.cc = clientConn{w: w, node: n, link: l, brk: st.brk, hooks: r, backoff: backoff, heartbeat: work.Heartbeat,
			prefixes: wantsPrefixes(w, l, work), cov: &st.cov, violations: &st.protocolViolations}
		st.authenticate(&r.cc)
		st.recs = append(st.recs, r)
	}
	if st.auth {
		// The hostile tenant, on a calm link of its own (not in st.links:
		// the weather is for the honest clients).
		n := faults.Node{Name: "h0", Role: faults.RolePublisher, Index: -1}
		l := &Link{Name: n.Name, Mode: LinkTCP, Faults: linkFaults(faults.LinkFaults{})}
		st.hostile = st.newHostile(clientConn{w: w, node: n, link: l, brk: st.brk, backoff: backoff, heartbeat: work.Heartbeat,
			cov: &st.cov, violations: &st.protocolViolations, user: hostileUser, accessViolations: &st.accessViolations})
	}
}

// queueNames are the honest queues' names, one per receiver.
func queueNames(receivers int) []string {
	names := make([]string, receivers)
	for i := range names {
		names[i] = "q" + strconv.Itoa(i)
	}
	return names
}

// authenticate makes an honest client log in as its own user in an
// authenticated run; now and then its first login uses a wrong password.
func (st *runState) authenticate(cc *clientConn) {
	if !st.auth {
		return
	}
	cc.user = cc.node.Name
	cc.wrongFirst = st.w.rng.chance(wrongPasswordChance)
	cc.accessViolations = &st.accessViolations
}

// wantsPrefixes decides whether a client negotiates shared prefixes: not on
// a datagram link, whose frames arrive in any order (a reference overtaking
// its definition is a fatal protocol error, so every connection would die:
// shared prefixes need an in-order transport, docs/protocol.md §5a), and
// not for the PlainClients fraction.
func wantsPrefixes(w *World, l *Link, work Workload) bool {
	plain := w.rng.chance(work.PlainClients)
	return l.Mode == LinkTCP && !plain
}

// linkFaults maps a plan's link settings to the simulator's.
func linkFaults(f faults.LinkFaults) LinkFaults {
	return LinkFaults{
		DelayMin: 50 * time.Microsecond, DelayMax: 500 * time.Microsecond, Extra: f.Delay,
		Drop: f.Drop, Duplicate: f.Duplicate, Reorder: f.Reorder,
		ReorderDelay: f.ReorderWindowMs.Duration(),
		Break:        f.Disconnect,
		DetectMin:    time.Millisecond, DetectMax: 100 * time.Millisecond,
		// Not a fault: TCP segments are cut at random places so every
		// reader's framing is exercised on every run.
		Split: 0.25,
	}
}

// schedule starts the nodes and arms every fault of the plan.
func (st *runState) schedule() {
	w := st.w
	st.brk.start()
	for _, r := range st.recs {
		r.start()
	}
	for _, p := range st.pubs {
		p.start()
	}
	if st.hostile != nil {
		st.hostile.cc.start()
	}
	if st.load != nil {
		st.load.cc.start()
	}
	st.scheduleLinks()
	st.schedulePartitions()
	st.scheduleCrashes()
	w.sched.at(st.healAt, st.heal)
}

// outsideCore reports whether a forever partition cuts n off, so it is
// not expected to converge.
func (st *runState) outsideCore(n faults.Node) bool { return st.plan.OutsideCore(n) }

// quiescent reports whether the liveness phase has converged: every
// publisher in the core published its whole plan and has nothing pending,
// and every queue consumed from inside the core is empty.
func (st *runState) quiescent() bool { return st.stuckOn() == "" }

// stuckOn names the first thing the liveness phase still waits for, or ""
// when the run has converged. A run that ends unconverged reports it.
func (st *runState) stuckOn() string {
	if !st.brk.up {
		return "the broker is down"
	}
	for _, name := range st.downOrder {
		if st.down[name] != nil {
			return name + " is down"
		}
	}
	for _, p := range st.pubs {
		if st.outsideCore(p.cc.node) {
			continue
		}
		switch {
		case p.eng == nil:
			return p.name() + " is not running"
		case p.next < len(p.plan):
			return fmt.Sprintf("%s has published %d of %d messages", p.name(), p.next, len(p.plan))
		case p.eng.Pending() > 0:
			return fmt.Sprintf("%s has %d publishes unresolved", p.name(), p.eng.Pending())
		}
	}
	inCore := false
	for i, r := range st.recs {
		if st.outsideCore(r.cc.node) {
			continue
		}
		if len(r.batch) > 0 {
			return r.name() + " has a batch in processing"
		}
		if qs, ok := st.brk.core.Queue(st.topo.queues[i]); !ok || qs.Ready+qs.Unacked > 0 {
			return fmt.Sprintf("queue %s holds %d ready and %d unacked messages", qs.Name, qs.Ready, qs.Unacked)
		}
		inCore = true
	}
	if inCore {
		// Every receiver drains the dead-letter queue, so one in the core
		// must have emptied it.
		for _, dl := range st.topo.deadLetterQueues() {
			if qs, ok := st.brk.core.Queue(dl); !ok || qs.Ready+qs.Unacked > 0 {
				return fmt.Sprintf("the dead-letter queue %s holds %d ready and %d unacked messages", dl, qs.Ready, qs.Unacked)
			}
		}
	}
	return ""
}

// orderPromised reports whether the run's weather keeps I5's promise (per
// publisher and queue, one consumer, no redelivery: publish order): every
// link is TCP-like (a datagram link loses a publish that a later one
// overtakes, and its resend comes after) and nothing crashes (a crashed
// publisher's successor and a restarted broker start over).
func (st *runState) orderPromised() bool {
	for _, l := range st.links {
		if l.Mode != LinkTCP {
			return false
		}
	}
	if st.topo.opts.MaxLength > 0 || st.topo.opts.MaxBytes > 0 {
		// A bounded queue refuses a publish when full and takes a later one
		// once a slot frees: if a publisher's message a is refused (its
		// Nack still on the way), its next message b is accepted, and a's
		// resend after its confirm timeout is accepted too, the queue holds
		// b before a. The publisher resends in publish order, but no resend
		// order can put a before a b that was already accepted. Found with
		// order checked on bounded queues: seeds 2540, 3149, 5133 and 7968
		// of the default workload, and seed 22 with MaxLength 20
		// (TestBoundedQueuesCannotPromiseOrder). A bound in bytes refuses
		// the same way.
		return false
	}
	c := st.plan.Crashes
	return !c.Broker.Enabled() && !c.Publishers.Enabled() && !c.Receivers.Enabled() &&
		len(c.Schedule) == 0 && st.plan.Disk.FsyncCrash == 0
}

// finish checks the history and fills the result.
func (st *runState) finish(res *Result) {
	w := st.w
	opts := check.Options{}
	for _, p := range st.pubs {
		if st.outsideCore(p.cc.node) {
			opts.ExemptPublishers = append(opts.ExemptPublishers, p.name())
		}
	}
	for i, r := range st.recs {
		if st.outsideCore(r.cc.node) {
			opts.ExemptQueues = append(opts.ExemptQueues, st.topo.queues[i])
		}
	}
	for _, r := range st.recs {
		if r.store != nil {
			r.harvest()
		}
		// The engine tells deliveries beyond the prefetch that an expired
		// ack timeout explains (the broker freed the slot while the receiver
		// still processed) from the broker's own excess.
		violations := r.prefetchViolations
		st.cov.ExpiredHeld += r.expiredHeld
		if r.eng != nil {
			violations += r.eng.Stats().PrefetchViolations()
			st.cov.ExpiredHeld += r.eng.Stats().Expired + r.eng.Stats().PrefetchExcused
		}
		if violations > 0 {
			res.PrefetchExceeded = append(res.PrefetchExceeded,
				fmt.Sprintf("%s: %d deliveries beyond its prefetch that no expired ack timeout explains", r.name(), violations))
		}
	}
	if st.work.Durable {
		opts.DurableQueues = append(append(opts.DurableQueues, st.topo.queues...), st.topo.deadLetterQueues()...)
	}
	if st.orderPromised() {
		opts.OrderedQueues = append(opts.OrderedQueues, st.topo.queues...)
	}
	res.History = st.hist.h
	res.Options = opts
	res.Report = check.Check(st.hist.h, opts)
	res.Rejected = st.hist.rejected
	res.OverLimit = st.boundViolations
	res.EnqueuedTwice = st.hist.enqueuedTwice
	for _, e := range st.hist.h.Events {
		if e.Kind == check.KindOutcome && (e.Outcome == check.OutcomeConfirmed || e.Outcome == check.OutcomeConfirmedDuplicate) {
			st.oracle.confirmed(e.MessageID)
		}
	}
	res.Misrouted = st.oracle.misrouted
	res.EnqueuedAgain = st.oracle.enqueuedAgain
	res.Oracle = OracleStats{Steps: st.oracle.steps, Enqueues: st.oracle.count(), Resent: st.oracle.resent}
	res.RejectedIntact = st.hist.rejectedIntact
	res.ProtocolViolations = st.protocolViolations
	res.AccessViolations = st.accessViolations
	if st.hostile != nil {
		st.hostile.finish()
		res.Hostile = st.hostile.stats
	}
	if st.load != nil {
		res.LoadStats = st.load.stats
	}
	res.LoadViolations = st.loadViolations
	res.Coverage = st.cov
	res.TraceHash = w.trace.Hash()
	res.TraceLines = w.trace.Lines()

	s := &res.Stats
	s.Steps = w.sched.steps
	s.VirtualTime = time.Duration(w.Now())
	s.HealedAt = time.Duration(st.healAt)
	s.Sent, s.Dropped, s.Duplicated, s.Breaks = w.net.sent, w.net.dropped, w.net.duped, w.net.breaks
	s.BrokerCrashes = st.brk.crashes
	s.PartitionChanges = st.pchg
	for _, p := range st.pubs {
		s.PublisherCrashes += p.crashes
		s.ClientReconnects += p.cc.reconnects
		s.MessagesPublished += uint64(p.next)
		s.PublisherResends += p.resent
		if p.eng != nil {
			s.PublisherResends += p.eng.Stats().Resent
		}
	}
	for _, r := range st.recs {
		s.ReceiverCrashes += r.crashes
		s.ClientReconnects += r.cc.reconnects
		s.DiskSyncs += r.disk.syncs
	}
}
