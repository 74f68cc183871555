// Package mgmttest runs the management handler in tests: a real broker on
// a loopback port and an httptest server around mgmt.NewHandler, both shut
// down when the test ends.
package mgmttest

import (
	"crypto/rand"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/mgmt"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/internal/testbroker"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

// Broker is a running broker with its management API.
type Broker struct {
	Server *server.Server
	Addr   string            // the broker's AMQP-like listener (native and text protocols)
	HTTP   *httptest.Server  // the management API and console
	URL    string            // HTTP.URL
	Users  map[string]string // user -> password, as given to Start
}

// User describes a test user.
type User struct {
	Name        string
	Password    string
	Tags        []string
	Permissions map[string]access.Permissions // by vhost
}

// FastParams hash test passwords cheaply (the broker verifies any valid
// parameters; production hashes use access.DefaultArgon2Params).
var FastParams = access.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// Start runs a broker with cfg and the given users (none: a broker
// without a users file, whose API answers loopback clients anonymously).
func Start(t testing.TB, cfg server.Config, users []User, logger *slog.Logger) *Broker {
	t.Helper()
	return StartWith(t, cfg, users, mgmt.Options{Logger: logger})
}

// StartWith is Start with the handler's options.
func StartWith(t testing.TB, cfg server.Config, users []User, opts mgmt.Options) *Broker {
	t.Helper()
	b := &Broker{Users: map[string]string{}}
	if len(users) > 0 {
		f := &access.File{Version: access.FileVersion}
		for _, u := range users {
			salt := make([]byte, FastParams.SaltLen)
			rand.Read(salt)
			phc, err := access.HashPassword([]byte(u.Password), salt, FastParams)
			if err != nil {
				t.Fatal(err)
			}
			f.Users = append(f.Users, access.User{Name: u.Name, PasswordHash: phc, Tags: u.Tags, Permissions: u.Permissions})
			b.Users[u.Name] = u.Password
		}
		path := filepath.Join(t.TempDir(), "users.json")
		if err := userfile.Save(path, f); err != nil {
			t.Fatal(err)
		}
		cfg.Auth.UsersFile = path
	}
	b.Server, b.Addr = testbroker.Start(t, cfg)
	b.HTTP = httptest.NewServer(mgmt.NewHandler(b.Server, opts))
	t.Cleanup(b.HTTP.Close)
	b.URL = b.HTTP.URL
	return b
}

// AllPermissions grants everything on a vhost.
var AllPermissions = access.Permissions{Configure: ".*", Write: ".*", Read: ".*"}
