package userfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/access"
)

func usersFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users.json")
	f := &access.File{Version: 1, Users: []access.User{
		{Name: "alice", PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g",
			Tags: []string{access.TagAdministrator},
			Permissions: map[string]access.Permissions{
				"prod": {Configure: "", Write: "orders", Read: "a b", Deny: access.Deny{Write: "secret.*"}},
				"/":    {Configure: ".*", Write: ".*", Read: ".*"},
			},
			Limits: access.Limits{MaxConnections: 10, MaxQueuedBytes: -1}},
		{Name: "bob"},
	}}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadAndEditUser(t *testing.T) {
	path := usersFile(t)
	u, err := LoadUser(path, "alice")
	if err != nil || u.Name != "alice" || u.Limits.MaxConnections != 10 {
		t.Fatalf("LoadUser = %+v, %v", u, err)
	}
	if _, err := LoadUser(path, "carol"); err == nil || err.Error() != `no user "carol" in `+path+` ("ciphermq user list" shows the users)` {
		t.Fatalf("missing user: %v", err)
	}
	if err := EditUser(path, "bob", func(u *access.User) error { u.Tags = []string{access.TagMonitoring}; return nil }); err != nil {
		t.Fatal(err)
	}
	if u, _ := LoadUser(path, "bob"); len(u.Tags) != 1 || u.Tags[0] != access.TagMonitoring {
		t.Fatalf("bob after the edit: %+v", u)
	}
	boom := errors.New("boom")
	if err := EditUser(path, "bob", func(u *access.User) error { u.Tags = nil; return boom }); !errors.Is(err, boom) {
		t.Fatalf("fn's error: %v", err)
	}
	if u, _ := LoadUser(path, "bob"); len(u.Tags) != 1 {
		t.Fatal("a failed edit was written")
	}
	if err := EditUser(path, "carol", func(*access.User) error { return nil }); err == nil || !strings.Contains(err.Error(), `no user "carol"`) {
		t.Fatalf("edit of a missing user: %v", err)
	}
	missing := filepath.Join(t.TempDir(), "none.json")
	if err := EditUser(missing, "bob", func(*access.User) error { return nil }); err == nil ||
		err.Error() != "users file "+missing+` does not exist: "ciphermq user add" creates it` {
		t.Fatalf("edit without a file: %v", err)
	}
}

func TestParseTags(t *testing.T) {
	tags, err := ParseTags(" administrator, ,monitoring,administrator")
	if err != nil || strings.Join(tags, "|") != "administrator|monitoring" {
		t.Fatalf("ParseTags = %v, %v", tags, err)
	}
	if tags, err := ParseTags(""); err != nil || tags != nil {
		t.Fatalf("no tags: %v, %v", tags, err)
	}
	if _, err := ParseTags("root"); err == nil || !strings.HasPrefix(err.Error(), `unknown tag "root": the tags are `) {
		t.Fatalf("unknown tag: %v", err)
	}
}

func TestFormatting(t *testing.T) {
	for e, want := range map[string]string{"": `""`, "orders": "orders", "a b": `"a b"`, `x"y`: `"x\"y"`, "\x01": `"\x01"`} {
		if got := ShowExpr(e); got != want {
			t.Errorf("ShowExpr(%q) = %q, want %q", e, got, want)
		}
	}
	if got := FormatDeny(access.Deny{}); got != "-" {
		t.Errorf("no deny: %q", got)
	}
	if got := FormatDeny(access.Deny{Configure: "x", Read: "a b"}); got != `configure=x,read="a b"` {
		t.Errorf("FormatDeny = %q", got)
	}
	if got := FormatLimits(access.Limits{}); got != "-" {
		t.Errorf("no limits: %q", got)
	}
	if got := FormatLimits(access.Limits{MaxQueues: 5, MaxQueuedBytes: -1}); got != "max_queues=5,max_queued_bytes=-1" {
		t.Errorf("FormatLimits = %q", got)
	}
	// LimitFields points into the Limits it was given, one field per limit.
	var l access.Limits
	seen := map[*int]bool{}
	for _, f := range LimitFields(&l) {
		*f.V = len(seen) + 1
		seen[f.V] = true
	}
	if len(seen) != 6 || l.MaxConnections != 1 || l.MaxQueuedBytes != 6 {
		t.Fatalf("LimitFields: %+v", l)
	}
}

func TestWriteListTable(t *testing.T) {
	f, err := Load(usersFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteListTable(&b, f); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Fatalf("%d lines, want header, two vhost rows of alice, bob's row:\n%s", len(lines), b.String())
	}
	for i, want := range [][]string{
		{"NAME", "PASSWORD", "TAGS", "VHOST", "CONFIGURE", "WRITE", "READ", "DENY", "LIMITS"},
		{"alice", "yes", "administrator", "/", ".*", ".*", ".*", "-", "max_connections=10,max_queued_bytes=-1"},
		{"alice", "yes", "administrator", "prod", `""`, "orders", `"a`, `b"`, "write=secret.*", "max_connections=10,max_queued_bytes=-1"},
		{"bob", "no", "-", "-", "-", "-", "-", "-", "-"},
	} {
		if got := strings.Fields(lines[i]); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("line %d = %q, want %q", i, got, want)
		}
	}
	if strings.Contains(b.String(), "argon2id") {
		t.Fatal("the table shows a password hash")
	}
}

func TestWriteListJSON(t *testing.T) {
	f, err := Load(usersFile(t))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteListJSON(&b, f); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "argon2id") || strings.Contains(b.String(), "null") {
		t.Fatalf("JSON shows a hash or a null:\n%s", b.String())
	}
	var users []ListedUser
	if err := json.Unmarshal(b.Bytes(), &users); err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || !users[0].HasPassword || users[1].HasPassword || users[0].Permissions["prod"].Write != "orders" ||
		users[1].Tags == nil || users[1].Permissions == nil {
		t.Fatalf("users = %+v", users)
	}
}
