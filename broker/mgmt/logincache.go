package mgmt

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
)

// loginCache remembers credentials that verified recently, so that a
// console polling every few seconds does not cost an argon2id
// verification (19 MiB, tens of milliseconds) per request. It keeps only a
// keyed hash of user and password (the key is random per process), for at
// most loginCacheTTL, and only while the same users file is in force: a
// reload, a changed password or a wrong password goes back to the full
// verification. Failures are never cached (they go through the server's
// throttling every time).
type loginCache struct {
	key []byte

	mu      sync.Mutex
	db      *access.DB
	entries map[[32]byte]time.Time // verified at
}

const (
	loginCacheTTL = time.Minute
	loginCacheMax = 1024
)

func newLoginCache() *loginCache {
	k := make([]byte, 32)
	rand.Read(k)
	return &loginCache{key: k, entries: make(map[[32]byte]time.Time)}
}

func (c *loginCache) sum(user, password string) [32]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte(user))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

// check answers from the cache, or calls verify and remembers a success.
func (c *loginCache) check(db *access.DB, user, password string, verify func() (bool, error)) (bool, error) {
	k := c.sum(user, password)
	now := time.Now()
	c.mu.Lock()
	if c.db != db {
		c.db = db
		clear(c.entries)
	}
	at, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Sub(at) < loginCacheTTL {
		return true, nil
	}
	good, err := verify()
	if !good || err != nil {
		return good, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == db {
		if len(c.entries) >= loginCacheMax {
			for k2, t := range c.entries {
				if now.Sub(t) >= loginCacheTTL {
					delete(c.entries, k2)
				}
			}
			if len(c.entries) >= loginCacheMax {
				clear(c.entries)
			}
		}
		c.entries[k] = now
	}
	return true, nil
}
