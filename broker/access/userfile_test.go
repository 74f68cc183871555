package access

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// testHash is a valid PHC string (cheap parameters; the hash is not of any
// known password).
const testHash = "$argon2id$v=19$m=64,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

// fullFile uses every field of the format.
const fullFile = `{
  "version": 1,
  "users": [
    {
      "name": "bob",
      "tags": ["monitoring"]
    },
    {
      "name": "alice",
      "password_hash": "` + testHash + `",
      "tags": ["administrator", "management"],
      "permissions": {
        "/": {"configure": "alice\\..*", "write": ".*", "read": ".*", "deny": {"configure": "", "write": "amq\\..*", "read": "secret\\..*"}},
        "staging": {"configure": "", "write": "", "read": "logs"}
      },
      "limits": {"max_connections": 10, "max_queues": -1, "max_exchanges": 0, "max_bindings": 5, "max_consumers": 7, "max_queued_bytes": 1048576}
    }
  ]
}`

func TestParseFileFull(t *testing.T) {
	f, err := ParseFile([]byte(fullFile))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{Version: 1, Users: []User{
		{
			Name: "alice", PasswordHash: testHash, Tags: []string{"administrator", "management"},
			Permissions: map[string]Permissions{
				"/":       {Configure: `alice\..*`, Write: ".*", Read: ".*", Deny: Deny{Write: `amq\..*`, Read: `secret\..*`}},
				"staging": {Read: "logs"},
			},
			Limits: Limits{MaxConnections: 10, MaxQueues: -1, MaxBindings: 5, MaxConsumers: 7, MaxQueuedBytes: 1 << 20},
		},
		{Name: "bob", Tags: []string{"monitoring"}},
	}}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("ParseFile =\n%+v\nwant (users sorted by name)\n%+v", f, want)
	}
	enc, err := EncodeFile(f)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseFile(enc)
	if err != nil {
		t.Fatalf("ParseFile(EncodeFile(f)): %v\n%s", err, enc)
	}
	if !reflect.DeepEqual(back, f) {
		t.Fatalf("round trip changed the file:\n%+v\n%+v", back, f)
	}
	again, _ := EncodeFile(back)
	if !bytes.Equal(enc, again) {
		t.Fatalf("EncodeFile is not deterministic:\n%s\n%s", enc, again)
	}
}

func TestEncodeFile(t *testing.T) {
	f := &File{Version: 1, Users: []User{
		{Name: "zed", Tags: []string{}},
		{Name: "amy", Permissions: map[string]Permissions{"/": {Configure: "a<b>&c", Write: ".*"}}},
	}}
	enc, err := EncodeFile(f)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{
  "version": 1,
  "users": [
    {
      "name": "amy",
      "permissions": {
        "/": {
          "configure": "a<b>&c",
          "write": ".*",
          "read": ""
        }
      }
    },
    {
      "name": "zed"
    }
  ]
}
`
	if string(enc) != want {
		t.Fatalf("EncodeFile =\n%s\nwant\n%s", enc, want)
	}
	if f.Users[0].Name != "zed" || f.Users[0].Tags == nil {
		t.Error("EncodeFile modified its argument")
	}
	empty, err := EncodeFile(&File{Version: FileVersion})
	if err != nil {
		t.Fatal(err)
	}
	if string(empty) != "{\n  \"version\": 1,\n  \"users\": []\n}\n" {
		t.Errorf("empty file encodes as %q", empty)
	}
	if f, err := ParseFile(empty); err != nil || !reflect.DeepEqual(f, &File{Version: 1}) {
		t.Errorf("ParseFile(empty file) = %+v, %v", f, err)
	}
}

func TestEncodeFileRefusesInvalid(t *testing.T) {
	for _, f := range []*File{
		nil,
		{Version: 2},
		{Version: 1, Users: []User{{Name: "a b"}}},
		{Version: 1, Users: []User{{Name: "a", Permissions: map[string]Permissions{"/": {Write: "("}}}}},
	} {
		if _, err := EncodeFile(f); err == nil {
			t.Errorf("EncodeFile(%+v) accepted an invalid file", f)
		}
	}
}

func TestParseFileRefuses(t *testing.T) {
	user := func(body string) string { return `{"version": 1, "users": [` + body + `]}` }
	perms := func(p string) string { return user(`{"name": "alice", "permissions": {"/": ` + p + `}}`) }
	for _, c := range []struct{ name, in, want string }{
		{"empty", ``, "empty: expected a JSON object"},
		{"not JSON", `version: 1`, "invalid character"},
		{"truncated", `{"version": 1, "users": [`, "EOF"},
		{"two values", `{"version": 1} {"version": 1}`, "more than one JSON value"},
		{"trailing garbage", `{"version": 1} x`, "more than one JSON value"},
		{"array top level", `[]`, "cannot unmarshal array"},
		{"missing version", `{"users": []}`, "version 0: this build reads version 1"},
		{"wrong version", `{"version": 2, "users": []}`, "version 2: this build reads version 1"},
		{"version as string", `{"version": "1", "users": []}`, "cannot unmarshal string"},
		{"unknown top-level key", `{"version": 1, "users": [], "groups": []}`, `unknown key "groups"`},
		{"miscased key", `{"Version": 1, "users": []}`, `unknown key "Version"`},
		{"duplicate key", `{"version": 1, "version": 1, "users": []}`, `key "version" appears twice`},
		{"unknown user key", user(`{"name": "alice", "password": "x"}`), `unknown key "password"`},
		{"duplicate vhost", user(`{"name": "alice", "permissions": {"/": {"write": ".*"}, "/": {"write": ""}}}`), `key "/" appears twice`},
		{"unknown permissions key", perms(`{"write": ".*", "admin": true}`), `unknown key "admin"`},
		{"unknown deny key", perms(`{"deny": {"all": ".*"}}`), `unknown key "all"`},
		{"unknown limits key", user(`{"name": "alice", "limits": {"max_memory": 1}}`), `unknown key "max_memory"`},
		{"too deep", `{"version": 1, "users": [` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `]}`, "nested more than 32 levels"},
		{"empty name", user(`{"name": ""}`), "user #1: name: empty"},
		{"missing name", user(`{"tags": ["monitoring"]}`), "user #1: name: empty"},
		{"null user", user(`null`), "user #1: name: empty"},
		{"long name", user(`{"name": "` + strings.Repeat("a", 256) + `"}`), "user #1: name: 256 bytes: at most 255"},
		{"space in name", user(`{"name": "al ice"}`), "contains a space"},
		{"tab in name", user(`{"name": "al\tice"}`), "non-printable"},
		{"NUL in name", user(`{"name": "al\u0000ice"}`), "non-printable"},
		{"no-break space in name", user(`{"name": "al\u00a0ice"}`), "non-printable"},
		{"invalid UTF-8 in name", user("{\"name\": \"al\xffice\"}"), "users file: not valid UTF-8"},
		{"second bad name", user(`{"name": "ok"}, {"name": "x y"}`), "user #2: name:"},
		{"duplicate user", user(`{"name": "alice"}, {"name": "alice"}`), `user "alice": listed twice`},
		{"unknown tag", user(`{"name": "alice", "tags": ["root"]}`), `user "alice": tags: unknown tag "root"`},
		{"miscased tag", user(`{"name": "alice", "tags": ["Administrator"]}`), `unknown tag "Administrator"`},
		{"duplicate tag", user(`{"name": "alice", "tags": ["monitoring", "monitoring"]}`), `tags: "monitoring" listed twice`},
		{"bad hash", user(`{"name": "alice", "password_hash": "plaintext"}`), `user "alice": password_hash: password hash: not a PHC string`},
		{"bcrypt hash", user(`{"name": "alice", "password_hash": "$2b$10$abcdefghijklmnopqrstuu"}`), `user "alice": password_hash:`},
		{"huge memory hash", user(`{"name": "alice", "password_hash": "$argon2id$v=19$m=4194304,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}`), "m (memory) = 4194304 KiB"},
		{"bad configure", perms(`{"configure": "(", "write": "", "read": ""}`), `user "alice": permissions for vhost "/": configure: error parsing regexp: missing closing )`},
		{"bad write", perms(`{"write": "[a-"}`), `permissions for vhost "/": write: error parsing regexp`},
		{"bad read", perms(`{"read": "*"}`), `permissions for vhost "/": read: error parsing regexp: missing argument to repetition operator`},
		{"bad deny.configure", perms(`{"deny": {"configure": "a)"}}`), `permissions for vhost "/": deny.configure: error parsing regexp`},
		{"bad deny.write", perms(`{"deny": {"write": "(?P<>x)"}}`), `deny.write: error parsing regexp`},
		{"bad deny.read", perms(`{"deny": {"read": "\\8"}}`), `deny.read: error parsing regexp`},
		{"backreference (not RE2)", perms(`{"read": "(a)\\1"}`), `read: error parsing regexp: invalid escape sequence`},
		{"long expression", perms(`{"read": "` + strings.Repeat("a", 1025) + `"}`), "read: expression is 1025 bytes: at most 1024"},
		{"expression as number", perms(`{"read": 1}`), "cannot unmarshal number"},
		{"empty vhost", user(`{"name": "alice", "permissions": {"": {}}}`), `user "alice": permissions: vhost name "": empty`},
		{"space in vhost", user(`{"name": "alice", "permissions": {"my vhost": {}}}`), `vhost name "my vhost": "my vhost" contains a space`},
		{"long vhost", user(`{"name": "alice", "permissions": {"` + strings.Repeat("v", 256) + `": {}}}`), "256 bytes: at most 255"},
		{"limit below -1", user(`{"name": "alice", "limits": {"max_queues": -2}}`), `user "alice": limits: max_queues -2: must be -1`},
		{"connections below -1", user(`{"name": "alice", "limits": {"max_connections": -5}}`), "max_connections -5"},
		{"consumers below -1", user(`{"name": "alice", "limits": {"max_consumers": -9}}`), "max_consumers -9"},
		{"memory share below -1", user(`{"name": "alice", "limits": {"max_queued_bytes": -5}}`), "max_queued_bytes -5"},
		{"fractional limit", user(`{"name": "alice", "limits": {"max_bindings": 1.5}}`), "cannot unmarshal number 1.5"},
		{"exchanges below -1", user(`{"name": "alice", "limits": {"max_exchanges": -3}}`), "max_exchanges -3"},
	} {
		f, err := ParseFile([]byte(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: ParseFile = %+v, %v; want an error containing %q", c.name, f, err, c.want)
		}
	}
}

func TestParseFileRefusesOversize(t *testing.T) {
	big := make([]byte, MaxFileSize+1)
	_, err := ParseFile(big)
	if err == nil || !strings.Contains(err.Error(), "16 MiB") {
		t.Fatalf("ParseFile(16 MiB + 1) = %v, want a size refusal", err)
	}
}

func TestParseFileAcceptsEdges(t *testing.T) {
	name255 := strings.Repeat("é", 127) + "x" // 255 bytes
	in := `{"version": 1, "users": [{"name": "` + name255 + `", "permissions": {"/x:y": {"read": "` + strings.Repeat("a", 1024) + `"}}, "limits": {"max_queues": -1}}, {"name": "ünïcödé-用户"}, {"name": "spiffe://ciphermq.test/alice"}]}`
	f, err := ParseFile([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	// A SAN URI (the identity EXTERNAL takes from a certificate) is a valid name.
	names := map[string]bool{}
	for _, u := range f.Users {
		names[u.Name] = true
	}
	if len(f.Users) != 3 || !names[name255] || !names["spiffe://ciphermq.test/alice"] {
		t.Fatalf("users = %+v", f.Users)
	}
	if _, err := ParseFile([]byte(`{"version": 1, "users": null}`)); err != nil {
		t.Errorf("users: null: %v", err)
	}
	if _, err := ParseFile([]byte(`{"version": 1}`)); err != nil {
		t.Errorf("no users key: %v", err)
	}
}
