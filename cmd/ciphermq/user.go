package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

// envUsersFile names the users file when --file is not given.
const envUsersFile = "CIPHERMQ_USERS_FILE"

// reloadNote ends every user subcommand's help.
const reloadNote = `The file is written atomically with mode 0600 under a lock (users.json.lock), and
validated first, so it is never left half-written or in a form the server refuses. A
running server reloads it on SIGHUP: kill -HUP <pid>.`

// maxPasswordLen bounds a password read from stdin.
const maxPasswordLen = 4096

// userOptions are the flags every user subcommand shares.
type userOptions struct {
	file string
}

func init() { register(newUserCmd) }

func newUserCmd() *cobra.Command {
	o := &userOptions{}
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Manage the users file: users, passwords (argon2id), tags, permissions and limits",
		Long: `user edits the users file the server authenticates and authorises connections with
(format: docs/users.md). Passwords are stored as argon2id hashes, never in clear.

` + reloadNote,
		Args: cobra.NoArgs,
	}
	def := "users.json"
	if v := os.Getenv(envUsersFile); v != "" {
		def = v
	}
	cmd.PersistentFlags().StringVar(&o.file, "file", def, "users file [$"+envUsersFile+"]")
	cmd.AddCommand(newUserAddCmd(o), newUserPasswdCmd(o), newUserDeleteCmd(o), newUserListCmd(o),
		newUserGrantCmd(o), newUserRevokeCmd(o), newUserTagsCmd(o), newUserLimitsCmd(o))
	return cmd
}

// ---- add, passwd, delete ----

func newUserAddCmd(o *userOptions) *cobra.Command {
	var tags string
	var fromStdin, noPassword bool
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user (with a password, and no permissions until granted)",
		Long: `add creates a user. The password is read without echo from the terminal (asked twice),
or as one line from stdin with --password-stdin; --no-password creates a user that cannot
log in with a password. The new user has no permissions on any vhost until you run
"ciphermq user grant".

  ciphermq user add alice --tags management
  printf '%s\n' "$PASSWORD" | ciphermq user add bob --password-stdin

` + reloadNote,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := access.ValidateUserName(name); err != nil {
				return fmt.Errorf("user name: %w", err)
			}
			tagList, err := userfile.ParseTags(tags)
			if err != nil {
				return err
			}
			if fromStdin && noPassword {
				return errors.New("--password-stdin and --no-password exclude each other")
			}
			// Refuse early, before asking for a password; Update checks
			// again under the lock.
			if f, err := userfile.Load(o.file); err == nil && userfile.FindUser(f, name) >= 0 {
				return existsError(name)
			}
			hash := ""
			if !noPassword {
				if hash, err = newPasswordHash(cmd, name, fromStdin); err != nil {
					return err
				}
			}
			err = userfile.Update(o.file, func(f *access.File) error {
				if userfile.FindUser(f, name) >= 0 {
					return existsError(name)
				}
				f.Users = append(f.Users, access.User{Name: name, PasswordHash: hash, Tags: tagList})
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added user %s (no permissions yet: ciphermq user grant %s --vhost / ...)\n", name, name)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&tags, "tags", "", "comma-separated tags: "+strings.Join(access.KnownTags, ", "))
	f.BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin (one line; the trailing newline is removed)")
	f.BoolVar(&noPassword, "no-password", false, "create the user without a password (it cannot log in with one)")
	return cmd
}

func existsError(name string) error {
	return fmt.Errorf("user %q already exists: use \"ciphermq user passwd %s\" to change its password", name, name)
}

func newUserPasswdCmd(o *userOptions) *cobra.Command {
	var fromStdin bool
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password",
		Long: `passwd replaces a user's password hash (argon2id with the current default parameters).
The password is read without echo from the terminal (asked twice), or as one line from
stdin with --password-stdin.

  ciphermq user passwd alice

` + reloadNote,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if _, err := userfile.LoadUser(o.file, name); err != nil {
				return err
			}
			hash, err := newPasswordHash(cmd, name, fromStdin)
			if err != nil {
				return err
			}
			if err := userfile.EditUser(o.file, name, func(u *access.User) error { u.PasswordHash = hash; return nil }); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "changed the password of user %s\n", name)
			return nil
		},
	}
	cmd.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from stdin (one line; the trailing newline is removed)")
	return cmd
}

func newUserDeleteCmd(o *userOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a user",
		Long: `delete removes a user and all its permissions. Once the server reloads the file, the user
can no longer log in; connections it has open keep working until they close (a reload does not
end them; the server's --max-connection-age bounds how long they last).

  ciphermq user delete alice

` + reloadNote,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			err := userfile.Update(o.file, func(f *access.File) error {
				i := userfile.FindUser(f, name)
				if i < 0 {
					return userfile.NoUserError(name, o.file)
				}
				f.Users = slices.Delete(f.Users, i, i+1)
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted user %s\n", name)
			return nil
		},
	}
}

// ---- list ----

func newUserListCmd(o *userOptions) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the users, their tags, permissions and limits (never the password hashes)",
		Long: `list shows every user: whether it has a password, its tags, and per vhost its configure,
write and read expressions and its deny expressions, then its limits. Expressions are
shown as written; "" (matches nothing) shows as "", and an expression with spaces or
quotes is shown quoted. Password hashes are never shown.

  ciphermq user list
  ciphermq user list --json

` + reloadNote,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := userfile.Load(o.file)
			if errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("%w (\"ciphermq user add\" creates it)", err)
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				return userfile.WriteListJSON(out, f)
			}
			return userfile.WriteListTable(out, f)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (one array of users) instead of a table")
	return cmd
}

// ---- grant, revoke ----

func newUserGrantCmd(o *userOptions) *cobra.Command {
	var vhost string
	var p access.Permissions
	cmd := &cobra.Command{
		Use:   "grant NAME --vhost V [--configure RE] [--write RE] [--read RE] [--deny-configure RE] [--deny-write RE] [--deny-read RE]",
		Short: "Set a user's permissions on one vhost (all six expressions at once)",
		Long: `grant sets the user's permissions on one vhost as a whole, replacing what it had there.
Each expression is a Go regular expression (RE2) that must match a whole resource name
(exchange or queue): ".*" matches everything, "" matches nothing. Flags not given are ""
(nothing): so "grant" with only --read ".*" leaves no configure or write permission.
A deny expression refuses what it matches even where a grant matches too.

  configure: declare and delete exchanges and queues
  write:     publish to an exchange; bind a queue (write on the queue)
  read:      consume from a queue; bind (read on the exchange)

  ciphermq user grant alice --vhost / --configure '^alice\..*' --write '.*' --read '.*'
  ciphermq user grant bob --vhost / --read 'logs\..*' --deny-read 'logs\.secret'

` + reloadNote,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !cmd.Flags().Changed("vhost") {
				return errors.New("--vhost is required (the default vhost is \"/\")")
			}
			if err := access.ValidateVhostName(vhost); err != nil {
				return fmt.Errorf("--vhost: %w", err)
			}
			for _, e := range []struct{ flag, expr string }{
				{"configure", p.Configure}, {"write", p.Write}, {"read", p.Read},
				{"deny-configure", p.Deny.Configure}, {"deny-write", p.Deny.Write}, {"deny-read", p.Deny.Read},
			} {
				if err := access.ValidatePattern(e.expr); err != nil {
					return fmt.Errorf("--%s: %w", e.flag, err)
				}
			}
			err := userfile.EditUser(o.file, name, func(u *access.User) error {
				if u.Permissions == nil {
					u.Permissions = map[string]access.Permissions{}
				}
				u.Permissions[vhost] = p
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "granted user %s on vhost %s: configure %s write %s read %s, deny %s\n",
				name, vhost, userfile.ShowExpr(p.Configure), userfile.ShowExpr(p.Write), userfile.ShowExpr(p.Read), userfile.FormatDeny(p.Deny))
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&vhost, "vhost", "", "virtual host (required; the default vhost is \"/\")")
	f.StringVar(&p.Configure, "configure", "", "configure expression (default \"\": nothing)")
	f.StringVar(&p.Write, "write", "", "write expression (default \"\": nothing)")
	f.StringVar(&p.Read, "read", "", "read expression (default \"\": nothing)")
	f.StringVar(&p.Deny.Configure, "deny-configure", "", "deny configure on what this matches (default \"\": deny nothing)")
	f.StringVar(&p.Deny.Write, "deny-write", "", "deny write on what this matches (default \"\": deny nothing)")
	f.StringVar(&p.Deny.Read, "deny-read", "", "deny read on what this matches (default \"\": deny nothing)")
	return cmd
}

func newUserRevokeCmd(o *userOptions) *cobra.Command {
	var vhost string
	cmd := &cobra.Command{
		Use:   "revoke NAME --vhost V",
		Short: "Remove a user's permissions on one vhost",
		Long: `revoke removes the user's permissions on the vhost: it can no longer open it.

  ciphermq user revoke alice --vhost /

` + reloadNote,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if !cmd.Flags().Changed("vhost") {
				return errors.New("--vhost is required (the default vhost is \"/\")")
			}
			err := userfile.EditUser(o.file, name, func(u *access.User) error {
				if _, ok := u.Permissions[vhost]; !ok {
					return fmt.Errorf("user %s has no permissions on vhost %q", name, vhost)
				}
				delete(u.Permissions, vhost)
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked user %s's permissions on vhost %s\n", name, vhost)
			return nil
		},
	}
	cmd.Flags().StringVar(&vhost, "vhost", "", "virtual host (required)")
	return cmd
}

// ---- tags, limits ----

func newUserTagsCmd(o *userOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tags NAME TAGS",
		Short: "Set a user's tags (comma-separated; \"\" clears them)",
		Long: `tags replaces the user's tags with TAGS, a comma-separated list of ` + strings.Join(access.KnownTags, ", ") + `.
An empty TAGS ("") removes every tag. Tags grant nothing on the message path; the
operations API uses them.

  ciphermq user tags alice administrator,management
  ciphermq user tags alice ""

` + reloadNote,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			tags, err := userfile.ParseTags(args[1])
			if err != nil {
				return err
			}
			if err := userfile.EditUser(o.file, name, func(u *access.User) error { u.Tags = tags; return nil }); err != nil {
				return err
			}
			shown := strings.Join(tags, ",")
			if shown == "" {
				shown = "(none)"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "tags of user %s: %s\n", name, shown)
			return nil
		},
	}
}

func newUserLimitsCmd(o *userOptions) *cobra.Command {
	var l access.Limits
	cmd := &cobra.Command{
		Use:   "limits NAME [--max-connections N] [--max-queues N] [--max-exchanges N] [--max-bindings N] [--max-consumers N] [--max-queued-bytes N]",
		Short: "Set a user's limits (0: the server's default, -1: no limit)",
		Long: `limits sets the limits given as flags and keeps the others. N is a number of objects the
user may hold at once across the broker; 0 means the server's default and -1 no limit.
--max-queued-bytes is the user's memory share in bytes: while the messages it published
and the broker still holds count that much, its publishes are refused with code 503
(default: a tenth of the server's --memory-high-watermark).
Without flags it prints the current limits.

  ciphermq user limits alice --max-connections 10 --max-queues 50
  ciphermq user limits alice --max-queues 0
  ciphermq user limits alice --max-queued-bytes 67108864

` + reloadNote,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			set := userfile.LimitFields(&l)
			changed := false
			for _, s := range set {
				if cmd.Flags().Changed(s.Name) {
					changed = true
					if *s.V < -1 {
						return fmt.Errorf("--%s %d: must be -1 (no limit), 0 (server default) or a positive number", s.Name, *s.V)
					}
				}
			}
			if !changed {
				u, err := userfile.LoadUser(o.file, name)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "limits of user %s: %s\n", name, userfile.FormatLimits(u.Limits))
				return nil
			}
			var result access.Limits
			err := userfile.EditUser(o.file, name, func(u *access.User) error {
				for i, dst := range userfile.LimitFields(&u.Limits) {
					if cmd.Flags().Changed(dst.Name) {
						*dst.V = *set[i].V
					}
				}
				result = u.Limits
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "limits of user %s: %s\n", name, userfile.FormatLimits(result))
			return nil
		},
	}
	f := cmd.Flags()
	for _, s := range userfile.LimitFields(&l) {
		f.IntVar(s.V, s.Name, 0, strings.ReplaceAll(strings.TrimPrefix(s.Name, "max-"), "-", " ")+" at most (0: server default, -1: no limit)")
	}
	return cmd
}

// ---- helpers ----

// newPasswordHash reads a new password (stdin line or terminal prompt) and
// returns its argon2id PHC string with a fresh random salt.
func newPasswordHash(cmd *cobra.Command, name string, fromStdin bool) (string, error) {
	var pw []byte
	var err error
	if fromStdin {
		pw, err = readPasswordLine(cmd.InOrStdin())
	} else {
		pw, err = promptPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), name)
	}
	if err != nil {
		return "", err
	}
	if len(pw) == 0 {
		return "", errors.New("empty password refused (use --no-password on add for a user without one)")
	}
	salt := make([]byte, access.DefaultArgon2Params.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("salt: %w", err)
	}
	return access.HashPassword(pw, salt, access.DefaultArgon2Params)
}

// readPasswordLine reads one line: the password, without its line ending.
func readPasswordLine(in io.Reader) ([]byte, error) {
	line, err := bufio.NewReaderSize(in, maxPasswordLen+2).ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, fmt.Errorf("password on stdin is longer than %d bytes", maxPasswordLen)
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the password from stdin: %w", err)
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	if len(line) > maxPasswordLen {
		return nil, fmt.Errorf("password on stdin is longer than %d bytes", maxPasswordLen)
	}
	return bytes.Clone(line), nil
}

// promptPassword asks twice on the terminal, without echo.
func promptPassword(in io.Reader, prompt io.Writer, name string) ([]byte, error) {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, errors.New("stdin is not a terminal: pass --password-stdin and pipe the password in (one line), or --no-password")
	}
	fmt.Fprintf(prompt, "password for %s: ", name)
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(prompt)
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	fmt.Fprintf(prompt, "again: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(prompt)
	if err != nil {
		return nil, fmt.Errorf("reading the password: %w", err)
	}
	if !bytes.Equal(pw, again) {
		return nil, errors.New("the two passwords differ; nothing changed")
	}
	return pw, nil
}
