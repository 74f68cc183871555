package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

// userCLI runs "ciphermq user --file FILE ARGS..." with stdin.
func userCLI(t *testing.T, file, stdin string, args ...string) (string, error) {
	t.Helper()
	cmd := newUserCmd()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append([]string{"--file", file}, args...))
	err := cmd.Execute()
	return out.String(), err
}

// mustUserCLI is userCLI that fails the test on an error.
func mustUserCLI(t *testing.T, file, stdin string, args ...string) string {
	t.Helper()
	out, err := userCLI(t, file, stdin, args...)
	if err != nil {
		t.Fatalf("user %v: %v\n%s", args, err, out)
	}
	return out
}

func loadUsers(t *testing.T, file string) *access.File {
	t.Helper()
	f, err := userfile.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func userNamed(t *testing.T, file, name string) access.User {
	t.Helper()
	for _, u := range loadUsers(t, file).Users {
		if u.Name == name {
			return u
		}
	}
	t.Fatalf("no user %q in %s", name, file)
	return access.User{}
}

func verifies(t *testing.T, u access.User, pw string) bool {
	t.Helper()
	ok, err := access.VerifyPassword(u.PasswordHash, []byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	return ok
}

func TestUserAddThenList(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	out := mustUserCLI(t, file, "s3cret\n", "add", "alice", "--tags", "management,monitoring", "--password-stdin")
	if !strings.Contains(out, "added user alice (no permissions yet: ciphermq user grant alice --vhost / ...)") {
		t.Errorf("add output: %q", out)
	}
	if got := mode(t, file); got != 0o600 {
		t.Errorf("users file mode = %o, want 600", got)
	}
	u := userNamed(t, file, "alice")
	if !verifies(t, u, "s3cret") || verifies(t, u, "s3cret\n") {
		t.Error("the stored hash must verify the password without its newline")
	}
	if len(u.Permissions) != 0 {
		t.Errorf("a new user has permissions: %+v", u.Permissions)
	}
	if strings.Join(u.Tags, ",") != "management,monitoring" {
		t.Errorf("tags = %v", u.Tags)
	}

	out = mustUserCLI(t, file, "", "list")
	if !strings.Contains(out, "alice") || !strings.Contains(out, "management,monitoring") {
		t.Errorf("list does not show alice and her tags:\n%s", out)
	}
	if strings.Contains(out, "argon2id") || strings.Contains(out, u.PasswordHash) {
		t.Errorf("list shows the password hash:\n%s", out)
	}

	out = mustUserCLI(t, file, "", "list", "--json")
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	if len(listed) != 1 || listed[0]["name"] != "alice" || listed[0]["has_password"] != true {
		t.Errorf("list --json = %v", listed)
	}
	if _, ok := listed[0]["password_hash"]; ok || strings.Contains(out, "argon2id") {
		t.Errorf("list --json shows the hash:\n%s", out)
	}
}

func TestUserAddRefusals(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	for _, c := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"empty password", "\n", []string{"add", "alice", "--password-stdin"}, "empty password refused"},
		{"empty stdin", "", []string{"add", "alice", "--password-stdin"}, "empty password refused"},
		{"not a terminal", "s3cret\n", []string{"add", "alice"}, "stdin is not a terminal"},
		{"bad name", "s3cret\n", []string{"add", "al ice", "--password-stdin"}, "user name:"},
		{"unknown tag", "s3cret\n", []string{"add", "alice", "--tags", "root", "--password-stdin"}, `unknown tag "root"`},
		{"both password flags", "s3cret\n", []string{"add", "alice", "--password-stdin", "--no-password"}, "exclude each other"},
	} {
		if _, err := userCLI(t, file, c.stdin, c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want %q", c.name, err, c.want)
		}
		if _, err := os.Stat(file); err == nil {
			t.Fatalf("%s: a refused add created the users file", c.name)
		}
	}
	mustUserCLI(t, file, "", "add", "alice", "--no-password")
	if u := userNamed(t, file, "alice"); u.PasswordHash != "" {
		t.Errorf("--no-password stored a hash: %q", u.PasswordHash)
	}
	_, err := userCLI(t, file, "x\n", "add", "alice", "--password-stdin")
	if err == nil || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.Error(), "passwd") {
		t.Errorf("adding an existing user: %v, want a refusal pointing to passwd", err)
	}
}

func TestUserPasswd(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	mustUserCLI(t, file, "old-password\n", "add", "alice", "--password-stdin")
	before := userNamed(t, file, "alice")
	out := mustUserCLI(t, file, "new-password\r\n", "passwd", "alice", "--password-stdin")
	if !strings.Contains(out, "changed the password of user alice") {
		t.Errorf("passwd output: %q", out)
	}
	after := userNamed(t, file, "alice")
	if after.PasswordHash == before.PasswordHash {
		t.Fatal("passwd did not change the hash")
	}
	if !verifies(t, after, "new-password") {
		t.Error("the new password does not verify")
	}
	if verifies(t, after, "old-password") {
		t.Error("the old password still verifies")
	}
	if _, err := userCLI(t, file, "\n", "passwd", "alice", "--password-stdin"); err == nil || !strings.Contains(err.Error(), "empty password") {
		t.Errorf("passwd with an empty password: %v", err)
	}
	if userNamed(t, file, "alice").PasswordHash != after.PasswordHash {
		t.Error("a refused passwd changed the hash")
	}
	if _, err := userCLI(t, file, "x\n", "passwd", "bob", "--password-stdin"); err == nil || !strings.Contains(err.Error(), `no user "bob"`) {
		t.Errorf("passwd for a missing user: %v", err)
	}
}

func TestUserGrantRevoke(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	mustUserCLI(t, file, "", "add", "alice", "--no-password")
	out := mustUserCLI(t, file, "", "grant", "alice", "--vhost", "/", "--configure", `alice\..*`, "--write", ".*", "--read", ".*", "--deny-read", `secret\..*`)
	if !strings.Contains(out, "granted user alice on vhost /: configure alice\\..* write .* read .*, deny read=secret\\..*") {
		t.Errorf("grant output: %q", out)
	}
	want := access.Permissions{Configure: `alice\..*`, Write: ".*", Read: ".*", Deny: access.Deny{Read: `secret\..*`}}
	if got := userNamed(t, file, "alice").Permissions["/"]; got != want {
		t.Errorf("permissions = %+v, want %+v", got, want)
	}
	// A second grant on the same vhost replaces the whole set: flags not
	// given become "".
	mustUserCLI(t, file, "", "grant", "alice", "--vhost", "/", "--read", "logs")
	if got := userNamed(t, file, "alice").Permissions["/"]; got != (access.Permissions{Read: "logs"}) {
		t.Errorf("permissions after the second grant = %+v, want read only", got)
	}
	mustUserCLI(t, file, "", "grant", "alice", "--vhost", "staging", "--write", ".*")
	list := mustUserCLI(t, file, "", "list")
	if !strings.Contains(list, "staging") || !strings.Contains(list, "logs") {
		t.Errorf("list does not show both vhosts:\n%s", list)
	}

	// An invalid expression is refused and the file stays as it was.
	before, _ := os.ReadFile(file)
	for _, args := range [][]string{
		{"grant", "alice", "--vhost", "/", "--write", "("},
		{"grant", "alice", "--vhost", "/", "--deny-configure", "[z-a]"},
		{"grant", "alice", "--vhost", "/", "--read", strings.Repeat("a", 1025)},
		{"grant", "alice", "--vhost", "my vhost", "--read", ".*"},
		{"grant", "alice", "--read", ".*"},
		{"grant", "bob", "--vhost", "/", "--read", ".*"},
	} {
		if _, err := userCLI(t, file, "", args...); err == nil {
			t.Errorf("user %v: accepted", args)
		}
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(before, after) {
		t.Error("a refused grant changed the file")
	}
	_, err := userCLI(t, file, "", "grant", "alice", "--vhost", "/", "--write", "(")
	if err == nil || !strings.Contains(err.Error(), "--write: error parsing regexp") {
		t.Errorf("invalid regex error = %v, want it to name the flag and the regexp error", err)
	}

	out = mustUserCLI(t, file, "", "revoke", "alice", "--vhost", "/")
	if !strings.Contains(out, "revoked user alice's permissions on vhost /") {
		t.Errorf("revoke output: %q", out)
	}
	perms := userNamed(t, file, "alice").Permissions
	if _, ok := perms["/"]; ok || len(perms) != 1 {
		t.Errorf("permissions after revoke = %+v, want only staging", perms)
	}
	if _, err := userCLI(t, file, "", "revoke", "alice", "--vhost", "/"); err == nil || !strings.Contains(err.Error(), "no permissions on vhost") {
		t.Errorf("revoking again: %v", err)
	}
}

func TestUserDelete(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	mustUserCLI(t, file, "", "add", "alice", "--no-password")
	mustUserCLI(t, file, "", "add", "bob", "--no-password")
	if out := mustUserCLI(t, file, "", "delete", "alice"); !strings.Contains(out, "deleted user alice") {
		t.Errorf("delete output: %q", out)
	}
	f := loadUsers(t, file)
	if len(f.Users) != 1 || f.Users[0].Name != "bob" {
		t.Errorf("users after delete = %+v", f.Users)
	}
	if _, err := userCLI(t, file, "", "delete", "alice"); err == nil || !strings.Contains(err.Error(), `no user "alice"`) {
		t.Errorf("deleting a missing user: %v", err)
	}
	if got := mode(t, file); got != 0o600 {
		t.Errorf("mode after edits = %o, want 600", got)
	}
}

func TestUserTagsAndLimits(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	mustUserCLI(t, file, "", "add", "alice", "--no-password", "--tags", "monitoring")
	mustUserCLI(t, file, "", "tags", "alice", "administrator, management")
	if got := userNamed(t, file, "alice").Tags; strings.Join(got, ",") != "administrator,management" {
		t.Errorf("tags = %v", got)
	}
	if _, err := userCLI(t, file, "", "tags", "alice", "admin"); err == nil || !strings.Contains(err.Error(), `unknown tag "admin"`) {
		t.Errorf("unknown tag: %v", err)
	}
	mustUserCLI(t, file, "", "tags", "alice", "")
	if got := userNamed(t, file, "alice").Tags; len(got) != 0 {
		t.Errorf("tags after clearing = %v", got)
	}

	out := mustUserCLI(t, file, "", "limits", "alice", "--max-connections", "10", "--max-queues", "-1")
	if !strings.Contains(out, "max_connections=10") || !strings.Contains(out, "max_queues=-1") {
		t.Errorf("limits output: %q", out)
	}
	mustUserCLI(t, file, "", "limits", "alice", "--max-consumers", "5")
	want := access.Limits{MaxConnections: 10, MaxQueues: -1, MaxConsumers: 5}
	if got := userNamed(t, file, "alice").Limits; got != want {
		t.Errorf("limits = %+v, want %+v (flags not given are kept)", got, want)
	}
	if _, err := userCLI(t, file, "", "limits", "alice", "--max-bindings", "-2"); err == nil || !strings.Contains(err.Error(), "--max-bindings -2") {
		t.Errorf("limit -2: %v", err)
	}
	if out := mustUserCLI(t, file, "", "limits", "alice"); !strings.Contains(out, "max_consumers=5") {
		t.Errorf("limits without flags prints them: %q", out)
	}
}

func TestUserEditsNeedAnExistingFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	for _, args := range [][]string{{"list"}, {"grant", "alice", "--vhost", "/"}, {"tags", "alice", ""}, {"delete", "alice"}} {
		if _, err := userCLI(t, file, "", args...); err == nil {
			t.Errorf("user %v without a users file: accepted", args)
		}
	}
	if _, err := os.Stat(file); err == nil {
		t.Error("an edit created the users file; only add may")
	}
}

func TestUserRefusesAWorldReadableFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "users.json")
	mustUserCLI(t, file, "", "add", "alice", "--no-password")
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := userCLI(t, file, "", "list"); err == nil || !strings.Contains(err.Error(), "chmod 600 "+file) {
		t.Errorf("list on a 0644 file: %v, want the chmod hint", err)
	}
	if _, err := userCLI(t, file, "", "add", "bob", "--no-password"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("add on a 0644 file: %v, want the chmod hint", err)
	}
}

func TestUserFileFromEnvironment(t *testing.T) {
	file := filepath.Join(t.TempDir(), "env-users.json")
	t.Setenv(envUsersFile, file)
	cmd := newUserCmd()
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetArgs([]string{"add", "alice", "--no-password"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if u := userNamed(t, file, "alice"); u.Name != "alice" {
		t.Fatal("user not in the $CIPHERMQ_USERS_FILE file")
	}
}
