package protocol

import (
	"strings"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Peer is what the driver knows about the other end of a connection, for
// authentication decisions and logs.
type Peer struct {
	// Remote is the peer's address, for logs.
	Remote string
	// Loopback: the peer connected from a loopback address.
	Loopback bool
	// TLS: the transport is TLS.
	TLS bool
	// CertIdentity is the identity taken from the peer's verified TLS
	// client certificate ("" without one); the EXTERNAL mechanism uses it.
	CertIdentity string
}

// guard is a session's identity and the namespace of its vhost: it turns
// the names a client writes into the core's names and back, and asks the
// identity before each command, so a denied command never reaches the core.
type guard struct {
	id     *access.Identity
	owner  broker.Owner
	prefix string // the core-name prefix of the vhost ("" for the default vhost)
	qbuf   []byte // scratch: a qualified exchange name for a publish
	// resumes are the stats resume tokens this session handed out.
	resumes statsResumes
}

func newGuard(id *access.Identity) guard {
	g := guard{id: id, owner: id.Owner()}
	if q := broker.Qualify(id.Vhost, ""); q != "" {
		g.prefix = q
	}
	return g
}

// q returns the core's name for a name the client wrote.
func (g *guard) q(name string) string {
	if g.prefix == "" || name == "" {
		return name
	}
	return g.prefix + name
}

// qb is q for a publish's exchange bytes, without allocating.
func (g *guard) qb(name []byte) []byte {
	if g.prefix == "" {
		return name
	}
	g.qbuf = append(append(g.qbuf[:0], g.prefix...), name...)
	return g.qbuf
}

// local returns the name a client of this vhost knows a core name by.
func (g *guard) local(qname string) string { return strings.TrimPrefix(qname, g.prefix) }

// mine reports whether a core name belongs to this session's vhost.
func (g *guard) mine(qname string) bool {
	if g.prefix == "" {
		return !strings.Contains(qname, broker.VhostSeparator)
	}
	return strings.HasPrefix(qname, g.prefix)
}

// MaxStatsEntries caps the queues, and separately the exchanges, that one
// stats reply lists (docs/protocol.md): a reply with more to list stops
// in name order and says "truncated": true, with "next_queue" and
// "next_exchange" naming the last entry listed.
const MaxStatsEntries = 250

// MaxStatsScan caps the names of its vhost, queues and exchanges
// separately, one stats request visits. It only matters for an identity
// whose permissions hide names within its vhost: such a reply may stop
// before MaxStatsEntries visible entries, "truncated": true, with
// "next_queue"/"next_exchange" naming the last entry listed, or, when
// none was, "next_queue_token"/"next_exchange_token" holding a resume
// token (statsResumes), never a name the identity may not see.
const MaxStatsScan = 10 * MaxStatsEntries

// StatsResumeTokens is how many resume tokens a session remembers: a
// token is valid on the connection that received it until this many
// newer ones were handed out there.
const StatsResumeTokens = 8

// statsResumes remembers the positions behind the resume tokens a session
// handed out: the core name a scan stopped at when MaxStatsScan cut a
// list before any visible entry. The name stays here, so the client can
// continue without learning it. Tokens count up from 1 per session
// (deterministic); the ring keeps the last StatsResumeTokens.
type statsResumes struct {
	last uint64
	ring [StatsResumeTokens]statsResume
}

type statsResume struct {
	token uint64
	list  uint8
	pos   string // a core name
}

func (r *statsResumes) add(list uint8, pos string) uint64 {
	r.last++
	r.ring[r.last%StatsResumeTokens] = statsResume{token: r.last, list: list, pos: pos}
	return r.last
}

func (r *statsResumes) get(list uint8, token uint64) (string, bool) {
	e := r.ring[token%StatsResumeTokens]
	if e.token != token || e.list != list {
		return "", false
	}
	return e.pos, true
}

// statsPage builds one stats reply from the core's summary and its name
// ordered lists, visiting only what the reply needs and only the
// session's vhost: the summary is O(1) in the broker's size, and each list
// walks the vhost's own names (contiguous in the core's name index; the
// default vhost has an index of its own) until limit visible entries or
// MaxStatsScan names, so a page costs O(log n + MaxStatsScan) whatever
// the other vhosts hold.
//
// req is the request's cursor (wire.Stats): none lists both lists from
// their first entry; one lists only its list, strictly after the name
// req.After (in the session's vhost; a hidden or absent name is only a
// position, and the reply is the same whether it exists) or from the
// position behind the resume token req.Resume. An unknown token is an
// error that names nothing.
func (g *guard) statsPage(core Core, limit int, req wire.Stats) (broker.Stats, *broker.Error) {
	s := core.StatsSummary()
	s.QueueCount, s.ExchangeCount = 0, 0 // the reply keeps its historical shape
	s.Queues, s.Exchanges = []broker.QueueStats{}, []broker.ExchangeStats{}
	var qc, xc statsCut
	from, e := g.statsFrom(req)
	if e != nil {
		return broker.Stats{}, e
	}
	if req.List == 0 || req.List == wire.StatsQueues {
		qc = statsWalk(core.EachVhostQueue, g.id.Vhost, g.q(from), limit, &s.Queues,
			func(q broker.QueueStats) string { return q.Name },
			func(name string) bool { return g.id.SeeQueue(g.local(name)) })
	}
	if req.List == 0 || req.List == wire.StatsExchanges {
		xc = statsWalk(core.EachVhostExchange, g.id.Vhost, g.q(from), limit, &s.Exchanges,
			func(e broker.ExchangeStats) string { return e.Name },
			func(name string) bool { return g.id.SeeExchange(g.local(name)) })
	}
	out := g.stats(s)
	out.NextQueue, out.NextQueueToken = g.statsNext(wire.StatsQueues, qc)
	out.NextExchange, out.NextExchangeToken = g.statsNext(wire.StatsExchanges, xc)
	out.Truncated = qc.cut || xc.cut
	if share := g.owner.Limits.QueuedBytes; share > 0 {
		out.MemoryShare = &broker.MemoryShareStats{User: g.owner.User, QueuedBytes: core.Usage(g.owner.User).QueuedBytes, Share: share}
	}
	return out, nil
}

// statsFrom returns the local name a page starts after ("" for the
// first): the cursor's name, or the position behind its resume token
// (stored as a core name, returned local).
func (g *guard) statsFrom(req wire.Stats) (string, *broker.Error) {
	if req.Resume == 0 {
		return req.After, nil
	}
	pos, ok := g.resumes.get(req.List, req.Resume)
	if !ok {
		return "", broker.Errorf(broker.CodeInvalidArgument,
			"stats resume token %d is not valid here: a token lasts on the connection that received it, for its last %d tokens; start again from the first page or after the last name listed",
			req.Resume, StatsResumeTokens)
	}
	return g.local(pos), nil
}

// statsCut is how a list walk ended: cut (more may follow), the last
// core name listed, and the last core name scanned (the position a resume
// token stands for when nothing was listed).
type statsCut struct {
	cut     bool
	listed  string
	scanned string
}

// statsWalk lists, in name order after the core name from, at most limit
// entries that see accepts, visiting at most MaxStatsScan names.
func statsWalk[T any](each func(vhost, after string, fn func(T) bool), vhost, from string, limit int, page *[]T, name func(T) string, see func(string) bool) statsCut {
	var c statsCut
	scanned := 0
	each(vhost, from, func(x T) bool {
		if scanned == MaxStatsScan {
			c.cut = true
			return false
		}
		scanned++
		c.scanned = name(x)
		if !see(c.scanned) {
			return true
		}
		if len(*page) == limit {
			c.cut = true
			return false
		}
		*page = append(*page, x)
		c.listed = c.scanned
		return true
	})
	return c
}

// statsNext is a cut list's cursor: the last name listed (the client saw
// it), or, when the scan bound cut the list before any visible entry, a
// resume token for the last name scanned, which the client must not see.
func (g *guard) statsNext(list uint8, c statsCut) (string, uint64) {
	switch {
	case !c.cut:
		return "", 0
	case c.listed != "":
		return g.local(c.listed), 0
	}
	return "", g.resumes.add(list, c.scanned)
}

// stats narrows the core's stats to what this identity may see: the
// objects of its vhost that it may read (all of them with the monitoring
// or administrator tag), under the names it knows them by. Broker-wide
// counters (connections, all users' duplicates and refusals, other users'
// dedup windows) are shown only to identities that may see the whole
// broker; others get counters over what they see.
func (g *guard) stats(s broker.Stats) broker.Stats {
	wide := g.id.SeeBrokerWide()
	out := s
	out.Exchanges = s.Exchanges[:0:0]
	out.Queues = s.Queues[:0:0]
	for _, e := range s.Exchanges {
		if g.mine(e.Name) && g.id.SeeExchange(g.local(e.Name)) {
			e.Name = g.local(e.Name)
			out.Exchanges = append(out.Exchanges, e)
		}
	}
	for _, q := range s.Queues {
		if g.mine(q.Name) && g.id.SeeQueue(g.local(q.Name)) {
			q.Name = g.local(q.Name)
			out.Queues = append(out.Queues, q)
		}
	}
	if wide {
		return out
	}
	out.Connections, out.Duplicates, out.Refused = 0, 0, 0
	out.Consumers, out.Bindings = 0, 0
	for _, q := range out.Queues {
		out.Consumers += q.Consumers
	}
	for _, e := range out.Exchanges {
		out.Bindings += e.Bindings
	}
	// The user's own dedup window only: the broker-wide effective window
	// would hint at other users' publishing.
	out.DedupIDs, out.DedupUsers = 0, nil
	out.DedupEffectiveWindowMs = s.DedupWindowMs
	for _, d := range s.DedupUsers {
		if d.User == g.id.User {
			out.DedupIDs = d.IDs
			out.DedupUsers = []broker.DedupUserStats{d}
			if d.Full {
				out.DedupEffectiveWindowMs = d.OldestAgeMs
			}
		}
	}
	return out
}
