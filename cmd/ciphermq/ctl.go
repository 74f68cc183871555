package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/broker/mgmt/mgmtclient"
)

// defaultMgmtURL is where the operations listener of `ciphermq server` (--http-listen, default 127.0.0.1:15672)
// serves (RabbitMQ's management port).
const defaultMgmtURL = "http://127.0.0.1:15672"

var setMgmtURL = setting{"url", mgmtclient.URLEnv, func(*fileConfig) []string { return nil }, []string{defaultMgmtURL}}

func init() { register(newCtlCmd) }

func newCtlCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ctl",
		Short: "Inspect and administer a running broker over its management API",
		Long: `ctl talks to the broker's management API (served on the operations listener, ciphermq server --http-listen; docs/operations.md):
list queues, exchanges, bindings, connections and consumers, purge or delete a queue, close a
connection, and list or move back dead-lettered messages (metadata only: the broker never holds
plaintext). Output is a table; --json prints the API's JSON for scripts. Listing needs a user
with the management, monitoring or administrator tag; changes need administrator. A broker
without users answers loopback clients without credentials. An https:// --url (the broker's
--http-tls) takes --tls-ca, --tls-cert, --tls-key and --tls-server-name like the other client
commands.`,
		Args: cobra.NoArgs,
	}
	pf := cmd.PersistentFlags()
	pf.String("url", "", "management API base URL"+envHint(setMgmtURL)+" (default "+defaultMgmtURL+")")
	pf.String("user", "", "broker user (HTTP basic auth; the password comes from --password-file or $"+envPassword+")"+envHint(setUser))
	pf.String("password-file", "", "file whose first line is the --user's password"+envHint(setPasswordFile))
	addTLSFileFlags(pf, "--url")
	pf.String("config", "", "JSON config file (default: $"+envConfig+", else ~/.config/ciphermq/config.json if it exists)")
	pf.Bool("json", false, "print JSON instead of a table")
	pf.Duration("timeout", 30*time.Second, "give up after this long")

	list := &cobra.Command{Use: "list", Short: "List queues, exchanges, bindings, connections or consumers", Args: cobra.NoArgs}
	for _, what := range []string{"queues", "exchanges", "bindings", "connections", "consumers"} {
		c := &cobra.Command{
			Use:   what,
			Short: "List " + what + " (every page)",
			Args:  cobra.NoArgs,
			RunE:  func(cmd *cobra.Command, _ []string) error { return ctlList(cmd, what) },
		}
		if what != "connections" {
			c.Flags().String("vhost", "", "only this vhost (default: every vhost the user may see)")
		}
		list.AddCommand(c)
	}
	purge := &cobra.Command{
		Use: "purge QUEUE", Short: "Discard a queue's ready messages (unacked ones stay with their consumers)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var out struct {
				N int `json:"message_count"`
			}
			if err := ctlDo(cmd, "DELETE", ctlQueuePath(cmd, args[0])+"/contents", nil, &out, nil); err != nil {
				return err
			}
			return ctlPrint(cmd, out, func(w io.Writer) { fmt.Fprintf(w, "purged %d message(s) from %s\n", out.N, args[0]) })
		},
	}
	purge.Flags().String("vhost", "/", "the queue's vhost")
	del := &cobra.Command{Use: "delete", Short: "Delete an object", Args: cobra.NoArgs}
	delQ := &cobra.Command{
		Use: "queue NAME", Short: "Delete a queue and the messages it holds", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := ctlDo(cmd, "DELETE", ctlQueuePath(cmd, args[0]), nil, nil, nil); err != nil {
				return err
			}
			return ctlPrint(cmd, map[string]string{"deleted": args[0]}, func(w io.Writer) { fmt.Fprintf(w, "deleted queue %s\n", args[0]) })
		},
	}
	delQ.Flags().String("vhost", "/", "the queue's vhost")
	del.AddCommand(delQ)
	closeCmd := &cobra.Command{Use: "close", Short: "Close a connection", Args: cobra.NoArgs}
	closeConn := &cobra.Command{
		Use: "connection NAME", Short: "Close a connection (NAME as listed by ctl list connections); its client sees the close", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			hdr := http.Header{}
			if r, _ := cmd.Flags().GetString("reason"); r != "" {
				hdr.Set("X-Reason", r)
			}
			if err := ctlDo(cmd, "DELETE", "/api/connections/"+url.PathEscape(args[0]), nil, nil, hdr); err != nil {
				return err
			}
			return ctlPrint(cmd, map[string]string{"closed": args[0]}, func(w io.Writer) { fmt.Fprintf(w, "closed connection %s\n", args[0]) })
		},
	}
	closeConn.Flags().String("reason", "", "reason the client is told (after the administrator's name)")
	closeCmd.AddCommand(closeConn)

	dlq := &cobra.Command{Use: "dlq", Short: "List or move back a queue's dead-lettered messages", Args: cobra.NoArgs}
	dlqList := &cobra.Command{
		Use: "list QUEUE", Short: "List the messages in QUEUE's dead-letter queue by metadata (id, reason, size, sender key, recipients)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return ctlDLQList(cmd, args[0]) },
	}
	dlqList.Flags().String("vhost", "/", "the queue's vhost")
	dlqMove := &cobra.Command{
		Use: "move QUEUE", Short: "Move the messages in QUEUE's dead-letter queue back to QUEUE (same ids and bodies)",
		Long: `move puts the ready messages of QUEUE's dead-letter queue back at the tail of QUEUE inside the
broker, in one step (dead-lettering in reverse): no republish, so the broker's dedup window does
not get in the way, and other queues bound to the original exchange get no copy. It stops early
when QUEUE is full. Compare ciphermq dlq move, which does the same over a client connection.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			limit, _ := cmd.Flags().GetInt("limit")
			var out struct{ Moved, Left int }
			if err := ctlDo(cmd, "POST", ctlQueuePath(cmd, args[0])+"/dead-letters/move", map[string]int{"limit": limit}, &out, nil); err != nil {
				return err
			}
			return ctlPrint(cmd, out, func(w io.Writer) {
				fmt.Fprintf(w, "moved %d message(s) back to %s; %d left in its dead-letter queue\n", out.Moved, args[0], out.Left)
			})
		},
	}
	dlqMove.Flags().String("vhost", "/", "the queue's vhost")
	dlqMove.Flags().Int("limit", 0, "move at most this many (0: all)")
	dlq.AddCommand(dlqList, dlqMove)

	overview := &cobra.Command{
		Use: "overview", Short: "Totals, rates and health", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return ctlOverview(cmd) },
	}
	cmd.AddCommand(list, purge, del, closeCmd, dlq, overview)
	return cmd
}

// ctlQueuePath is the API path of the queue name in --vhost.
func ctlQueuePath(cmd *cobra.Command, name string) string {
	vhost, _ := cmd.Flags().GetString("vhost")
	return mgmtclient.QueuePath(vhost, name)
}

// ctlClient is the API client the flags, the environment and the config
// file describe.
func ctlClient(cmd *cobra.Command) (*mgmtclient.Client, error) {
	cfg, err := loadClientConfig(cmd)
	if err != nil {
		return nil, err
	}
	c := &mgmtclient.Client{BaseURL: cfg.value(setMgmtURL), User: cfg.value(setUser)}
	if p := cfg.pathValue(setPasswordFile); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading the password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		c.Password = strings.TrimSuffix(line, "\r")
	} else {
		c.Password = os.Getenv(envPassword)
	}
	if c.User != "" && c.Password == "" {
		return nil, fmt.Errorf("user %q has no password: pass --password-file or set $%s", c.User, envPassword)
	}
	c.Timeout, _ = cmd.Flags().GetDuration("timeout")
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil && strings.HasPrefix(strings.ToLower(c.BaseURL), "http://") {
		for _, s := range []setting{setTLSCA, setTLSCert, setTLSKey, setTLSServerName} {
			if f := cmd.Flags().Lookup(s.flag); f != nil && f.Changed {
				return nil, fmt.Errorf("--%s with --url %s: TLS needs an https:// URL (the broker's --http-tls listener)", s.flag, c.BaseURL)
			}
		}
	}
	if tlsCfg != nil {
		// The broker's --http-tls listener: its CA, client certificate
		// and name, as the other client commands take them.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsCfg
		c.HTTP = &http.Client{Transport: tr}
	}
	return c, nil
}

// ctlDo performs one API request; out receives the JSON answer.
func ctlDo(cmd *cobra.Command, method, path string, body any, out any, hdr http.Header) error {
	c, err := ctlClient(cmd)
	if err != nil {
		return err
	}
	_, err = c.Do(cmd.Context(), method, path, body, out, hdr)
	return err
}

func ctlJSON(cmd *cobra.Command) bool {
	v, _ := cmd.Flags().GetBool("json")
	return v
}

// ctlPrint writes v as JSON with --json, else calls table.
func ctlPrint(cmd *cobra.Command, v any, table func(io.Writer)) error {
	w := cmd.OutOrStdout()
	if ctlJSON(cmd) {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	table(w)
	return nil
}

// ctlList fetches every page of a listing and prints it.
func ctlList(cmd *cobra.Command, what string) error {
	c, err := ctlClient(cmd)
	if err != nil {
		return err
	}
	vhost := ""
	if f := cmd.Flags().Lookup("vhost"); f != nil {
		vhost = f.Value.String()
	}
	all, err := c.List(cmd.Context(), what, vhost)
	if err != nil {
		return err
	}
	return ctlPrint(cmd, all, func(w io.Writer) { mgmtclient.Table(w, mgmtclient.ListColumns(what), all) })
}

func ctlDLQList(cmd *cobra.Command, queue string) error {
	c, err := ctlClient(cmd)
	if err != nil {
		return err
	}
	all, err := c.DeadLetters(cmd.Context(), ctlQueuePath(cmd, queue))
	if err != nil {
		return err
	}
	return ctlPrint(cmd, all, func(w io.Writer) { mgmtclient.PrintDeadLetters(w, all) })
}

func ctlOverview(cmd *cobra.Command) error {
	c, err := ctlClient(cmd)
	if err != nil {
		return err
	}
	o, err := c.Overview(cmd.Context())
	if err != nil {
		return err
	}
	return ctlPrint(cmd, o, func(w io.Writer) { mgmtclient.PrintOverview(w, o) })
}
