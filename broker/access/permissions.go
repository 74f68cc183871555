package access

import (
	"bytes"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ciphermq/ciphermq/broker"
)

// Kind is one of RabbitMQ's three permission kinds.
type Kind uint8

const (
	Configure Kind = iota // create or delete the resource
	Write                 // inject messages into it (publish to an exchange, bind a queue)
	Read                  // take messages out of it (consume, fetch, purge a queue; bind from an exchange)
)

func (k Kind) String() string {
	switch k {
	case Configure:
		return "configure"
	case Write:
		return "write"
	case Read:
		return "read"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// matcher is one compiled expression; nil matches nothing ("").
type matcher struct{ re *regexp.Regexp }

func compile(expr string) (matcher, error) {
	if expr == "" {
		return matcher{}, nil
	}
	if _, err := regexp.Compile(expr); err != nil {
		return matcher{}, err // the error quotes the expression as written
	}
	re, err := regexp.Compile("^(?:" + expr + ")$")
	if err != nil {
		return matcher{}, err
	}
	return matcher{re}, nil
}

func (m matcher) match(name string) bool { return m.re != nil && m.re.MatchString(name) }

// compiled is one vhost's permissions, ready to evaluate.
type compiled struct {
	grant [3]matcher
	deny  [3]matcher
}

func compilePermissions(p Permissions) (compiled, error) {
	var c compiled
	var err error
	for k, expr := range [3]string{p.Configure, p.Write, p.Read} {
		if c.grant[k], err = compile(expr); err != nil {
			return c, fmt.Errorf("%s: %w", Kind(k), err)
		}
	}
	for k, expr := range [3]string{p.Deny.Configure, p.Deny.Write, p.Deny.Read} {
		if c.deny[k], err = compile(expr); err != nil {
			return c, fmt.Errorf("deny %s: %w", Kind(k), err)
		}
	}
	return c, nil
}

// allows evaluates kind on name: a deny match wins over any grant.
func (c *compiled) allows(k Kind, name string) bool {
	return !c.deny[k].match(name) && c.grant[k].match(name)
}

// DB is a users file compiled for lookups: the value the server swaps on
// reload. It is immutable once built, so sessions may keep what they took
// from it.
type DB struct {
	users    map[string]*entry
	defaults Limits
}

type entry struct {
	user  User
	perms map[string]*compiled
}

// NewDB compiles f. defaults fill the users' zero limits.
func NewDB(f *File, defaults Limits) (*DB, error) {
	db := &DB{users: make(map[string]*entry, len(f.Users)), defaults: defaults}
	for _, u := range f.Users {
		if _, dup := db.users[u.Name]; dup {
			return nil, fmt.Errorf("user %q is listed twice", u.Name)
		}
		e := &entry{user: u, perms: make(map[string]*compiled, len(u.Permissions))}
		for vhost, p := range u.Permissions {
			c, err := compilePermissions(p)
			if err != nil {
				return nil, fmt.Errorf("user %q: permissions for vhost %q: %w", u.Name, vhost, err)
			}
			e.perms[vhost] = &c
		}
		db.users[u.Name] = e
	}
	return db, nil
}

// Len is the number of users.
func (db *DB) Len() int { return len(db.users) }

// PasswordHash returns the user's PHC string; ok is false for an unknown
// user or one without a password.
func (db *DB) PasswordHash(user string) (phc string, ok bool) {
	e := db.users[user]
	if e == nil || e.user.PasswordHash == "" {
		return "", false
	}
	return e.user.PasswordHash, true
}

// Exists reports whether the user is in the file.
func (db *DB) Exists(user string) bool { return db.users[user] != nil }

// Tags returns a copy of the user's tags (nil for an unknown user).
func (db *DB) Tags(user string) []string {
	if e := db.users[user]; e != nil {
		return slices.Clone(e.user.Tags)
	}
	return nil
}

// Identity returns the identity of an authenticated user on vhost, or an
// error with CodeAccessRefused when the user has no permissions there
// (RabbitMQ's "access to vhost refused"), or CodeAuthFailed for an unknown
// user.
func (db *DB) Identity(user, vhost string) (*Identity, error) {
	e := db.users[user]
	if e == nil {
		return nil, broker.Errorf(broker.CodeAuthFailed, "authentication failed")
	}
	p := e.perms[vhost]
	if p == nil {
		return nil, broker.Errorf(broker.CodeAccessRefused, "access refused: user %q has no permissions on vhost %q", user, vhost)
	}
	return &Identity{
		User:   user,
		Vhost:  vhost,
		Tags:   slices.Clone(e.user.Tags),
		Limits: e.user.Limits.or(db.defaults),
		perms:  p,
	}, nil
}

// or fills zero limits from defaults.
func (l Limits) or(d Limits) Limits {
	pick := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	return Limits{
		MaxConnections: pick(l.MaxConnections, d.MaxConnections),
		MaxQueues:      pick(l.MaxQueues, d.MaxQueues),
		MaxExchanges:   pick(l.MaxExchanges, d.MaxExchanges),
		MaxBindings:    pick(l.MaxBindings, d.MaxBindings),
		MaxConsumers:   pick(l.MaxConsumers, d.MaxConsumers),
	}
}

// Identity is who a connection acts as, fixed at its handshake: a user on
// one vhost with that vhost's permissions. It is owned by one session (not
// safe for concurrent use: it caches the last verdicts of the hot path).
type Identity struct {
	User   string
	Vhost  string
	Tags   []string
	Limits Limits

	perms        *compiled // nil: unrestricted (a broker without users)
	unrestricted bool

	// pubCache remembers publish verdicts by exchange name, so a
	// publisher pays the regular expressions once per exchange, not per
	// message. Bounded: cleared when it reaches pubCacheMax entries.
	pubCache map[string]*broker.Error
}

const pubCacheMax = 256

// Anonymous is the identity of every connection of a broker without a
// users file: the user guest on the default vhost, allowed everything
// there, with no per-user limits.
func Anonymous() *Identity {
	return &Identity{User: Guest, Vhost: DefaultVhost, unrestricted: true, Limits: Limits{-1, -1, -1, -1, -1}}
}

// HasTag reports whether the identity carries tag.
func (id *Identity) HasTag(tag string) bool { return slices.Contains(id.Tags, tag) }

// Owner is the core's view of the identity: the user and its limits.
func (id *Identity) Owner() broker.Owner {
	lim := func(v int) int { return max(v, 0) } // negative: none; core: <= 0 means none
	return broker.Owner{User: id.User, Limits: broker.UserLimits{
		Queues:    lim(id.Limits.MaxQueues),
		Exchanges: lim(id.Limits.MaxExchanges),
		Bindings:  lim(id.Limits.MaxBindings),
		Consumers: lim(id.Limits.MaxConsumers),
	}}
}

// allows evaluates one permission kind on a resource name (the name as the
// client wrote it, inside the identity's vhost).
func (id *Identity) allows(k Kind, name string) bool {
	if strings.Contains(name, broker.VhostSeparator) {
		return false // another vhost's spelling: never visible, never granted
	}
	return id.unrestricted || id.perms.allows(k, name)
}

func (id *Identity) refuse(op, what, name string, k Kind) *broker.Error {
	return broker.Errorf(broker.CodeAccessRefused, "access refused: user %q may not %s %s %q in vhost %q (%s permission)", id.User, op, what, name, id.Vhost, k)
}

func (id *Identity) check(k Kind, op, what, name string) *broker.Error {
	if strings.Contains(name, broker.VhostSeparator) {
		// The core's spelling of another vhost's name: whatever the
		// expressions say, a client never names outside its own vhost.
		return id.refuse(op, what, name, k)
	}
	if id.allows(k, name) {
		return nil
	}
	return id.refuse(op, what, name, k)
}

// The operation table (RabbitMQ's): each method returns nil or a
// CodeAccessRefused error naming the operation and the resource.

// DeclareExchange needs configure on the exchange.
func (id *Identity) DeclareExchange(name string) *broker.Error {
	return id.check(Configure, "declare", "exchange", name)
}

// DeleteExchange needs configure on the exchange.
func (id *Identity) DeleteExchange(name string) *broker.Error {
	return id.check(Configure, "delete", "exchange", name)
}

// DeclareQueue needs configure on the queue, and write on its dead-letter
// queue if it names one (dead-lettering writes into that queue).
func (id *Identity) DeclareQueue(name, deadLetterQueue string) *broker.Error {
	if e := id.check(Configure, "declare", "queue", name); e != nil {
		return e
	}
	if deadLetterQueue != "" {
		return id.check(Write, "dead-letter into", "queue", deadLetterQueue)
	}
	return nil
}

// DeleteQueue needs configure on the queue.
func (id *Identity) DeleteQueue(name string) *broker.Error {
	return id.check(Configure, "delete", "queue", name)
}

// Bind (and Unbind) need write on the queue and read on the exchange.
func (id *Identity) Bind(exchange, queue string) *broker.Error {
	if e := id.check(Write, "bind to", "queue", queue); e != nil {
		return e
	}
	return id.check(Read, "bind from", "exchange", exchange)
}

// Unbind needs what Bind needs.
func (id *Identity) Unbind(exchange, queue string) *broker.Error {
	if e := id.check(Write, "unbind", "queue", queue); e != nil {
		return e
	}
	return id.check(Read, "unbind from", "exchange", exchange)
}

// Publish needs write on the exchange. Verdicts are cached per exchange.
func (id *Identity) Publish(exchange []byte) *broker.Error {
	if bytes.IndexByte(exchange, broker.VhostSeparator[0]) >= 0 {
		return id.refuse("publish to", "exchange", string(exchange), Write)
	}
	if id.unrestricted {
		return nil
	}
	if e, ok := id.pubCache[string(exchange)]; ok {
		return e
	}
	name := string(exchange)
	e := id.check(Write, "publish to", "exchange", name)
	if id.pubCache == nil || len(id.pubCache) >= pubCacheMax {
		id.pubCache = make(map[string]*broker.Error)
	}
	id.pubCache[name] = e
	return e
}

// Consume needs read on the queue.
func (id *Identity) Consume(queue string) *broker.Error {
	return id.check(Read, "consume from", "queue", queue)
}

// Fetch needs read on the queue.
func (id *Identity) Fetch(queue string) *broker.Error {
	return id.check(Read, "fetch from", "queue", queue)
}

// Purge needs read on the queue.
func (id *Identity) Purge(queue string) *broker.Error {
	return id.check(Read, "purge", "queue", queue)
}

// SeeQueue says whether stats may show the queue: read on it, or the
// monitoring (or administrator) tag.
func (id *Identity) SeeQueue(name string) bool {
	if strings.Contains(name, broker.VhostSeparator) {
		return false
	}
	return id.allows(Read, name) || id.HasTag(TagMonitoring) || id.HasTag(TagAdministrator)
}

// SeeExchange says whether stats may show the exchange: any permission on
// it, or the monitoring (or administrator) tag.
func (id *Identity) SeeExchange(name string) bool {
	if strings.Contains(name, broker.VhostSeparator) {
		return false
	}
	return id.allows(Read, name) || id.allows(Write, name) || id.allows(Configure, name) ||
		id.HasTag(TagMonitoring) || id.HasTag(TagAdministrator)
}

// SeeBrokerWide says whether stats may show broker-wide counters (other
// users' connections, dedup windows): the monitoring or administrator tag,
// or an unrestricted identity.
func (id *Identity) SeeBrokerWide() bool {
	return id.unrestricted || id.HasTag(TagMonitoring) || id.HasTag(TagAdministrator)
}
