package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/broker/mgmt"
)

// defaultMgmtURL is where the operations listener of `ciphermq server` (--http-listen, default 127.0.0.1:15672)
// serves (RabbitMQ's management port).
const defaultMgmtURL = "http://127.0.0.1:15672"

var setMgmtURL = setting{"url", "CIPHERMQ_MGMT_URL", func(*fileConfig) []string { return nil }, []string{defaultMgmtURL}}

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
			if err := ctlDo(cmd, "DELETE", queuePath(cmd, args[0])+"/contents", nil, &out, nil); err != nil {
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
			if err := ctlDo(cmd, "DELETE", queuePath(cmd, args[0]), nil, nil, nil); err != nil {
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
			if err := ctlDo(cmd, "POST", queuePath(cmd, args[0])+"/dead-letters/move", map[string]int{"limit": limit}, &out, nil); err != nil {
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

func queuePath(cmd *cobra.Command, name string) string {
	vhost, _ := cmd.Flags().GetString("vhost")
	if vhost == "" {
		vhost = "/"
	}
	return "/api/queues/" + url.PathEscape(vhost) + "/" + url.PathEscape(name)
}

// ctlDo performs one API request; out receives the JSON answer. It
// returns the next-page cursor through hdr when hdr is not nil.
func ctlDo(cmd *cobra.Command, method, path string, body any, out any, hdr http.Header) error {
	_, err := ctlRequest(cmd, method, path, body, out, hdr)
	return err
}

func ctlRequest(cmd *cobra.Command, method, path string, body any, out any, hdr http.Header) (http.Header, error) {
	cfg, err := loadClientConfig(cmd)
	if err != nil {
		return nil, err
	}
	base := cfg.value(setMgmtURL)
	user := cfg.value(setUser)
	var password string
	if p := cfg.pathValue(setPasswordFile); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading the password file: %w", err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		password = strings.TrimSuffix(line, "\r")
	} else {
		password = os.Getenv(envPassword)
	}
	if user != "" && password == "" {
		return nil, fmt.Errorf("user %q has no password: pass --password-file or set $%s", user, envPassword)
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return nil, fmt.Errorf("--url %q: %w", base, err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	client := http.DefaultClient
	tlsCfg, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsCfg != nil && strings.HasPrefix(strings.ToLower(base), "http://") {
		for _, s := range []setting{setTLSCA, setTLSCert, setTLSKey, setTLSServerName} {
			if f := cmd.Flags().Lookup(s.flag); f != nil && f.Changed {
				return nil, fmt.Errorf("--%s with --url %s: TLS needs an https:// URL (the broker's --http-tls listener)", s.flag, base)
			}
		}
	}
	if tlsCfg != nil {
		// The broker's --http-tls listener: its CA, client certificate
		// and name, as the other client commands take them.
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsCfg
		client = &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("management API at %s: %w (is the broker running, and its --http-listen at this address? set --url or $%s)", base, err, setMgmtURL.env)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error, Reason string }
		if json.Unmarshal(raw, &e) == nil && e.Reason != "" {
			return nil, fmt.Errorf("%s %s: %s (%s, HTTP %d)", method, path, e.Reason, e.Error, resp.StatusCode)
		}
		return nil, fmt.Errorf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("%s %s: bad JSON answer: %w", method, path, err)
		}
	}
	return resp.Header, nil
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

// ctlList fetches every page of a listing.
func ctlList(cmd *cobra.Command, what string) error {
	path := "/api/" + what
	if f := cmd.Flags().Lookup("vhost"); f != nil && f.Value.String() != "" {
		path += "/" + url.PathEscape(f.Value.String())
	}
	var all []map[string]any
	after := ""
	for {
		var page []map[string]any
		p := path
		if after != "" {
			p += "?after=" + url.QueryEscape(after)
		}
		h, err := ctlRequest(cmd, "GET", p, nil, &page, nil)
		if err != nil {
			return err
		}
		all = append(all, page...)
		if after = h.Get(mgmt.NextHeader); after == "" {
			break
		}
	}
	if all == nil {
		all = []map[string]any{}
	}
	cols := map[string][]string{
		"queues":      {"vhost", "name", "messages_ready", "messages_unacknowledged", "consumers", "message_stats.publish_details.rate", "message_stats.deliver_get_details.rate", "message_stats.ack_details.rate"},
		"exchanges":   {"vhost", "name", "type", "bindings", "published", "unroutable"},
		"bindings":    {"vhost", "source", "destination", "routing_key"},
		"connections": {"name", "peer_host", "protocol", "user", "vhost", "ssl", "consumers", "messages_unacknowledged"},
		"consumers":   {"vhost", "queue", "consumer_tag", "connection", "prefetch_count", "messages_unacknowledged"},
	}[what]
	return ctlPrint(cmd, all, func(w io.Writer) { table(w, cols, all) })
}

// field reads a dotted path from a decoded JSON object.
func field(m map[string]any, path string) any {
	var v any = m
	for _, k := range strings.Split(path, ".") {
		mm, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mm[k]
	}
	return v
}

func table(w io.Writer, cols []string, rows []map[string]any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		c = strings.TrimPrefix(c, "message_stats.")
		c = strings.TrimSuffix(c, "_details.rate")
		if strings.HasSuffix(cols[i], ".rate") {
			c += "/s"
		}
		head[i] = c
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		cells := make([]string, len(cols))
		for i, c := range cols {
			switch v := field(r, c).(type) {
			case nil:
				cells[i] = "-"
			case float64:
				if strings.HasSuffix(c, ".rate") {
					cells[i] = fmt.Sprintf("%.1f", v)
				} else {
					cells[i] = fmt.Sprintf("%.0f", v)
				}
			default:
				cells[i] = fmt.Sprint(v)
			}
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	tw.Flush()
}

func ctlDLQList(cmd *cobra.Command, queue string) error {
	var all struct {
		Queue    string           `json:"queue"`
		Total    int              `json:"total"`
		Messages []map[string]any `json:"messages"`
	}
	for offset := 0; ; {
		var page struct {
			Queue    string           `json:"queue"`
			Total    int              `json:"total"`
			Messages []map[string]any `json:"messages"`
		}
		if err := ctlDo(cmd, "GET", fmt.Sprintf("%s/dead-letters?limit=100&offset=%d", queuePath(cmd, queue), offset), nil, &page, nil); err != nil {
			return err
		}
		all.Queue, all.Total = page.Queue, page.Total
		all.Messages = append(all.Messages, page.Messages...)
		offset += len(page.Messages)
		if len(page.Messages) == 0 || offset >= page.Total {
			break
		}
	}
	if all.Messages == nil {
		all.Messages = []map[string]any{}
	}
	return ctlPrint(cmd, all, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %d message(s) (metadata only)\n", all.Queue, all.Total)
		table(w, []string{"id", "reason", "size", "format", "sender", "signature_valid", "exchange", "routing_key", "deliveries", "problem"}, all.Messages)
	})
}

func ctlOverview(cmd *cobra.Command) error {
	var o map[string]any
	if err := ctlDo(cmd, "GET", "/api/overview", nil, &o, nil); err != nil {
		return err
	}
	delete(o, "rate_history")
	return ctlPrint(cmd, o, func(w io.Writer) {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, k := range []string{"queue_totals.messages_ready", "queue_totals.messages_unacknowledged", "object_totals.queues", "object_totals.exchanges",
			"object_totals.consumers", "object_totals.connections", "message_stats.publish_details.rate", "message_stats.deliver_get_details.rate",
			"message_stats.ack_details.rate", "health.mem_used", "health.mem_limit", "health.mem_alarm", "health.durable", "health.storage_failed"} {
			v := field(o, k)
			if v == nil {
				continue
			}
			if f, ok := v.(float64); ok && !strings.HasSuffix(k, ".rate") {
				v = fmt.Sprintf("%.0f", f)
			}
			fmt.Fprintf(tw, "%s\t%v\n", k, v)
		}
		tw.Flush()
	})
}
