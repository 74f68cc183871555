package server

import (
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/audit"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

// TextProtocolMode says who may speak the reference text protocol, which
// carries no credentials.
type TextProtocolMode string

const (
	TextProtocolOff      TextProtocolMode = "off"      // refused everywhere
	TextProtocolLoopback TextProtocolMode = "loopback" // from loopback addresses only (the default)
	TextProtocolOn       TextProtocolMode = "on"       // from anywhere
)

// ParseTextProtocolMode parses off, loopback or on.
func ParseTextProtocolMode(s string) (TextProtocolMode, error) {
	switch m := TextProtocolMode(s); m {
	case TextProtocolOff, TextProtocolLoopback, TextProtocolOn:
		return m, nil
	}
	return "", fmt.Errorf("text protocol mode %q: use off, loopback or on", s)
}

// Defaults of AuthConfig.
const (
	DefaultAuthWorkers       = 2
	DefaultAuthQueue         = 256
	DefaultAuthPerSource     = 8
	DefaultAuthFailureLimit  = 10
	DefaultAuthFailureWindow = time.Minute
	maxThrottledSources      = 65_536
)

// DefaultUserLimits bound one user to a tenth of the broker-wide limits, so
// that no single user can take every slot.
var DefaultUserLimits = access.Limits{
	MaxConnections: DefaultMaxConnections / 10,
	MaxQueues:      broker.DefaultMaxQueues / 10,
	MaxExchanges:   broker.DefaultMaxExchanges / 10,
	MaxBindings:    broker.DefaultMaxBindings / 10,
	MaxConsumers:   broker.DefaultMaxConsumers / 10,
}

// AuthConfig configures users, anonymous access and the text protocol
// (docs/security.md).
type AuthConfig struct {
	// UsersFile is the users file (ciphermq user ...). Empty: the broker
	// has no users and every connection is the anonymous user guest,
	// allowed everything on vhost "/" — allowed only on loopback addresses
	// unless AllowAnonymous is set.
	UsersFile string
	// AllowAnonymous lets a broker without users listen on a non-loopback
	// address.
	AllowAnonymous bool
	// TextProtocol: off, loopback (default) or on.
	TextProtocol TextProtocolMode
	// TextUser is the user text connections act as (default guest).
	TextUser string
	// AllowPlainWithoutTLS accepts PLAIN passwords over unencrypted TCP
	// from non-loopback addresses.
	AllowPlainWithoutTLS bool
	// AuthWorkers bounds concurrent password verifications; the memory
	// they take is AuthWorkers × the hashes' argon2 memory (19 MiB with the
	// default parameters). AuthQueue bounds the verifications waiting for
	// a worker; beyond it a login is refused at once ("server busy").
	AuthWorkers int
	AuthQueue   int
	// AuthPerSource bounds the logins of one source address waiting for
	// or in verification, so one address cannot take the whole queue.
	AuthPerSource int
	// AuthFailureLimit failed logins from one source address within
	// AuthFailureWindow make further attempts from it fail at once, without
	// a verification, until the window has passed since the last failure.
	AuthFailureLimit  int
	AuthFailureWindow time.Duration
	// UserLimits fill the limits a user's entry leaves at zero.
	UserLimits access.Limits
}

func (a AuthConfig) withDefaults() AuthConfig {
	if a.TextProtocol == "" {
		a.TextProtocol = TextProtocolLoopback
	}
	if a.TextUser == "" {
		a.TextUser = access.Guest
	}
	if a.AuthWorkers <= 0 {
		a.AuthWorkers = DefaultAuthWorkers
	}
	if a.AuthQueue <= 0 {
		a.AuthQueue = DefaultAuthQueue
	}
	if a.AuthPerSource <= 0 {
		a.AuthPerSource = DefaultAuthPerSource
	}
	if a.AuthFailureLimit <= 0 {
		a.AuthFailureLimit = DefaultAuthFailureLimit
	}
	if a.AuthFailureWindow <= 0 {
		a.AuthFailureWindow = DefaultAuthFailureWindow
	}
	if a.UserLimits == (access.Limits{}) {
		a.UserLimits = DefaultUserLimits
	}
	return a
}

// DefaultUserMemoryShare is the default per-user memory share
// (access.Limits.MaxQueuedBytes) as a fraction of the memory high
// watermark: like the other per-user limits, a tenth of the broker's.
const DefaultUserMemoryShare = 0.1

// withMemoryShare fills the default memory share from the broker's high
// watermark (none without a budget).
func (a AuthConfig) withMemoryShare(high int64) AuthConfig {
	if a.UserLimits.MaxQueuedBytes == 0 && high > 0 {
		a.UserLimits.MaxQueuedBytes = max(1, int(float64(high)*DefaultUserMemoryShare))
	}
	return a
}

// validate refuses an insecure combination: a broker without users that
// listens beyond loopback, unless the operator said so.
func (a AuthConfig) validate(listens ...string) error {
	if _, err := ParseTextProtocolMode(string(a.withDefaults().TextProtocol)); err != nil {
		return err
	}
	if a.UsersFile != "" || a.AllowAnonymous {
		return nil
	}
	for _, l := range listens {
		if l == "" || l == "off" {
			continue
		}
		if !LoopbackAddress(l) {
			return fmt.Errorf("listening on %s with no users configured would let anyone who reaches it read, delete and forge every queue's messages: "+
				"create users (ciphermq user add NAME --file users.json; ciphermq user grant ...) and start with --users users.json, "+
				"or pass --allow-anonymous if this network is trusted", l)
		}
	}
	return nil
}

// LoopbackAddress reports whether a listen address ("host:port") binds
// loopback only: "localhost" or a loopback IP.
func LoopbackAddress(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loadUsers reads and compiles the users file; a missing file is an error
// (an operator who named one expects it to be used).
func loadUsers(path string, defaults access.Limits) (*access.DB, error) {
	f, err := userfile.Load(path)
	if err != nil {
		return nil, err
	}
	db, err := access.NewDB(f, defaults)
	if err != nil {
		return nil, fmt.Errorf("users file %s: %w", path, err)
	}
	return db, nil
}

// ReloadUsers rereads the users file. Connections keep the identity they
// authenticated with; new connections use the new file. A file that fails
// to load leaves the old users in force.
func (s *Server) ReloadUsers() error {
	if s.auth.cfg.UsersFile == "" {
		return nil
	}
	db, err := loadUsers(s.auth.cfg.UsersFile, s.auth.cfg.UserLimits)
	if err != nil {
		return err
	}
	s.auth.users.Store(db)
	s.httpLogins.forget()
	audit.Log(s.log, slog.LevelInfo, audit.Admin, "users file reloaded", "file", s.auth.cfg.UsersFile, "users", db.Len())
	return nil
}

// authState is the server's side of authentication: the users in force,
// the bounded verification pool, per-source throttling and per-user
// connection counts.
type authState struct {
	cfg   AuthConfig
	users atomic.Pointer[access.DB]
	sem   chan struct{} // one token per running verification
	queue chan struct{} // one token per waiting or running verification

	mu       sync.Mutex
	failures map[string]*failures // by source IP
	inflight map[string]int       // logins waiting for or in verification, by source IP

	perUser  map[string]int           // (Server.mu) connections per user
	connUser map[broker.ConnID]string // (Server.mu) admitted connections
	vhostOf  map[broker.ConnID]string // (Server.mu) their vhosts, for management listings
}

type failures struct {
	n    int
	last time.Time
}

func newAuthState(cfg AuthConfig) (*authState, error) {
	a := &authState{
		cfg:      cfg,
		sem:      make(chan struct{}, cfg.AuthWorkers),
		queue:    make(chan struct{}, cfg.AuthQueue+cfg.AuthWorkers),
		failures: make(map[string]*failures),
		inflight: make(map[string]int),
		perUser:  make(map[string]int),
		connUser: make(map[broker.ConnID]string),
		vhostOf:  make(map[broker.ConnID]string),
	}
	if cfg.UsersFile != "" {
		db, err := loadUsers(cfg.UsersFile, cfg.UserLimits)
		if err != nil {
			return nil, err
		}
		a.users.Store(db)
	}
	return a, nil
}

// admit enforces the per-user connection limit (Server.mu held: sessions
// call it from Feed).
func (a *authState) admit(conn broker.ConnID, id *access.Identity) *broker.Error {
	if limit := id.Limits.MaxConnections; limit > 0 && a.perUser[id.User] >= limit {
		return broker.Errorf(broker.CodeResourceLimit, "user %q already has %d connections, its limit: close some first", id.User, a.perUser[id.User])
	}
	a.perUser[id.User]++
	a.connUser[conn] = id.User
	a.vhostOf[conn] = id.Vhost
	return nil
}

// release forgets an admitted connection (Server.mu held).
func (a *authState) release(conn broker.ConnID) {
	u, ok := a.connUser[conn]
	if !ok {
		return
	}
	delete(a.connUser, conn)
	delete(a.vhostOf, conn)
	if a.perUser[u]--; a.perUser[u] <= 0 {
		delete(a.perUser, u)
	}
}

// enter counts a login of source into verification; false when source
// already has AuthPerSource of them.
func (a *authState) enter(source string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight[source] >= a.cfg.AuthPerSource {
		return false
	}
	a.inflight[source]++
	return true
}

func (a *authState) leave(source string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight[source]--; a.inflight[source] <= 0 {
		delete(a.inflight, source)
	}
}

// throttled reports whether source has failed too often recently.
func (a *authState) throttled(source string, now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[source]
	if f == nil {
		return false
	}
	if now.Sub(f.last) >= a.cfg.AuthFailureWindow {
		delete(a.failures, source)
		return false
	}
	return f.n >= a.cfg.AuthFailureLimit
}

// failed records a failed login from source. The table is bounded: when
// full, expired entries go, and if none has expired the oldest half goes.
func (a *authState) failed(source string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	f := a.failures[source]
	if f == nil {
		if len(a.failures) >= maxThrottledSources {
			a.pruneLocked(now)
		}
		f = &failures{}
		a.failures[source] = f
	}
	if now.Sub(f.last) >= a.cfg.AuthFailureWindow {
		f.n = 0
	}
	f.n++
	f.last = now
}

func (a *authState) pruneLocked(now time.Time) {
	for k, f := range a.failures {
		if now.Sub(f.last) >= a.cfg.AuthFailureWindow {
			delete(a.failures, k)
		}
	}
	if len(a.failures) < maxThrottledSources {
		return
	}
	type kv struct {
		k string
		t time.Time
	}
	all := make([]kv, 0, len(a.failures))
	for k, f := range a.failures {
		all = append(all, kv{k, f.last})
	}
	slices.SortFunc(all, func(x, y kv) int { return x.t.Compare(y.t) })
	for _, e := range all[:len(all)/2] {
		delete(a.failures, e.k)
	}
}

// sourceOf is the throttling key of a remote address: its IP.
func sourceOf(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// pollAuth hands a session's pending password check to the verification
// pool (Server.mu held).
func (s *Server) pollAuth(c *conn) {
	chk, ok := c.lc.TakePasswordCheck()
	if !ok {
		return
	}
	source := sourceOf(c.remote)
	if !s.auth.enter(source) {
		audit.Log(s.log, slog.LevelWarn, audit.AuthFailure, "login refused: too many logins in verification from this address", "remote", c.remote, "user", chk.User, "limit", s.auth.cfg.AuthPerSource)
		c.lc.PasswordChecked(false, time.Now())
		return
	}
	select {
	case s.auth.queue <- struct{}{}:
	default:
		s.auth.leave(source)
		// Every slot is taken: refuse at once instead of queueing without
		// bound (the client sees an authentication failure and may retry).
		audit.Log(s.log, slog.LevelWarn, audit.AuthFailure, "login refused: password verification queue full", "remote", c.remote, "user", chk.User)
		c.lc.PasswordChecked(false, time.Now())
		return
	}
	s.active.Add(1)
	go s.verify(c, chk)
}

// verify runs one password check on the pool and reports the verdict to
// the session. An unknown user is verified against a dummy hash, so the
// answer takes as long as for a wrong password.
func (s *Server) verify(c *conn, chk protocol.PasswordCheck) {
	source := sourceOf(c.remote)
	defer s.active.Done()
	defer s.auth.leave(source)
	defer func() { <-s.auth.queue }()
	ok := false
	if s.auth.throttled(source, time.Now()) {
		audit.Log(s.log, slog.LevelWarn, audit.AuthFailure, "login refused: too many failed logins from this address", "remote", c.remote, "user", chk.User,
			"limit", s.auth.cfg.AuthFailureLimit, "window", s.auth.cfg.AuthFailureWindow)
	} else {
		select {
		case s.auth.sem <- struct{}{}:
		case <-c.done:
			return
		}
		phc := chk.PHC
		if phc == "" {
			phc = access.DummyPHC()
		}
		good, err := access.VerifyPassword(phc, chk.Password)
		<-s.auth.sem
		if err != nil {
			s.log.Error("password verification failed", "user", chk.User, "err", err)
		}
		ok = good && err == nil && chk.PHC != ""
	}
	clear(chk.Password)
	if !ok {
		s.auth.failed(source, time.Now())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.gone {
		return
	}
	now := time.Now()
	c.lc.PasswordChecked(ok, now)
	s.settle(now)
}

// textAllowed applies the text protocol mode to a new connection.
func (s *Server) textAllowed(c *conn) bool {
	switch s.auth.cfg.TextProtocol {
	case TextProtocolOn:
		return true
	case TextProtocolLoopback:
		return c.peer.Loopback
	}
	return false
}

// refuseText answers a text connection the mode does not allow with one
// error line, and closes it.
func (c *conn) refuseText() {
	msg := "Error: the text protocol is disabled on this broker (it carries no credentials); use the native protocol\n"
	if c.s.auth.cfg.TextProtocol == TextProtocolLoopback {
		msg = "Error: the text protocol is accepted from loopback addresses only (it carries no credentials); use the native protocol\n"
	}
	c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.WriteTimeout))
	c.nc.Write([]byte(msg))
	c.s.log.Warn("text connection refused", "remote", c.remote, "text_protocol", string(c.s.auth.cfg.TextProtocol))
	c.teardown("text protocol not allowed from this address")
}

// peerOf describes a connection for its session.
func (s *Server) peerOf(c *conn) protocol.Peer {
	return protocol.Peer{Remote: c.peer.Remote, Loopback: c.peer.Loopback, TLS: c.peer.TLS, CertIdentity: c.peer.CertIdentity}
}

// FileAuthConfig is the config file's part for AuthConfig.
type FileAuthConfig struct {
	UsersFile            *string   `json:"users_file,omitempty"`
	AllowAnonymous       *bool     `json:"allow_anonymous,omitempty"`
	TextProtocol         *string   `json:"text_protocol,omitempty"` // off, loopback or on
	TextUser             *string   `json:"text_user,omitempty"`
	AllowPlainWithoutTLS *bool     `json:"allow_plain_without_tls,omitempty"`
	AuthWorkers          *int      `json:"auth_workers,omitempty"`
	AuthPerSource        *int      `json:"auth_per_source,omitempty"`
	AuthFailureLimit     *int      `json:"auth_failure_limit,omitempty"`
	AuthFailureWindow    *Duration `json:"auth_failure_window,omitempty"`
}

func (f *FileAuthConfig) applyAuth(a *AuthConfig) error {
	if f.TextProtocol != nil {
		m, err := ParseTextProtocolMode(*f.TextProtocol)
		if err != nil {
			return err
		}
		a.TextProtocol = m
	}
	if f.UsersFile != nil {
		a.UsersFile = *f.UsersFile
	}
	if f.AllowAnonymous != nil {
		a.AllowAnonymous = *f.AllowAnonymous
	}
	if f.TextUser != nil {
		a.TextUser = *f.TextUser
	}
	if f.AllowPlainWithoutTLS != nil {
		a.AllowPlainWithoutTLS = *f.AllowPlainWithoutTLS
	}
	if f.AuthWorkers != nil {
		a.AuthWorkers = *f.AuthWorkers
	}
	if f.AuthPerSource != nil {
		a.AuthPerSource = *f.AuthPerSource
	}
	if f.AuthFailureLimit != nil {
		a.AuthFailureLimit = *f.AuthFailureLimit
	}
	if f.AuthFailureWindow != nil {
		a.AuthFailureWindow = time.Duration(*f.AuthFailureWindow)
	}
	return nil
}
