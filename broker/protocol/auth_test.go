package protocol_test

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/protocol"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Authentication and authorisation through the sessions, driven by the
// in-memory world. The test plays the driver's part in PLAIN: it takes the
// password check, verifies it with access.VerifyPassword (the dummy hash
// for an unknown user) and reports the verdict.

// testArgon2 keeps hashing cheap in tests; the salt is fixed so runs are
// deterministic.
var (
	testArgon2 = access.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	testSalt   = []byte("ciphermq-test-sa")
)

// authUser is a user of a test users database.
type authUser struct {
	name, password string // "" password: none (EXTERNAL or text only)
	tags           []string
	perms          map[string]access.Permissions
	limits         access.Limits
}

// all grants everything.
var all = access.Permissions{Configure: ".*", Write: ".*", Read: ".*"}

// withUsers installs a users database built from users with real argon2id
// hashes, and returns it.
func withUsers(t *testing.T, w *world, users ...authUser) *access.DB {
	t.Helper()
	f := &access.File{Version: access.FileVersion}
	for _, u := range users {
		au := access.User{Name: u.name, Tags: u.tags, Permissions: u.perms, Limits: u.limits}
		if u.password != "" {
			h, err := access.HashPassword([]byte(u.password), testSalt, testArgon2)
			if err != nil {
				t.Fatal(err)
			}
			au.PasswordHash = h
		}
		f.Users = append(f.Users, au)
	}
	db, err := access.NewDB(f, access.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	w.cfg.Users = func() *access.DB { return db }
	return db
}

// nativeFrom opens a native session for a peer the test describes.
func (w *world) nativeFrom(peer protocol.Peer) (broker.ConnID, *protocol.Native) {
	w.next++
	s := protocol.NewNativeFrom(w.core, w.next, w.cfg, peer, w.now)
	w.sessions[w.next] = s
	return w.next, s
}

// send feeds in to s like feed, but a session that closes is fine: the
// test looks at what it answered.
func (w *world) send(s protocol.Session, in []byte) {
	w.t.Helper()
	n, err := s.Feed(in, w.now)
	w.settle()
	if closed, _ := s.Closed(); err == nil && !closed && n != len(in) {
		w.t.Fatalf("Feed consumed %d of %d bytes", n, len(in))
	}
}

// helloAuth is the preamble, a Hello asking for authentication and the
// Auth frame.
func helloAuth(a *wire.Auth) []byte {
	in := wire.AppendPreamble(nil)
	in = wire.AppendHello(in, &wire.Hello{Version: wire.ProtocolVersion, ClientName: "test", Features: wire.FeatureAuth})
	return wire.AppendAuth(in, a)
}

func plain(user, password, vhost string) *wire.Auth {
	return &wire.Auth{Mechanism: "PLAIN", Vhost: vhost, Response: wire.PlainResponse(user, password)}
}

// verify plays the driver: it takes the session's password check (which
// must be there, once) and reports the verdict of access.VerifyPassword.
func verify(t *testing.T, w *world, s *protocol.Native) {
	t.Helper()
	c, ok := s.TakePasswordCheck()
	if !ok {
		t.Fatal("no password check to take")
	}
	if _, again := s.TakePasswordCheck(); again {
		t.Fatal("the password check was handed out twice")
	}
	phc := c.PHC
	if phc == "" {
		phc = access.DummyPHC()
	}
	good, err := access.VerifyPassword(phc, c.Password)
	if err != nil {
		t.Fatalf("VerifyPassword: %v", err)
	}
	s.PasswordChecked(good && c.PHC != "", w.now)
	w.settle()
}

// only1 decodes out as exactly one frame.
func only1(t *testing.T, out []byte) wire.Frame {
	t.Helper()
	fs := frames(t, out)
	if len(fs) != 1 {
		t.Fatalf("got %d frames %#v, want 1", len(fs), fs)
	}
	return fs[0]
}

// wantHelloOK requires that s answered HelloOK and is open.
func wantHelloOK(t *testing.T, w *world, s *protocol.Native) {
	t.Helper()
	if _, ok := only1(t, w.take(s)).(*wire.HelloOK); !ok {
		t.Fatal("no HelloOK")
	}
	if closed, why := s.Closed(); closed {
		t.Fatalf("closed after HelloOK: %s", why)
	}
}

// wantFatal requires that s answered one Error with code and closed; it
// returns the Error frame's bytes.
func wantFatal(t *testing.T, w *world, s *protocol.Native, code broker.Code) []byte {
	t.Helper()
	out := w.take(s)
	e, ok := only1(t, out).(*wire.Error)
	if !ok || e.Code != uint16(code) || e.ReqID != 0 {
		t.Fatalf("got %#v, want an Error with code %d", only1(t, out), code)
	}
	if closed, _ := s.Closed(); !closed {
		t.Fatalf("code %d (%s) but the session is open", code, e.Message)
	}
	return out
}

// login opens a native session as user on vhost with PLAIN.
func login(t *testing.T, w *world, user, password, vhost string) *protocol.Native {
	t.Helper()
	_, s := w.native()
	w.send(s, helloAuth(plain(user, password, vhost)))
	verify(t, w, s)
	wantHelloOK(t, w, s)
	return s
}

func TestAuthAnonymousOnlyWithoutUsers(t *testing.T) {
	w := newWorld(t, broker.Config{})
	openNative(t, w) // no users: Hello without auth is HelloOK

	withUsers(t, w, authUser{name: "alice", password: "pw", perms: map[string]access.Permissions{"/": all}})
	_, s := w.native()
	before := w.core.Stats().Connections
	in := wire.AppendPreamble(nil)
	in = wire.AppendHello(in, &wire.Hello{Version: wire.ProtocolVersion, ClientName: "test"})
	w.send(s, in)
	wantFatal(t, w, s, broker.CodeAuthFailed)
	if got := w.core.Stats().Connections; got != before {
		t.Errorf("a refused connection reached the core: %d connections, want %d", got, before)
	}
}

func TestAuthNoUsersIgnoresCredentials(t *testing.T) {
	w := newWorld(t, broker.Config{})
	_, s := w.native()
	w.send(s, helloAuth(plain("anyone", "anything", "")))
	wantHelloOK(t, w, s)
	if _, ok := s.TakePasswordCheck(); ok {
		t.Error("a broker without users asked for a password check")
	}
	_, s = w.native()
	w.send(s, helloAuth(plain("anyone", "anything", "tenant-a")))
	wantFatal(t, w, s, broker.CodeAccessRefused)
}

func TestAuthPlain(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w,
		authUser{name: "alice", password: "correct horse", perms: map[string]access.Permissions{"/": all}},
		authUser{name: "nopass", perms: map[string]access.Permissions{"/": all}},
	)

	// The right password: nothing until the driver says so, then HelloOK.
	_, s := w.native()
	w.send(s, helloAuth(plain("alice", "correct horse", "")))
	if out := w.take(s); len(out) != 0 {
		t.Fatalf("answered %#v before the password was verified", frames(t, out))
	}
	if w.core.Stats().Connections != 0 {
		t.Fatal("the connection reached the core before the password was verified")
	}
	c, ok := s.TakePasswordCheck()
	if !ok || c.User != "alice" || string(c.Password) != "correct horse" || c.PHC == "" {
		t.Fatalf("TakePasswordCheck = %+v, %v", c, ok)
	}
	if _, again := s.TakePasswordCheck(); again {
		t.Fatal("second TakePasswordCheck returned a check")
	}
	good, err := access.VerifyPassword(c.PHC, c.Password)
	if err != nil || !good {
		t.Fatalf("VerifyPassword = %v, %v", good, err)
	}
	s.PasswordChecked(true, w.now)
	wantHelloOK(t, w, s)
	if w.core.Stats().Connections != 1 {
		t.Fatal("the authenticated connection is not open on the core")
	}
	// A late or repeated verdict changes nothing.
	s.PasswordChecked(false, w.now)
	if closed, _ := s.Closed(); closed || len(s.Output()) != 0 {
		t.Fatal("a second verdict affected an open session")
	}

	// A wrong password, an unknown user and a user without a password get
	// the same bytes.
	var answers [][]byte
	for _, cred := range [][2]string{{"alice", "wrong"}, {"mallory", "correct horse"}, {"nopass", ""}, {"nopass", "x"}} {
		_, s := w.native()
		w.send(s, helloAuth(plain(cred[0], cred[1], "")))
		verify(t, w, s)
		answers = append(answers, wantFatal(t, w, s, broker.CodeAuthFailed))
	}
	for i := range answers {
		if !bytes.Equal(answers[i], answers[0]) {
			t.Errorf("answer %d differs from a wrong password's:\n%q\n%q", i, answers[i], answers[0])
		}
	}
	if w.core.Stats().Connections != 1 {
		t.Error("a failed login reached the core")
	}
	// A user without a password stays out even if a (buggy) driver
	// reports the password good.
	_, s = w.native()
	w.send(s, helloAuth(plain("nopass", "anything", "")))
	if c, ok := s.TakePasswordCheck(); !ok || c.PHC != "" {
		t.Fatalf("check for a user without a password: %+v, %v", c, ok)
	}
	s.PasswordChecked(true, w.now)
	wantFatal(t, w, s, broker.CodeAuthFailed)
}

func TestAuthFrameWhileVerifyingIsAProtocolError(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w, authUser{name: "alice", password: "pw", perms: map[string]access.Permissions{"/": all}})
	_, s := w.native()
	in := helloAuth(plain("alice", "pw", ""))
	in = append(in, publishFrame(1, "early")...)
	w.send(s, in)
	wantFatal(t, w, s, broker.CodeProtocol)
	// The check handed out before cannot open the connection any more.
	if _, ok := s.TakePasswordCheck(); ok {
		t.Error("a closed session still hands out its password check")
	}
	s.PasswordChecked(true, w.now)
	if len(s.Output()) != 0 || w.core.Stats().Connections != 0 {
		t.Error("a verdict after the close opened the connection")
	}
}

func TestAuthPlainNeedsTLSOffLoopback(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w, authUser{name: "alice", password: "pw", perms: map[string]access.Permissions{"/": all}})
	remote := protocol.Peer{Remote: "203.0.113.7:5000"}

	_, s := w.nativeFrom(remote)
	w.send(s, helloAuth(plain("alice", "pw", "")))
	if _, ok := s.TakePasswordCheck(); ok {
		t.Error("PLAIN without TLS from a remote peer was handed to the driver")
	}
	wantFatal(t, w, s, broker.CodeAuthFailed)

	tls := remote
	tls.TLS = true
	_, s = w.nativeFrom(tls)
	w.send(s, helloAuth(plain("alice", "pw", "")))
	verify(t, w, s)
	wantHelloOK(t, w, s)

	w.cfg.AllowPlainWithoutTLS = true
	_, s = w.nativeFrom(remote)
	w.send(s, helloAuth(plain("alice", "pw", "")))
	verify(t, w, s)
	wantHelloOK(t, w, s)
}

func TestAuthExternal(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w,
		authUser{name: "svc", perms: map[string]access.Permissions{"/": all}},
		authUser{name: "other", perms: map[string]access.Permissions{"tenant-b": all}},
	)
	ext := func(resp, vhost string) *wire.Auth {
		return &wire.Auth{Mechanism: "EXTERNAL", Vhost: vhost, Response: []byte(resp)}
	}
	for _, c := range []struct {
		name string
		peer protocol.Peer
		auth *wire.Auth
		code broker.Code // 0: HelloOK
	}{
		{"certificate of a known user", protocol.Peer{TLS: true, CertIdentity: "svc"}, ext("", ""), 0},
		{"requested identity matches", protocol.Peer{TLS: true, CertIdentity: "svc"}, ext("svc", "/"), 0},
		{"no certificate", protocol.Peer{TLS: true, Loopback: true}, ext("", ""), broker.CodeAuthFailed},
		{"no certificate, identity requested", protocol.Peer{TLS: true}, ext("svc", ""), broker.CodeAuthFailed},
		{"requested identity mismatch", protocol.Peer{TLS: true, CertIdentity: "svc"}, ext("other", ""), broker.CodeAuthFailed},
		{"unknown certificate identity", protocol.Peer{TLS: true, CertIdentity: "ghost"}, ext("", ""), broker.CodeAuthFailed},
		{"no permissions on the vhost", protocol.Peer{TLS: true, CertIdentity: "other"}, ext("", "/"), broker.CodeAccessRefused},
		{"unknown vhost", protocol.Peer{TLS: true, CertIdentity: "svc"}, ext("", "nowhere"), broker.CodeAccessRefused},
		{"unknown mechanism", protocol.Peer{TLS: true, CertIdentity: "svc"}, &wire.Auth{Mechanism: "ANONYMOUS"}, broker.CodeAuthFailed},
		{"lower-case mechanism", protocol.Peer{TLS: true, CertIdentity: "svc"}, &wire.Auth{Mechanism: "external"}, broker.CodeAuthFailed},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, s := w.nativeFrom(c.peer)
			w.send(s, helloAuth(c.auth))
			if _, ok := s.TakePasswordCheck(); ok {
				t.Fatal("EXTERNAL asked the driver for a password check")
			}
			if c.code == 0 {
				wantHelloOK(t, w, s)
				return
			}
			wantFatal(t, w, s, c.code)
		})
	}
}

func TestAuthPlainVhost(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w, authUser{name: "alice", password: "pw", perms: map[string]access.Permissions{"tenant-a": all}})
	_, s := w.native()
	w.send(s, helloAuth(plain("alice", "pw", "")))
	verify(t, w, s)
	wantFatal(t, w, s, broker.CodeAccessRefused)
	login(t, w, "alice", "pw", "tenant-a")
}

func TestAuthAdmitHook(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w,
		authUser{name: "alice", password: "pw", perms: map[string]access.Permissions{"/": all}},
		authUser{name: "bob", password: "pw2", perms: map[string]access.Permissions{"/": all}},
	)
	var asked []string
	w.cfg.Admit = func(_ broker.ConnID, id *access.Identity) *broker.Error {
		asked = append(asked, id.User+"@"+id.Vhost)
		if id.User == "bob" {
			return broker.Errorf(broker.CodeResourceLimit, "user %q has too many connections", id.User)
		}
		return nil
	}
	login(t, w, "alice", "pw", "")
	_, s := w.native()
	w.send(s, helloAuth(plain("bob", "pw2", "")))
	verify(t, w, s)
	out := wantFatal(t, w, s, broker.CodeResourceLimit)
	if !strings.Contains(only1(t, out).(*wire.Error).Message, "too many connections") {
		t.Errorf("the refusal does not carry Admit's message: %q", out)
	}
	if !reflect.DeepEqual(asked, []string{"alice@/", "bob@/"}) {
		t.Errorf("Admit asked for %q", asked)
	}
	if w.core.Stats().Connections != 1 {
		t.Error("a connection Admit refused reached the core")
	}
	// A wrong password is refused before Admit is asked.
	_, s = w.native()
	w.send(s, helloAuth(plain("bob", "nope", "")))
	verify(t, w, s)
	wantFatal(t, w, s, broker.CodeAuthFailed)
	if len(asked) != 2 {
		t.Errorf("Admit was asked about a failed login: %q", asked)
	}
	// Text connections ask Admit too.
	w.cfg.TextUser = "bob"
	_, txt := w.text()
	if closed, _ := txt.Closed(); !closed {
		t.Error("a text connection Admit refused is open")
	}
	if got := lines(t, w.take(txt)); len(got) != 1 || !strings.Contains(got[0], "too many connections") {
		t.Errorf("text refusal: %q", got)
	}
}

func TestAuthHandshakeTimeoutWhileVerifying(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w, authUser{name: "alice", password: "pw", perms: map[string]access.Permissions{"/": all}})
	_, s := w.native()
	w.send(s, helloAuth(plain("alice", "pw", "")))
	c, ok := s.TakePasswordCheck()
	if !ok {
		t.Fatal("no password check")
	}
	w.advance(w.cfg.HandshakeTimeout)
	wantFatal(t, w, s, broker.CodeTimeout)
	good, _ := access.VerifyPassword(c.PHC, c.Password)
	s.PasswordChecked(good, w.now) // the driver's verdict arrives too late
	if len(s.Output()) != 0 || w.core.Stats().Connections != 0 {
		t.Error("a verdict after the handshake timeout opened the connection")
	}
}

func TestAuthTextUser(t *testing.T) {
	w := newWorld(t, broker.Config{})
	withUsers(t, w, authUser{name: "alice", password: "pw", perms: map[string]access.Permissions{"tenant-a": all}})
	// The default text user guest is not in the database: refused.
	_, s := w.text()
	if closed, _ := s.Closed(); !closed {
		t.Fatal("text connection open as a user the database does not have")
	}
	if got := lines(t, w.take(s)); len(got) != 1 || !strings.Contains(got[0], `act as user "guest"`) {
		t.Errorf("text refusal %q", got)
	}
	// A text user without permissions on "/": refused too.
	w.cfg.TextUser = "alice"
	_, s = w.text()
	if closed, _ := s.Closed(); !closed {
		t.Fatal("text connection open as a user without permissions on /")
	}
	if w.core.Stats().Connections != 0 {
		t.Error("refused text connections reached the core")
	}
}
