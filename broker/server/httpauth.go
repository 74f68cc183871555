package server

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
)

// ErrBadCredentials answers an HTTP login with a wrong or unknown user or
// password: the same answer in both cases, as for client logins.
var ErrBadCredentials = errors.New("authentication failed: unknown user or wrong password")

// ErrNoUsers: the broker has no users file, so there is nobody to log in as.
var ErrNoUsers = errors.New("the broker has no users (start it with --users)")

// ErrThrottled: too many failed logins from the source recently, too many
// of its logins in verification, or the verification queue is full.
var ErrThrottled = errors.New("server: too many logins from this address; try again later")

// HTTPLogin is a verified HTTP basic-auth login.
type HTTPLogin struct {
	User string
	Tags []string
	// Users is the users file the password was verified against: read the
	// user's permissions from it, not from a later Users(), so that a
	// reload between the two cannot mix files.
	Users *access.DB
}

// AuthenticateHTTP is the one HTTP basic-auth path of the operations
// listener (broker/ops's --metrics-auth and the management API of
// broker/mgmt). It checks user's password as a client login would: the
// failure throttling of the source (remote's IP) first, then the same
// per-source limit, bounded queue and verification pool; an unknown user
// is verified against a dummy hash, so it costs as much as a wrong
// password; no server lock is held while hashing.
//
// So that a console or scraper polling every few seconds does not cost an
// argon2id verification per request, a success is remembered for
// httpLoginTTL as a keyed hash (random per-process key) of user, password
// and the user's password hash in the users file in force; a reload of
// the users file forgets everything, and a changed password or a deleted
// user never matches an entry anyway. Failures are never remembered, and
// a throttled source is refused before the cache is asked.
//
// Errors: ErrNoUsers, ErrThrottled, ErrBadCredentials, or ctx's error.
// Audit records are the caller's (it knows the resource asked for).
func (s *Server) AuthenticateHTTP(ctx context.Context, user string, password []byte, remote string) (*HTTPLogin, error) {
	db := s.auth.users.Load()
	if db == nil {
		return nil, ErrNoUsers
	}
	source := sourceOf(remote)
	if s.auth.throttled(source, time.Now()) {
		return nil, ErrThrottled
	}
	phc, known := db.PasswordHash(user)
	login := &HTTPLogin{User: user, Users: db}
	var key [32]byte
	if known {
		key = s.httpLogins.sum(user, password, phc)
		if s.httpLogins.hit(db, key, time.Now()) {
			login.Tags = db.Tags(user)
			return login, nil
		}
	}
	if !s.auth.enter(source) {
		return nil, ErrThrottled
	}
	defer s.auth.leave(source)
	select {
	case s.auth.queue <- struct{}{}:
	default:
		return nil, ErrThrottled
	}
	defer func() { <-s.auth.queue }()
	select {
	case s.auth.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
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
		return nil, ErrBadCredentials
	}
	s.httpLogins.add(db, key, time.Now())
	login.Tags = db.Tags(user)
	return login, nil
}

// httpLoginCache remembers HTTP logins that verified recently (see
// AuthenticateHTTP). Entries are keyed hashes, never passwords.
type httpLoginCache struct {
	key [32]byte

	mu      sync.Mutex
	db      *access.DB // the users file the entries were verified against
	entries map[[32]byte]time.Time
}

const (
	httpLoginTTL = time.Minute
	httpLoginMax = 1024
)

func newHTTPLoginCache() *httpLoginCache {
	c := &httpLoginCache{entries: make(map[[32]byte]time.Time)}
	rand.Read(c.key[:])
	return c
}

func (c *httpLoginCache) sum(user string, password []byte, phc string) [32]byte {
	m := hmac.New(sha256.New, c.key[:])
	// Length-prefixed, so that no two (user, password, hash) triples
	// encode alike.
	for _, p := range [][]byte{[]byte(user), password, []byte(phc)} {
		n := len(p)
		m.Write([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)})
		m.Write(p)
	}
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// hit reports whether key verified against db less than httpLoginTTL ago.
func (c *httpLoginCache) hit(db *access.DB, key [32]byte, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db != db {
		return false
	}
	at, ok := c.entries[key]
	if ok && now.Sub(at) >= httpLoginTTL {
		delete(c.entries, key)
		ok = false
	}
	return ok
}

// add remembers a success against db. Entries of another users file are
// dropped first; at httpLoginMax entries the expired go, then all.
func (c *httpLoginCache) add(db *access.DB, key [32]byte, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db != db {
		c.db = db
		clear(c.entries)
	}
	if len(c.entries) >= httpLoginMax {
		for k, at := range c.entries {
			if now.Sub(at) >= httpLoginTTL {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= httpLoginMax {
			clear(c.entries)
		}
	}
	c.entries[key] = now
}

// forget drops every entry (the users file was reloaded).
func (c *httpLoginCache) forget() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.db = nil
	clear(c.entries)
}

// len is the number of entries, for tests.
func (c *httpLoginCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
