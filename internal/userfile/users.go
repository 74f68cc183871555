package userfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"unicode"

	"github.com/ciphermq/ciphermq/broker/access"
)

// This file is what `ciphermq user` does to one user of the file and how
// it shows them; error messages name the commands.

// FindUser is the index of the user called name in f, or -1.
func FindUser(f *access.File, name string) int {
	return slices.IndexFunc(f.Users, func(u access.User) bool { return u.Name == name })
}

// NoUserError says that file holds no user called name.
func NoUserError(name, file string) error {
	return fmt.Errorf("no user %q in %s (\"ciphermq user list\" shows the users)", name, file)
}

// LoadUser reads the file and returns the user called name.
func LoadUser(file, name string) (access.User, error) {
	f, err := Load(file)
	if err != nil {
		return access.User{}, err
	}
	i := FindUser(f, name)
	if i < 0 {
		return access.User{}, NoUserError(name, file)
	}
	return f.Users[i], nil
}

// EditUser applies fn to the user called name under Update. A missing
// file is an error here (only "user add" creates the file).
func EditUser(file, name string, fn func(*access.User) error) error {
	if _, err := os.Stat(file); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("users file %s does not exist: \"ciphermq user add\" creates it", file)
	}
	return Update(file, func(f *access.File) error {
		i := FindUser(f, name)
		if i < 0 {
			return NoUserError(name, file)
		}
		return fn(&f.Users[i])
	})
}

// ParseTags splits a comma-separated tag list, dropping empty entries and
// repeats, refusing unknown tags.
func ParseTags(s string) ([]string, error) {
	var tags []string
	for t := range strings.SplitSeq(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !slices.Contains(access.KnownTags, t) {
			return nil, fmt.Errorf("unknown tag %q: the tags are %s", t, strings.Join(access.KnownTags, ", "))
		}
		if !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags, nil
}

// LimitField is one of a user's limits: its flag name and its field.
type LimitField struct {
	Name string // flag name, e.g. max-connections (the file's max_connections)
	V    *int
}

// LimitFields pairs each of l's limits with its flag name, in a fixed
// order.
func LimitFields(l *access.Limits) []LimitField {
	return []LimitField{
		{"max-connections", &l.MaxConnections}, {"max-queues", &l.MaxQueues}, {"max-exchanges", &l.MaxExchanges},
		{"max-bindings", &l.MaxBindings}, {"max-consumers", &l.MaxConsumers},
		{"max-queued-bytes", &l.MaxQueuedBytes},
	}
}

// FormatLimits shows the limits that are set as name=N,... ("-" if none).
func FormatLimits(l access.Limits) string {
	var parts []string
	for _, f := range LimitFields(&l) {
		if *f.V != 0 {
			parts = append(parts, strings.ReplaceAll(f.Name, "-", "_")+"="+strconv.Itoa(*f.V))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// ShowExpr shows an expression as written, except that "" (which matches
// nothing) shows as "" and one with spaces, quotes or non-printable
// characters is quoted in Go syntax, so each is visible and unambiguous.
func ShowExpr(e string) string {
	if e == "" {
		return `""`
	}
	if strings.ContainsFunc(e, func(r rune) bool { return r == ' ' || r == '"' || !unicode.IsPrint(r) }) {
		return strconv.Quote(e)
	}
	return e
}

// FormatDeny shows the deny expressions that are set as kind=expr,...
// ("-" if none).
func FormatDeny(d access.Deny) string {
	var parts []string
	for _, e := range []struct{ k, v string }{{"configure", d.Configure}, {"write", d.Write}, {"read", d.Read}} {
		if e.v != "" {
			parts = append(parts, e.k+"="+ShowExpr(e.v))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ",")
}

// ListedUser is one user as "user list --json" shows it: everything but
// the password hash.
type ListedUser struct {
	Name        string                        `json:"name"`
	HasPassword bool                          `json:"has_password"`
	Tags        []string                      `json:"tags"`
	Permissions map[string]access.Permissions `json:"permissions"`
	Limits      access.Limits                 `json:"limits"`
}

// WriteListJSON writes f's users as one indented JSON array of ListedUser
// (empty tags and permissions as [] and {}, never null).
func WriteListJSON(out io.Writer, f *access.File) error {
	users := make([]ListedUser, 0, len(f.Users))
	for _, u := range f.Users {
		lu := ListedUser{Name: u.Name, HasPassword: u.PasswordHash != "", Tags: u.Tags, Permissions: u.Permissions, Limits: u.Limits}
		if lu.Tags == nil {
			lu.Tags = []string{}
		}
		if lu.Permissions == nil {
			lu.Permissions = map[string]access.Permissions{}
		}
		users = append(users, lu)
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(users)
}

// WriteListTable writes f's users as a table: one row per user and vhost
// (vhosts sorted; one row of dashes for a user without permissions).
func WriteListTable(out io.Writer, f *access.File) error {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tPASSWORD\tTAGS\tVHOST\tCONFIGURE\tWRITE\tREAD\tDENY\tLIMITS")
	for _, u := range f.Users {
		pw := "no"
		if u.PasswordHash != "" {
			pw = "yes"
		}
		tags := strings.Join(u.Tags, ",")
		if tags == "" {
			tags = "-"
		}
		limits := FormatLimits(u.Limits)
		vhosts := slices.Sorted(func(yield func(string) bool) {
			for v := range u.Permissions {
				if !yield(v) {
					return
				}
			}
		})
		if len(vhosts) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t%s\t-\t-\t-\t-\t-\t%s\n", u.Name, pw, tags, limits)
		}
		for _, v := range vhosts {
			p := u.Permissions[v]
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Name, pw, tags, v,
				ShowExpr(p.Configure), ShowExpr(p.Write), ShowExpr(p.Read), FormatDeny(p.Deny), limits)
		}
	}
	return tw.Flush()
}
