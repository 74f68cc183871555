package access

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
)

// mustDB compiles users with no default limits.
func mustDB(t *testing.T, users ...User) *DB {
	t.Helper()
	db, err := NewDB(&File{Version: FileVersion, Users: users}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func mustIdentity(t *testing.T, db *DB, user, vhost string) *Identity {
	t.Helper()
	id, err := db.Identity(user, vhost)
	if err != nil {
		t.Fatalf("Identity(%q, %q): %v", user, vhost, err)
	}
	return id
}

func TestNewDBRefusesBadExpressions(t *testing.T) {
	for _, c := range []struct {
		name string
		p    Permissions
		want string // the kind, as the error names it
	}{
		{"configure", Permissions{Configure: "("}, "configure"},
		{"write", Permissions{Write: "[a-"}, "write"},
		{"read", Permissions{Read: "*"}, "read"},
		{"deny configure", Permissions{Deny: Deny{Configure: "a)"}}, "deny configure"},
		{"deny write", Permissions{Deny: Deny{Write: "(?P<>x)"}}, "deny write"},
		{"deny read", Permissions{Deny: Deny{Read: `\8`}}, "deny read"},
	} {
		f := &File{Version: FileVersion, Users: []User{
			{Name: "ok", Permissions: map[string]Permissions{"/": {Read: ".*"}}},
			{Name: "mallory", Permissions: map[string]Permissions{"/": {Read: ".*"}, "tenant-x": c.p}},
		}}
		db, err := NewDB(f, Limits{})
		if err == nil {
			t.Errorf("%s: NewDB accepted %+v", c.name, c.p)
			continue
		}
		if db != nil {
			t.Errorf("%s: NewDB returned a DB with its error", c.name)
		}
		for _, part := range []string{`user "mallory"`, `vhost "tenant-x"`, c.want + ": ", "error parsing regexp"} {
			if !strings.Contains(err.Error(), part) {
				t.Errorf("%s: error %q does not name %q", c.name, err, part)
			}
		}
	}
	if _, err := NewDB(&File{Version: FileVersion, Users: []User{{Name: "a"}, {Name: "a"}}}, Limits{}); err == nil ||
		!strings.Contains(err.Error(), `user "a" is listed twice`) {
		t.Errorf("duplicate user: %v", err)
	}
}

func TestIdentityLookup(t *testing.T) {
	db := mustDB(t,
		User{Name: "alice", PasswordHash: testHash, Tags: []string{TagMonitoring},
			Permissions: map[string]Permissions{"/": {Read: ".*"}, "tenant-a": {}}},
		User{Name: "nopass", Permissions: map[string]Permissions{"/": {}}},
	)
	if db.Len() != 2 || !db.Exists("alice") || db.Exists("bob") {
		t.Errorf("Len/Exists: %d %v %v", db.Len(), db.Exists("alice"), db.Exists("bob"))
	}
	if h, ok := db.PasswordHash("alice"); !ok || h != testHash {
		t.Errorf("PasswordHash(alice) = %q, %v", h, ok)
	}
	for _, u := range []string{"nopass", "bob", ""} {
		if h, ok := db.PasswordHash(u); ok || h != "" {
			t.Errorf("PasswordHash(%q) = %q, %v; want \"\", false", u, h, ok)
		}
	}
	for _, c := range []struct {
		user, vhost string
		code        broker.Code
		msg         string
	}{
		{"bob", "/", broker.CodeAuthFailed, "authentication failed"},
		{"bob", "tenant-a", broker.CodeAuthFailed, "authentication failed"},
		{"alice", "tenant-b", broker.CodeAccessRefused, `user "alice" has no permissions on vhost "tenant-b"`},
		{"nopass", "tenant-a", broker.CodeAccessRefused, `vhost "tenant-a"`},
	} {
		id, err := db.Identity(c.user, c.vhost)
		var be *broker.Error
		if id != nil || !errors.As(err, &be) || be.Code != c.code || !strings.Contains(be.Msg, c.msg) {
			t.Errorf("Identity(%q, %q) = %v, %v; want code %d with %q", c.user, c.vhost, id, err, c.code, c.msg)
		}
	}
	// A vhost listed with empty expressions is accessible (and allows nothing).
	id := mustIdentity(t, db, "alice", "tenant-a")
	if id.User != "alice" || id.Vhost != "tenant-a" || !id.HasTag(TagMonitoring) || id.HasTag(TagAdministrator) {
		t.Errorf("identity = %+v", id)
	}
	if id.Consume("q") == nil {
		t.Error("tenant-a has empty expressions, yet consume is allowed")
	}
	// The identity's tags are its own copy.
	id.Tags[0] = TagAdministrator
	if again := mustIdentity(t, db, "alice", "/"); again.HasTag(TagAdministrator) {
		t.Error("changing one identity's tags changed the database")
	}
}

// op is one row of the operation table: the method called on a resource
// name, and the kind of permission it needs on that name.
type op struct {
	name string
	kind Kind
	call func(id *Identity, name string) *broker.Error
	verb string // what the refusal names
}

var operationTable = []op{
	{"declare exchange", Configure, func(id *Identity, n string) *broker.Error { return id.DeclareExchange(n) }, `declare exchange "%s"`},
	{"delete exchange", Configure, func(id *Identity, n string) *broker.Error { return id.DeleteExchange(n) }, `delete exchange "%s"`},
	{"declare queue", Configure, func(id *Identity, n string) *broker.Error { return id.DeclareQueue(n, "") }, `declare queue "%s"`},
	{"delete queue", Configure, func(id *Identity, n string) *broker.Error { return id.DeleteQueue(n) }, `delete queue "%s"`},
	{"publish", Write, func(id *Identity, n string) *broker.Error { return id.Publish([]byte(n)) }, `publish to exchange "%s"`},
	{"consume", Read, func(id *Identity, n string) *broker.Error { return id.Consume(n) }, `consume from queue "%s"`},
	{"fetch", Read, func(id *Identity, n string) *broker.Error { return id.Fetch(n) }, `fetch from queue "%s"`},
	{"purge", Read, func(id *Identity, n string) *broker.Error { return id.Purge(n) }, `purge queue "%s"`},
}

// only grants kind k on everything and nothing else.
func only(k Kind) Permissions {
	var p Permissions
	switch k {
	case Configure:
		p.Configure = ".*"
	case Write:
		p.Write = ".*"
	case Read:
		p.Read = ".*"
	}
	return p
}

func TestOperationTableSingleResource(t *testing.T) {
	for _, o := range operationTable {
		for _, k := range []Kind{Configure, Write, Read} {
			db := mustDB(t, User{Name: "u", Permissions: map[string]Permissions{"vh": only(k)}})
			id := mustIdentity(t, db, "u", "vh")
			err := o.call(id, "res")
			if k == o.kind {
				if err != nil {
					t.Errorf("%s with only %s: refused: %v", o.name, k, err)
				}
				continue
			}
			if err == nil {
				t.Errorf("%s with only %s (needs %s): allowed", o.name, k, o.kind)
				continue
			}
			want := fmt.Sprintf(`access refused: user "u" may not `+o.verb+` in vhost "vh" (%s permission)`, "res", o.kind)
			if err.Code != broker.CodeAccessRefused || err.Msg != want {
				t.Errorf("%s with only %s: %v; want code 601 %q", o.name, k, err, want)
			}
		}
		// Deny wins over a grant of everything.
		p := Permissions{Configure: ".*", Write: ".*", Read: ".*"}
		switch o.kind {
		case Configure:
			p.Deny.Configure = "^res$"
		case Write:
			p.Deny.Write = "^res$"
		case Read:
			p.Deny.Read = "^res$"
		}
		id := mustIdentity(t, mustDB(t, User{Name: "u", Permissions: map[string]Permissions{"vh": p}}), "u", "vh")
		if err := o.call(id, "res"); err == nil || err.Code != broker.CodeAccessRefused {
			t.Errorf("%s: deny %s ^res$ over a grant of .*: %v, want refused", o.name, o.kind, err)
		}
		if err := o.call(id, "res2"); err != nil {
			t.Errorf("%s: deny ^res$ also refused res2: %v", o.name, err)
		}
		// Anonymous is allowed everything.
		if err := o.call(Anonymous(), "res"); err != nil {
			t.Errorf("%s: Anonymous refused: %v", o.name, err)
		}
	}
}

func TestDeclareQueueWithDeadLetterQueue(t *testing.T) {
	db := mustDB(t,
		User{Name: "both", Permissions: map[string]Permissions{"/": {Configure: "^q$", Write: "^dlq$"}}},
		User{Name: "noconf", Permissions: map[string]Permissions{"/": {Write: ".*"}}},
		User{Name: "nowrite", Permissions: map[string]Permissions{"/": {Configure: ".*", Read: ".*"}}},
		User{Name: "denied", Permissions: map[string]Permissions{"/": {Configure: ".*", Write: ".*", Deny: Deny{Write: ".*dlq"}}}},
	)
	if err := mustIdentity(t, db, "both", "/").DeclareQueue("q", "dlq"); err != nil {
		t.Errorf("configure on q and write on dlq: %v", err)
	}
	if err := mustIdentity(t, db, "both", "/").DeclareQueue("q", "other"); err == nil ||
		!strings.Contains(err.Msg, `may not dead-letter into queue "other"`) || !strings.Contains(err.Msg, "(write permission)") {
		t.Errorf("no write on the dead-letter queue: %v", err)
	}
	if err := mustIdentity(t, db, "noconf", "/").DeclareQueue("q", "dlq"); err == nil || !strings.Contains(err.Msg, `declare queue "q"`) {
		t.Errorf("no configure on the queue: %v", err)
	}
	if err := mustIdentity(t, db, "nowrite", "/").DeclareQueue("q", "dlq"); err == nil || err.Code != broker.CodeAccessRefused {
		t.Errorf("configure but no write on the dlq: %v", err)
	}
	if err := mustIdentity(t, db, "nowrite", "/").DeclareQueue("q", ""); err != nil {
		t.Errorf("no dead-letter queue needs no write: %v", err)
	}
	if err := mustIdentity(t, db, "denied", "/").DeclareQueue("q", "my-dlq"); err == nil {
		t.Error("deny write on the dlq did not win")
	}
}

func TestBindAndUnbindNeedWriteOnQueueAndReadOnExchange(t *testing.T) {
	db := mustDB(t,
		User{Name: "ok", Permissions: map[string]Permissions{"/": {Write: "^q$", Read: "^x$"}}},
		User{Name: "noread", Permissions: map[string]Permissions{"/": {Write: ".*", Configure: ".*"}}},
		User{Name: "nowrite", Permissions: map[string]Permissions{"/": {Read: ".*", Configure: ".*"}}},
		User{Name: "swapped", Permissions: map[string]Permissions{"/": {Write: "^x$", Read: "^q$"}}},
		User{Name: "denyx", Permissions: map[string]Permissions{"/": {Write: ".*", Read: ".*", Deny: Deny{Read: "^x$"}}}},
	)
	type bindFn func(id *Identity, x, q string) *broker.Error
	for _, b := range []struct {
		name string
		f    bindFn
	}{
		{"bind", func(id *Identity, x, q string) *broker.Error { return id.Bind(x, q) }},
		{"unbind", func(id *Identity, x, q string) *broker.Error { return id.Unbind(x, q) }},
	} {
		if err := b.f(mustIdentity(t, db, "ok", "/"), "x", "q"); err != nil {
			t.Errorf("%s with write on q and read on x: %v", b.name, err)
		}
		for _, u := range []string{"noread", "nowrite", "swapped", "denyx"} {
			err := b.f(mustIdentity(t, db, u, "/"), "x", "q")
			if err == nil || err.Code != broker.CodeAccessRefused {
				t.Errorf("%s as %s: %v, want refused", b.name, u, err)
			}
		}
		if err := b.f(mustIdentity(t, db, "noread", "/"), "x", "q"); err == nil || !strings.Contains(err.Msg, `exchange "x"`) || !strings.Contains(err.Msg, "(read permission)") {
			t.Errorf("%s without read on x: %v, want the exchange and read named", b.name, err)
		}
		if err := b.f(mustIdentity(t, db, "nowrite", "/"), "x", "q"); err == nil || !strings.Contains(err.Msg, `queue "q"`) || !strings.Contains(err.Msg, "(write permission)") {
			t.Errorf("%s without write on q: %v, want the queue and write named", b.name, err)
		}
	}
}

func TestExpressionSemantics(t *testing.T) {
	for _, c := range []struct {
		expr, deny string
		name       string
		allowed    bool
	}{
		{"", "", "orders", false}, // "" matches nothing
		{"", "", "", false},
		{".*", "", "orders", true},
		{"orders", "", "orders", true},
		{"orders", "", "old-orders", false}, // anchored: the whole name must match
		{"orders", "", "orders.eu", false},
		{"orders.*", "", "orders.eu", true},
		{"a|b", "", "a", true}, // alternation is grouped inside the anchors
		{"a|b", "", "xb", false},
		{"orders", "", "order", false},
		{"^orders$", "", "orders", true},
		{"^orders$", "", "old-orders", false},
		{"^orders$", "", "orders2", false},
		{"^orders", "", "orders.eu", false},
		{"^orders.*", "", "orders.eu", true},
		{".*", "", "", true},
		{".*", "secret", "top-secret-q", true}, // deny anchored too
		{".*", ".*secret.*", "top-secret-q", false},
		{".*", "^secret$", "top-secret-q", true},
		{".*", ".*", "anything", false}, // deny everything
		{"orders", "", "ORDERS", false}, // case-sensitive
	} {
		p := Permissions{Read: c.expr, Deny: Deny{Read: c.deny}}
		id := mustIdentity(t, mustDB(t, User{Name: "u", Permissions: map[string]Permissions{"/": p}}), "u", "/")
		got := id.Fetch(c.name) == nil
		if got != c.allowed {
			t.Errorf("read %q deny %q on %q: allowed = %v, want %v", c.expr, c.deny, c.name, got, c.allowed)
		}
	}
}

func TestPublishVerdictCache(t *testing.T) {
	// Write on names ending in an even digit, denied on names with "bad".
	p := Permissions{Write: ".*[02468]", Deny: Deny{Write: "bad.*"}}
	id := mustIdentity(t, mustDB(t, User{Name: "u", Permissions: map[string]Permissions{"/": p}}), "u", "/")
	want := func(name string) bool {
		last := name[len(name)-1]
		return strings.IndexByte("02468", last) >= 0 && !strings.Contains(name, "bad")
	}
	const n = 3*pubCacheMax + 17
	buf := make([]byte, 0, 32)
	for round := 0; round < 3; round++ {
		for i := 0; i < n; i++ {
			name := fmt.Sprintf("x%d", i)
			if i%7 == 0 {
				name = fmt.Sprintf("bad%d", i)
			}
			// The exchange bytes are a reused buffer, as the session's are:
			// the cache must not keep a reference to them.
			buf = append(buf[:0], name...)
			err := id.Publish(buf)
			if got := err == nil; got != want(name) {
				t.Fatalf("round %d: Publish(%q) allowed = %v, want %v", round, name, got, want(name))
			}
			if err != nil && (err.Code != broker.CodeAccessRefused || !strings.Contains(err.Msg, fmt.Sprintf("%q", name))) {
				t.Fatalf("Publish(%q) = %v: the refusal names another exchange", name, err)
			}
			if len(id.pubCache) > pubCacheMax {
				t.Fatalf("publish cache holds %d entries, bound %d", len(id.pubCache), pubCacheMax)
			}
			// Overwrite the buffer: a cache keyed by the caller's bytes
			// would now hold a corrupted key.
			for j := range buf {
				buf[j] = 'Z'
			}
		}
	}
	// A cached verdict is served for the same name, also after a reset.
	if e := id.Publish([]byte("bad0")); e == nil {
		t.Error("bad0 allowed from the cache")
	}
	if e := id.Publish([]byte("x2")); e != nil {
		t.Errorf("x2 refused: %v", e)
	}
	if e := id.Publish([]byte("x1")); e == nil {
		t.Error("x1 allowed")
	}
	// Two identities of one user do not share verdicts.
	id2 := mustIdentity(t, mustDB(t, User{Name: "u", Permissions: map[string]Permissions{"/": {Write: "^x1$"}}}), "u", "/")
	if id2.Publish([]byte("x1")) != nil || id2.Publish([]byte("x2")) == nil {
		t.Error("a second identity's verdicts are wrong")
	}
}

func TestSeeQueueExchangeBrokerWide(t *testing.T) {
	db := mustDB(t,
		User{Name: "reader", Permissions: map[string]Permissions{"/": {Read: "mine.*"}}},
		User{Name: "writer", Permissions: map[string]Permissions{"/": {Write: "mine.*"}}},
		User{Name: "configurer", Permissions: map[string]Permissions{"/": {Configure: "mine.*"}}},
		User{Name: "monitor", Tags: []string{TagMonitoring}, Permissions: map[string]Permissions{"/": {}}},
		User{Name: "admin", Tags: []string{TagAdministrator}, Permissions: map[string]Permissions{"/": {}}},
		User{Name: "manager", Tags: []string{TagManagement}, Permissions: map[string]Permissions{"/": {}}},
	)
	for _, c := range []struct {
		user                         string
		seeMineQ, seeOtherQ          bool
		seeMineX, seeOtherX, seeWide bool
	}{
		{"reader", true, false, true, false, false},
		{"writer", false, false, true, false, false}, // a queue needs read
		{"configurer", false, false, true, false, false},
		{"monitor", true, true, true, true, true},
		{"admin", true, true, true, true, true},
		{"manager", false, false, false, false, false}, // management alone shows nothing
	} {
		id := mustIdentity(t, db, c.user, "/")
		got := [5]bool{id.SeeQueue("mine.q"), id.SeeQueue("other"), id.SeeExchange("mine.x"), id.SeeExchange("other"), id.SeeBrokerWide()}
		want := [5]bool{c.seeMineQ, c.seeOtherQ, c.seeMineX, c.seeOtherX, c.seeWide}
		if got != want {
			t.Errorf("%s: SeeQueue(mine, other), SeeExchange(mine, other), SeeBrokerWide = %v, want %v", c.user, got, want)
		}
	}
	a := Anonymous()
	if !a.SeeQueue("any") || !a.SeeExchange("any") || !a.SeeBrokerWide() {
		t.Error("Anonymous sees less than everything")
	}
}

func TestOwnerLimits(t *testing.T) {
	defaults := Limits{MaxConnections: 10, MaxQueues: 20, MaxExchanges: 30, MaxBindings: 40, MaxConsumers: -1, MaxQueuedBytes: 1 << 20}
	db, err := NewDB(&File{Version: FileVersion, Users: []User{
		{Name: "plain", Permissions: map[string]Permissions{"/": {}}},
		{Name: "custom", Permissions: map[string]Permissions{"/": {}},
			Limits: Limits{MaxConnections: 1, MaxQueues: 2, MaxExchanges: -1, MaxBindings: 0, MaxConsumers: 5, MaxQueuedBytes: -1}},
	}}, defaults)
	if err != nil {
		t.Fatal(err)
	}
	plain := mustIdentity(t, db, "plain", "/")
	if plain.Limits != defaults {
		t.Errorf("plain limits = %+v, want the defaults %+v", plain.Limits, defaults)
	}
	if got, want := plain.Owner(), (broker.Owner{User: "plain", Limits: broker.UserLimits{Queues: 20, Exchanges: 30, Bindings: 40, Consumers: 0, QueuedBytes: 1 << 20}}); got != want {
		t.Errorf("plain Owner = %+v, want %+v (negative: no limit)", got, want)
	}
	custom := mustIdentity(t, db, "custom", "/")
	if want := (Limits{MaxConnections: 1, MaxQueues: 2, MaxExchanges: -1, MaxBindings: 40, MaxConsumers: 5, MaxQueuedBytes: -1}); custom.Limits != want {
		t.Errorf("custom limits = %+v, want %+v", custom.Limits, want)
	}
	if got, want := custom.Owner(), (broker.Owner{User: "custom", Limits: broker.UserLimits{Queues: 2, Exchanges: 0, Bindings: 40, Consumers: 5}}); got != want {
		t.Errorf("custom Owner = %+v, want %+v", got, want)
	}
	if got, want := Anonymous().Owner(), (broker.Owner{User: Guest}); got != want {
		t.Errorf("Anonymous Owner = %+v, want %+v", got, want)
	}
}

// TestNamesWithTheVhostSeparatorAreRefused: the core keeps another vhost's
// objects as vhost+"\x1f"+name, so a name with the separator is never a
// local name; granting it would let a client reach into another vhost.
func TestNamesWithTheVhostSeparatorAreRefused(t *testing.T) {
	db := mustDB(t, User{Name: "u", Tags: []string{TagAdministrator}, Permissions: map[string]Permissions{"/": {Configure: ".*", Write: ".*", Read: ".*"}}})
	spelled := broker.Qualify("tenant-a", "orders")
	for _, id := range []*Identity{mustIdentity(t, db, "u", "/"), Anonymous()} {
		for _, o := range operationTable {
			if err := o.call(id, spelled); err == nil || err.Code != broker.CodeAccessRefused {
				t.Errorf("%s as %s on %q: %v, want refused", o.name, id.User, spelled, err)
			}
			if err := o.call(id, "orders"); err != nil {
				t.Errorf("%s as %s on orders: %v", o.name, id.User, err)
			}
		}
		if id.DeclareQueue("q", spelled) == nil || id.Bind(spelled, "q") == nil || id.Bind("x", spelled) == nil || id.Unbind(spelled, "q") == nil {
			t.Errorf("%s: a dead-letter queue or binding names another vhost", id.User)
		}
	}
}

// TestOtherVhostSpellingIsNeverVisible: a name spelled with the vhost
// separator is never visible through stats or name lookups, whatever the
// grants (an unrestricted identity and a ".*" user alike).
func TestOtherVhostSpellingIsNeverVisible(t *testing.T) {
	db := mustDB(t, User{Name: "all", Tags: []string{TagMonitoring}, Permissions: map[string]Permissions{"/": {Configure: ".*", Write: ".*", Read: ".*"}}})
	foreign := broker.Qualify("tenant", "x")
	for _, id := range []*Identity{Anonymous(), mustIdentity(t, db, "all", "/")} {
		if !id.SeeExchange("x") {
			t.Fatalf("%s cannot see its own exchange", id.User)
		}
		if id.SeeExchange(foreign) || id.SeeQueue(foreign) || id.allows(Read, foreign) {
			t.Errorf("%s sees or is granted %q", id.User, foreign)
		}
	}
}

// Publishing to the default exchange "" needs write on the exchange named
// "" (as in RabbitMQ, where it is the default exchange's permission), not
// on the queue the routing key names: a pattern that matches "" grants it.
func TestDefaultExchangeNeedsWriteOnTheEmptyName(t *testing.T) {
	for _, c := range []struct {
		write, deny string
		allowed     bool
	}{
		{".*", "", true},
		{"^$", "", true},
		{"^(|orders)$", "", true},
		{"^orders$", "", false},
		{".+", "", false},
		{".*", "^$", false},
	} {
		p := Permissions{Write: c.write, Deny: Deny{Write: c.deny}}
		id := mustIdentity(t, mustDB(t, User{Name: "u", Permissions: map[string]Permissions{"/": p}}), "u", "/")
		err := id.Publish([]byte(""))
		if (err == nil) != c.allowed {
			t.Errorf("write %q deny %q: Publish(\"\") = %v, want allowed %v", c.write, c.deny, err, c.allowed)
		}
	}
}
