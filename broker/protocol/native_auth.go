package protocol

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/audit"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// Authentication (docs/protocol.md §2a). A Hello without FeatureAuth is
// anonymous: accepted as the user guest only on a broker without users. A
// Hello with FeatureAuth is followed by an Auth frame:
//
//   - EXTERNAL: the identity is the one the driver took from the verified
//     TLS client certificate (Peer.CertIdentity).
//   - PLAIN: the password is verified by the driver, off the lock every
//     session shares (argon2id costs tens of milliseconds and megabytes):
//     the session hands it out with TakePasswordCheck and waits for
//     PasswordChecked. Meanwhile it accepts no frame.
//
// Success answers HelloOK; failure answers an Error with CodeAuthFailed and
// closes. An unknown user and a wrong password get the same answer, and
// the driver verifies an unknown user's password against a dummy hash so
// that both take the same time.

// PasswordCheck is a PLAIN password for the driver to verify.
type PasswordCheck struct {
	User     string
	Password []byte
	// PHC is the user's stored argon2id hash; "" when the user is unknown
	// or has no password: the driver must then verify against a dummy
	// hash (access.DummyPHC) and report failure, so the answer takes as
	// long as for a wrong password.
	PHC string
}

// Authenticator is implemented by sessions that can wait for a password
// verification (*Native).
type Authenticator interface {
	// TakePasswordCheck returns the verification the session waits for,
	// once; false when there is none to start.
	TakePasswordCheck() (PasswordCheck, bool)
	// PasswordChecked delivers the verdict of the verification taken.
	PasswordChecked(ok bool, now time.Time)
}

var _ Authenticator = (*Native)(nil)

// pendingAuth is an authentication in progress.
type pendingAuth struct {
	hello     wire.HelloOK // sent once authenticated
	mechanism string
	user      string
	vhost     string
	db        *access.DB // the users database the attempt started with
	check     PasswordCheck
	ready     bool // check is waiting for TakePasswordCheck
}

// errAuthFailed is the one answer to every failed credential.
var errAuthFailed = errors.New("authentication failed: unknown user or wrong password")

// hello negotiates the connection parameters. The HelloOK waits for
// authentication.
func (n *Native) hello(p []byte, now time.Time) error {
	var f wire.Hello
	if err := wire.DecodeHello(p, &f); err != nil {
		return n.malformed(err)
	}
	if f.Version != wire.ProtocolVersion {
		return n.fail(0, broker.CodeProtocol, &wire.VersionError{Version: uint8(min(f.Version, 255))})
	}
	// Heartbeat: the shorter of the two proposals, so the side that needs
	// faster failure detection gets it; the server's when the client has none.
	hb := n.cfg.Heartbeat
	if proposed := time.Duration(f.HeartbeatMs) * time.Millisecond; proposed > 0 && (hb <= 0 || proposed < hb) {
		hb = proposed
	}
	if hb < 0 {
		hb = 0
	}
	n.heartbeat = hb
	frame := uint64(n.cfg.MaxFrameSize)
	if f.MaxFrameSize > 0 && f.MaxFrameSize < frame {
		frame = max(f.MaxFrameSize, wire.MinMaxFrameSize)
	}
	// Feature bits are a negotiation: unknown ones are not an error, the
	// answer names those both sides support. Authentication is not
	// optional for the server: a client asking for it always gets it.
	wantsAuth := f.Features&wire.FeatureAuth != 0
	features := f.Features & n.cfg.Features &^ wire.FeatureAuth
	if wantsAuth {
		features |= wire.FeatureAuth
	}
	n.prefixes = features&wire.FeatureSharedPrefixes != 0
	n.durability = features&wire.FeatureConfirmDurability != 0
	n.reasons = features&wire.FeatureRejectReasons != 0
	n.statsCursor = features&wire.FeatureStatsCursor != 0
	n.frameLimit = int(min(frame, uint64(n.cfg.MaxFrameSize)))
	n.auth.hello = wire.HelloOK{
		ServerName:     n.cfg.ServerName,
		HeartbeatMs:    uint64(hb / time.Millisecond),
		MaxFrameSize:   frame,
		MaxMessageSize: uint64(n.cfg.MaxMessageSize),
		Features:       features,
	}
	n.log.Debug("native hello", "client", f.ClientName, "heartbeat", hb, "max_frame", frame, "auth", wantsAuth)
	if wantsAuth {
		n.state = awaitAuth
		return nil
	}
	if n.cfg.users() != nil {
		return n.authFail("authentication required: this broker has users; send Auth (PLAIN or EXTERNAL) after Hello", "no credentials")
	}
	return n.authenticated(access.Anonymous(), "ANONYMOUS", now)
}

// authFrame starts the mechanism the client chose.
func (n *Native) authFrame(p []byte, now time.Time) error {
	var f wire.Auth
	if err := wire.DecodeAuth(p, &f); err != nil {
		return n.malformed(err)
	}
	vhost := f.Vhost
	if vhost == "" {
		vhost = access.DefaultVhost
	}
	if e := broker.ValidateVhost(vhost); e != nil {
		return n.fail(0, e.Code, e)
	}
	n.auth.mechanism, n.auth.vhost = f.Mechanism, vhost
	db := n.cfg.users()
	if db == nil {
		// No users: everyone is guest; the credentials prove nothing here.
		n.log.Debug("credentials ignored: the broker has no users", "mechanism", f.Mechanism)
		if vhost != access.DefaultVhost {
			return n.fail(0, broker.CodeAccessRefused, fmt.Errorf("access refused: a broker without users has only the vhost %q", access.DefaultVhost))
		}
		return n.authenticated(access.Anonymous(), f.Mechanism, now)
	}
	n.auth.db = db
	switch f.Mechanism {
	case "PLAIN":
		if !n.peer.TLS && !n.peer.Loopback && !n.cfg.AllowPlainWithoutTLS {
			return n.authFail("PLAIN over unencrypted TCP from a non-loopback address is refused: connect with TLS (or the operator allows it explicitly)", "plain without TLS")
		}
		user, password, err := wire.ParsePlainResponse(f.Response)
		if err != nil {
			return n.authFail("authentication failed: malformed PLAIN response", err.Error())
		}
		n.auth.user = user
		phc, _ := db.PasswordHash(user)
		n.auth.check = PasswordCheck{User: user, Password: []byte(password), PHC: phc}
		n.auth.ready = true
		n.state = verifying
		return nil
	case "EXTERNAL":
		id := n.peer.CertIdentity
		if id == "" {
			return n.authFail("EXTERNAL needs a verified TLS client certificate: connect with one, or use PLAIN", "no client certificate")
		}
		n.auth.user = id
		if len(f.Response) > 0 && string(f.Response) != id {
			return n.authFail("authentication failed: the certificate's identity is not the one requested", fmt.Sprintf("requested %q, certificate says %q", f.Response, id))
		}
		if !db.Exists(id) {
			return n.authFail(errAuthFailed.Error(), "no such user")
		}
		return n.identify(now)
	}
	return n.authFail(fmt.Sprintf("authentication failed: unknown mechanism %q: use PLAIN or EXTERNAL", f.Mechanism), "unknown mechanism")
}

// TakePasswordCheck implements Authenticator.
func (n *Native) TakePasswordCheck() (PasswordCheck, bool) {
	if !n.auth.ready || n.closed {
		return PasswordCheck{}, false
	}
	n.auth.ready = false
	c := n.auth.check
	n.auth.check.Password = nil
	return c, true
}

// PasswordChecked implements Authenticator.
func (n *Native) PasswordChecked(ok bool, now time.Time) {
	if n.closed || n.state != verifying {
		return
	}
	if !ok || n.auth.check.PHC == "" {
		// A user without a password never logs in with one, whatever a
		// driver reports: the verdict is not trusted alone.
		_ = n.authFail(errAuthFailed.Error(), "wrong password or no such user")
		return
	}
	_ = n.identify(now)
}

// identify turns the authenticated user into its identity on the vhost.
func (n *Native) identify(now time.Time) error {
	id, err := n.auth.db.Identity(n.auth.user, n.auth.vhost)
	if err != nil {
		audit.Log(n.log, slog.LevelWarn, audit.AuthFailure, "authentication refused", "user", n.auth.user, "vhost", n.auth.vhost, "remote", n.peer.Remote, "err", err)
		return n.fail(0, codeOf(err), errors.New(messageOf(err)))
	}
	return n.authenticated(id, n.auth.mechanism, now)
}

// authenticated opens the connection on the core as id and answers HelloOK.
func (n *Native) authenticated(id *access.Identity, mechanism string, now time.Time) error {
	if n.cfg.Admit != nil {
		if e := n.cfg.Admit(n.conn, id); e != nil {
			audit.Log(n.log, slog.LevelWarn, audit.AuthFailure, "connection refused", "user", id.User, "remote", n.peer.Remote, "err", e)
			return n.fail(0, e.Code, errors.New(e.Msg))
		}
	}
	n.g = newGuard(id)
	n.core.OpenAs(n.conn, n.g.owner, now)
	// Pushes stop while this much output waits for the transport, whatever
	// the consumers' prefetch (Wrote reports the drain).
	n.core.SetOutboundLimit(n.conn, int64(n.cfg.MaxOutput))
	n.state = open
	n.auth.db = nil
	n.out = wire.AppendHelloOK(n.out, &n.auth.hello)
	n.blockedAfterHello()
	if mechanism != "ANONYMOUS" {
		n.log.Info("authenticated", "user", id.User, "vhost", id.Vhost, "mechanism", mechanism, "remote", n.peer.Remote)
	}
	return nil
}

// authFail answers a failed authentication with CodeAuthFailed and closes;
// the log line names the remote address, the user tried and the detail
// the client is not told.
func (n *Native) authFail(answer, detail string) error {
	audit.Log(n.log, slog.LevelWarn, audit.AuthFailure, "authentication failed", "remote", n.peer.Remote, "user", n.auth.user, "mechanism", n.auth.mechanism, "detail", detail)
	return n.fail(0, broker.CodeAuthFailed, errors.New(answer))
}
