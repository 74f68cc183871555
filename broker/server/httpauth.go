package server

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/audit"
)

// ErrBadCredentials answers an HTTP login with a wrong user or password,
// or from an address that failed too often recently: the same answer in
// every case, as for client logins.
var ErrBadCredentials = errors.New("authentication failed")

// ErrNoUsers: the broker has no users file, so there is nobody to log in as.
var ErrNoUsers = errors.New("the broker has no users (start it with --users)")

// ErrAuthBusy: too many logins are being verified; retry later.
var ErrAuthBusy = errors.New("too many logins in verification; retry later")

// AuthenticateHTTP checks a user's password for the operations listener
// (HTTP basic auth, broker/ops) and returns the user's tags. It shares the
// client logins' verification pool, per-address limit and failure
// throttling, and verifies an unknown user against a dummy hash, so it is
// no cheaper way to guess passwords. Failures are audit records.
func (s *Server) AuthenticateHTTP(ctx context.Context, user string, password []byte, remote string) ([]string, error) {
	db := s.auth.users.Load()
	if db == nil {
		return nil, ErrNoUsers
	}
	source := sourceOf(remote)
	fail := func(err error, reason string) ([]string, error) {
		audit.Log(s.log, slog.LevelWarn, audit.AuthFailure, "HTTP login refused", "user", user, "remote", remote, "reason", reason)
		return nil, err
	}
	if s.auth.throttled(source, time.Now()) {
		return fail(ErrBadCredentials, "too many failed logins from this address")
	}
	if !s.auth.enter(source) {
		return fail(ErrAuthBusy, "too many logins in verification from this address")
	}
	defer s.auth.leave(source)
	select {
	case s.auth.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	phc, known := db.PasswordHash(user)
	if !known {
		phc = access.DummyPHC()
	}
	good, err := access.VerifyPassword(phc, password)
	<-s.auth.sem
	if err != nil {
		s.log.Error("password verification failed", "user", user, "err", err)
	}
	if !good || err != nil || !known {
		s.auth.failed(source, time.Now())
		return fail(ErrBadCredentials, "wrong user or password")
	}
	return db.Tags(user), nil
}
