package server

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

// TestHTTPLoginCache: AuthenticateHTTP remembers a success (a second login
// needs no verification slot), never a failure, and a changed password or a
// deleted user no longer matches after the users file is reloaded; a
// throttled source is refused even with remembered credentials.
func TestHTTPLoginCache(t *testing.T) {
	cfg := authConfig()
	cfg.Auth.AuthFailureLimit = 3
	path := writeUsers(t,
		access.User{Name: "alice", PasswordHash: hashFor(t, "pw", cheapArgon2), Tags: []string{access.TagMonitoring}, Permissions: allOn("/")},
		access.User{Name: "bob", PasswordHash: hashFor(t, "pw2", cheapArgon2), Permissions: allOn("/")})
	cfg.Auth.UsersFile = path
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const remote = "192.0.2.1:5000"
	login, err := srv.AuthenticateHTTP(ctx, "alice", []byte("pw"), remote)
	if err != nil || login.User != "alice" || !slices.Contains(login.Tags, access.TagMonitoring) || login.Users != srv.Users() {
		t.Fatalf("alice: %+v, %v", login, err)
	}
	if _, err := srv.AuthenticateHTTP(ctx, "bob", []byte("pw2"), remote); err != nil {
		t.Fatal(err)
	}
	if n := srv.httpLogins.len(); n != 2 {
		t.Fatalf("%d remembered logins, want 2", n)
	}

	// Take every verification slot: only a remembered login can succeed
	// now; anything else waits for a slot until its context ends.
	for range cap(srv.auth.sem) {
		srv.auth.sem <- struct{}{}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := srv.AuthenticateHTTP(cancelled, "alice", []byte("pw"), remote); err != nil {
		t.Fatalf("remembered login was verified again: %v", err)
	}
	for _, pw := range []string{"wrong", "pw "} {
		if _, err := srv.AuthenticateHTTP(cancelled, "alice", []byte(pw), remote); !errors.Is(err, context.Canceled) {
			t.Fatalf("password %q answered %v without a verification", pw, err)
		}
	}
	for range cap(srv.auth.sem) {
		<-srv.auth.sem
	}
	// Failures are never remembered.
	if _, err := srv.AuthenticateHTTP(ctx, "alice", []byte("wrong"), "192.0.2.2:1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := srv.AuthenticateHTTP(ctx, "nobody", []byte("pw"), "192.0.2.2:1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("unknown user: %v", err)
	}
	if n := srv.httpLogins.len(); n != 2 {
		t.Fatalf("%d remembered logins after failures, want 2", n)
	}

	// Alice's password changes and bob is deleted: after the reload the old
	// credentials fail.
	if err := userfile.Update(path, func(f *access.File) error {
		f.Users = []access.User{{Name: "alice", PasswordHash: hashFor(t, "new", cheapArgon2), Tags: []string{access.TagMonitoring}, Permissions: allOn("/")}}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.ReloadUsers(); err != nil {
		t.Fatal(err)
	}
	if n := srv.httpLogins.len(); n != 0 {
		t.Fatalf("%d remembered logins survived a reload", n)
	}
	if _, err := srv.AuthenticateHTTP(ctx, "alice", []byte("pw"), "192.0.2.3:1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("alice's old password after the change: %v", err)
	}
	if _, err := srv.AuthenticateHTTP(ctx, "bob", []byte("pw2"), "192.0.2.3:1"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("deleted bob: %v", err)
	}
	if _, err := srv.AuthenticateHTTP(ctx, "alice", []byte("new"), remote); err != nil {
		t.Fatalf("alice's new password: %v", err)
	}

	// Throttling comes before the cache.
	for range 3 {
		srv.AuthenticateHTTP(ctx, "alice", []byte("wrong"), remote)
	}
	if _, err := srv.AuthenticateHTTP(ctx, "alice", []byte("new"), remote); !errors.Is(err, ErrThrottled) {
		t.Fatalf("throttled source with remembered credentials: %v", err)
	}
}

// TestHTTPLoginCacheEntries: an entry is bound to its users file, expires
// after httpLoginTTL, and depends on user, password and password hash.
func TestHTTPLoginCacheEntries(t *testing.T) {
	c := newHTTPLoginCache()
	db1, db2 := &access.DB{}, &access.DB{}
	t0 := time.Unix(1000, 0)
	k := c.sum("u", []byte("pw"), "$argon2id$a")
	if c.hit(db1, k, t0) {
		t.Fatal("hit in an empty cache")
	}
	c.add(db1, k, t0)
	if !c.hit(db1, k, t0.Add(httpLoginTTL-time.Second)) {
		t.Fatal("no hit within the TTL")
	}
	if c.hit(db2, k, t0) {
		t.Fatal("hit against another users file")
	}
	if c.hit(db1, k, t0.Add(httpLoginTTL)) {
		t.Fatal("hit after the TTL")
	}
	for _, other := range [][32]byte{
		c.sum("u", []byte("pw"), "$argon2id$b"),
		c.sum("u", []byte("pwx"), "$argon2id$a"),
		c.sum("up", []byte("w"), "$argon2id$a"),
	} {
		if other == k {
			t.Fatal("distinct credentials share a key")
		}
	}
	for i := range httpLoginMax + 10 {
		c.add(db1, c.sum("u", []byte{byte(i), byte(i >> 8)}, ""), t0)
	}
	if n := c.len(); n > httpLoginMax {
		t.Fatalf("%d entries, bound %d", n, httpLoginMax)
	}
}
