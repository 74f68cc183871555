package session

import (
	"strings"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
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
const MaxStatsEntries = 1000

// MaxStatsScan caps the names of its vhost, queues and exchanges
// separately, one stats request visits. It only matters for an identity
// whose permissions hide names within its vhost: such a reply may stop
// before MaxStatsEntries visible entries, "truncated": true, with
// "next_queue"/"next_exchange" naming the last entry listed ("" when none
// was), never a name the identity may not see.
const MaxStatsScan = 10 * MaxStatsEntries

// statsPage builds one stats reply from the core's summary and its name
// ordered lists, visiting only what the reply needs and only the
// session's vhost: the summary is O(1) in the broker's size, and each list
// walks the vhost's own names (contiguous in the core's name index; the
// default vhost has an index of its own) until limit visible entries or
// MaxStatsScan names, so a page costs O(log n + MaxStatsScan) whatever
// the other vhosts hold.
func (g *guard) statsPage(core Core, limit int) broker.Stats {
	s := core.StatsSummary()
	s.QueueCount, s.ExchangeCount = 0, 0 // the reply keeps its historical shape
	s.Queues, s.Exchanges = []broker.QueueStats{}, []broker.ExchangeStats{}
	var nextQ, nextX string
	var cutQ, cutX bool
	scanned := 0
	core.EachVhostQueue(g.id.Vhost, "", func(q broker.QueueStats) bool {
		if scanned == MaxStatsScan {
			cutQ = true
			return false
		}
		scanned++
		if !g.id.SeeQueue(g.local(q.Name)) {
			return true
		}
		if len(s.Queues) == limit {
			cutQ = true
			return false
		}
		s.Queues = append(s.Queues, q)
		return true
	})
	scanned = 0
	core.EachVhostExchange(g.id.Vhost, "", func(e broker.ExchangeStats) bool {
		if scanned == MaxStatsScan {
			cutX = true
			return false
		}
		scanned++
		if !g.id.SeeExchange(g.local(e.Name)) {
			return true
		}
		if len(s.Exchanges) == limit {
			cutX = true
			return false
		}
		s.Exchanges = append(s.Exchanges, e)
		return true
	})
	if cutQ && len(s.Queues) > 0 {
		nextQ = g.local(s.Queues[len(s.Queues)-1].Name)
	}
	if cutX && len(s.Exchanges) > 0 {
		nextX = g.local(s.Exchanges[len(s.Exchanges)-1].Name)
	}
	out := g.stats(s)
	out.NextQueue, out.NextExchange = nextQ, nextX
	out.Truncated = cutQ || cutX
	if share := g.owner.Limits.QueuedBytes; share > 0 {
		out.MemoryShare = &broker.MemoryShareStats{User: g.owner.User, QueuedBytes: core.Usage(g.owner.User).QueuedBytes, Share: share}
	}
	return out
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
