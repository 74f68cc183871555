package access

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounds of the users file.
const (
	// MaxFileSize is the largest users file ParseFile accepts (16 MiB).
	MaxFileSize = 16 << 20
	// MaxNameLen is the longest user or vhost name, in bytes.
	MaxNameLen = 255
	// MaxPatternLen is the longest permission expression, in bytes.
	MaxPatternLen = 1024
	// maxJSONDepth is far above the format's own nesting (6 levels) and
	// keeps the key check below from recursing on hostile input.
	maxJSONDepth = 32
)

// KnownTags are the tags a user may carry, sorted.
var KnownTags = []string{TagAdministrator, TagManagement, TagMonitoring}

// ParseFile parses and validates a users file. It is strict: JSON with
// exactly one top-level value, no unknown or duplicate keys (object keys are
// matched case-sensitively), at most MaxFileSize bytes, and every field
// valid (see ValidateFile). The users come back sorted by name, so that
// ParseFile(EncodeFile(f)) equals f for any f ParseFile returned.
func ParseFile(data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("users file: %d bytes: larger than the %d-byte (16 MiB) limit", len(data), MaxFileSize)
	}
	// encoding/json would replace invalid UTF-8 with U+FFFD silently, so
	// that a name would not be the bytes in the file.
	if !utf8.Valid(data) {
		return nil, errors.New("users file: not valid UTF-8")
	}
	// First pass: structure only (one value, no duplicate or miscased
	// keys), which encoding/json would otherwise accept silently, keeping
	// the last of two "permissions" for the same vhost, for example.
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := checkKeys(dec, fileShape, 0); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("users file: more than one JSON value (the file must hold exactly one object)")
	}
	// Second pass: decode.
	var f File
	dec = json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("users file: %w", err)
	}
	normalize(&f)
	if err := ValidateFile(&f); err != nil {
		return nil, err
	}
	sortUsers(&f)
	return &f, nil
}

// EncodeFile returns f as the users file: indented JSON, users sorted by
// name, a trailing newline. It refuses an f that ValidateFile refuses, so it
// never produces a file ParseFile (and so the server) would not load. f is
// not modified.
func EncodeFile(f *File) ([]byte, error) {
	if f == nil {
		return nil, errors.New("users file: nil")
	}
	c := *f
	c.Users = slices.Clone(f.Users)
	normalize(&c)
	if err := ValidateFile(&c); err != nil {
		return nil, err
	}
	sortUsers(&c)
	if c.Users == nil {
		c.Users = []User{} // "users": [] rather than null
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(&c); err != nil { // Encode ends with a newline
		return nil, fmt.Errorf("users file: %w", err)
	}
	if buf.Len() > MaxFileSize {
		return nil, fmt.Errorf("users file: %d bytes: larger than the %d-byte (16 MiB) limit", buf.Len(), MaxFileSize)
	}
	return buf.Bytes(), nil
}

// normalize gives empty lists and maps one representation (nil).
func normalize(f *File) {
	if len(f.Users) == 0 {
		f.Users = nil
	}
	for i := range f.Users {
		u := &f.Users[i]
		if len(u.Tags) == 0 {
			u.Tags = nil
		}
		if len(u.Permissions) == 0 {
			u.Permissions = nil
		}
	}
}

// sortUsers sorts f's users by name (after ValidateFile: names are unique).
func sortUsers(f *File) {
	slices.SortFunc(f.Users, func(a, b User) int { return strings.Compare(a.Name, b.Name) })
}

// ValidateFile checks every field of f: the version, user names (valid and
// unique), tags (known, each once), password hashes (ParsePHC, or empty),
// permission expressions (compile as Go regular expressions, at most
// MaxPatternLen bytes), vhost names and limits (-1 or more). Errors name the
// user and the field.
func ValidateFile(f *File) error {
	if f.Version != FileVersion {
		return fmt.Errorf("users file: version %d: this build reads version %d", f.Version, FileVersion)
	}
	seen := make(map[string]bool, len(f.Users))
	for i := range f.Users {
		u := &f.Users[i]
		if err := ValidateUserName(u.Name); err != nil {
			return fmt.Errorf("user #%d: name: %w", i+1, err)
		}
		if seen[u.Name] {
			return fmt.Errorf("user %q: listed twice", u.Name)
		}
		seen[u.Name] = true
		if err := validateUser(u); err != nil {
			return fmt.Errorf("user %q: %w", u.Name, err)
		}
	}
	return nil
}

func validateUser(u *User) error {
	if u.PasswordHash != "" {
		if _, err := ParsePHC(u.PasswordHash); err != nil {
			return fmt.Errorf("password_hash: %w", err)
		}
	}
	for i, t := range u.Tags {
		if !slices.Contains(KnownTags, t) {
			return fmt.Errorf("tags: unknown tag %q (known: %s)", clip(t), strings.Join(KnownTags, ", "))
		}
		if slices.Contains(u.Tags[:i], t) {
			return fmt.Errorf("tags: %q listed twice", t)
		}
	}
	// Check vhosts in sorted order so that the error for a file with
	// several faults is always the same one.
	for _, vh := range slices.Sorted(maps.Keys(u.Permissions)) {
		if err := ValidateVhostName(vh); err != nil {
			return fmt.Errorf("permissions: vhost name %q: %w", clip(vh), err)
		}
		p := u.Permissions[vh]
		for _, e := range []struct{ field, expr string }{
			{"configure", p.Configure}, {"write", p.Write}, {"read", p.Read},
			{"deny.configure", p.Deny.Configure}, {"deny.write", p.Deny.Write}, {"deny.read", p.Deny.Read},
		} {
			if err := ValidatePattern(e.expr); err != nil {
				return fmt.Errorf("permissions for vhost %q: %s: %w", vh, e.field, err)
			}
		}
	}
	for _, l := range []struct {
		field string
		v     int
	}{
		{"max_connections", u.Limits.MaxConnections}, {"max_queues", u.Limits.MaxQueues},
		{"max_exchanges", u.Limits.MaxExchanges}, {"max_bindings", u.Limits.MaxBindings},
		{"max_consumers", u.Limits.MaxConsumers}, {"max_queued_bytes", u.Limits.MaxQueuedBytes},
	} {
		if l.v < -1 {
			return fmt.Errorf("limits: %s %d: must be -1 (no limit), 0 (server default) or a positive number", l.field, l.v)
		}
	}
	return nil
}

// ValidateUserName checks a user name: 1 to MaxNameLen bytes of printable
// UTF-8 with no spaces or control characters. ':' is allowed: users named
// by a client certificate's SAN URI (spiffe://example.org/orders, for
// EXTERNAL) need it; such a name cannot log in with HTTP basic
// authentication, which splits at the first ':'.
func ValidateUserName(name string) error {
	return validateName(name)
}

// ValidateVhostName checks a virtual host name: 1 to MaxNameLen bytes of
// printable UTF-8 with no spaces or control characters.
func ValidateVhostName(name string) error { return validateName(name) }

func validateName(name string) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > MaxNameLen:
		return fmt.Errorf("%d bytes: at most %d", len(name), MaxNameLen)
	case !utf8.ValidString(name):
		return fmt.Errorf("%q is not valid UTF-8", clip(name))
	}
	for _, r := range name {
		if r == ' ' || !unicode.IsPrint(r) {
			return fmt.Errorf("%q contains a space or non-printable character (%U)", clip(name), r)
		}
	}
	return nil
}

// ValidatePattern checks a permission expression: at most MaxPatternLen
// bytes, and a valid Go (RE2) regular expression, which matches in linear
// time, so no expression can make a permission check backtrack
// catastrophically. "" (matches nothing) is valid.
func ValidatePattern(expr string) error {
	if len(expr) > MaxPatternLen {
		return fmt.Errorf("expression is %d bytes: at most %d", len(expr), MaxPatternLen)
	}
	if _, err := regexp.Compile(expr); err != nil {
		return err
	}
	return nil
}

// shape describes where a JSON object's keys are fixed struct fields
// (fields) or free map keys (values), for checkKeys.
type shape struct {
	fields map[string]*shape // a struct: only these keys, exactly spelled
	values *shape            // a map: any keys, values of this shape
	elem   *shape            // an array's elements
}

var (
	denyShape        = &shape{fields: map[string]*shape{"configure": nil, "write": nil, "read": nil}}
	permissionsShape = &shape{fields: map[string]*shape{"configure": nil, "write": nil, "read": nil, "deny": denyShape}}
	limitsShape      = &shape{fields: map[string]*shape{
		"max_connections": nil, "max_queues": nil, "max_exchanges": nil, "max_bindings": nil, "max_consumers": nil, "max_queued_bytes": nil,
	}}
	userShape = &shape{fields: map[string]*shape{
		"name": nil, "password_hash": nil, "tags": nil,
		"permissions": {values: permissionsShape}, "limits": limitsShape,
	}}
	fileShape = &shape{fields: map[string]*shape{"version": nil, "users": {elem: userShape}}}
)

// checkKeys reads one JSON value from dec and refuses duplicate keys in any
// object and, where s says the object is a struct, keys that are not
// exactly one of its field names (encoding/json would match them
// case-insensitively). Types are left to the decoder.
func checkKeys(dec *json.Decoder, s *shape, depth int) error {
	if depth > maxJSONDepth {
		return fmt.Errorf("JSON nested more than %d levels deep", maxJSONDepth)
	}
	tok, err := dec.Token()
	if err != nil {
		if err == io.EOF {
			return errors.New("empty: expected a JSON object")
		}
		return err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return nil // a scalar
	}
	switch d {
	case '[':
		var elem *shape
		if s != nil {
			elem = s.elem
		}
		for dec.More() {
			if err := checkKeys(dec, elem, depth+1); err != nil {
				return err
			}
		}
	case '{':
		seen := make(map[string]bool)
		for dec.More() {
			kt, err := dec.Token()
			if err != nil {
				return err
			}
			k, _ := kt.(string)
			if seen[k] {
				return fmt.Errorf("key %q appears twice in one object", clip(k))
			}
			seen[k] = true
			var sub *shape
			switch {
			case s != nil && s.fields != nil:
				var known bool
				if sub, known = s.fields[k]; !known {
					return fmt.Errorf("unknown key %q (keys are lower case: %s)", clip(k), strings.Join(slices.Sorted(maps.Keys(s.fields)), ", "))
				}
			case s != nil:
				sub = s.values
			}
			if err := checkKeys(dec, sub, depth+1); err != nil {
				return err
			}
		}
	}
	_, err = dec.Token() // the closing delimiter
	return err
}
