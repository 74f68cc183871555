package mgmt_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/mgmt"
	"github.com/ciphermq/ciphermq/broker/mgmt/mgmttest"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/testutil"
)

var testUsers = []mgmttest.User{
	{Name: "admin", Password: "admin-pw", Tags: []string{access.TagAdministrator}, Permissions: map[string]access.Permissions{"/": mgmttest.AllPermissions}},
	{Name: "mon", Password: "mon-pw", Tags: []string{access.TagMonitoring}, Permissions: map[string]access.Permissions{"/": {Read: ".*"}}},
	{Name: "notag", Password: "notag-pw", Permissions: map[string]access.Permissions{"/": mgmttest.AllPermissions}},
	// mgr sees only what it may read: the orders queues.
	{Name: "mgr", Password: "mgr-pw", Tags: []string{access.TagManagement}, Permissions: map[string]access.Permissions{"/": {Read: "orders.*"}}},
	// narrow is an administrator whose permissions cover other queues only.
	{Name: "narrow", Password: "narrow-pw", Tags: []string{access.TagAdministrator}, Permissions: map[string]access.Permissions{"/": {Configure: "tmp-.*", Read: "tmp-.*"}}},
}

// call performs one request and decodes a JSON answer into out (if not nil).
func call(t *testing.T, b *mgmttest.Broker, user, method, path string, body any, out any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, b.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if user != "" {
		req.SetBasicAuth(user, b.Users[user])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp
}

func wantStatus(t *testing.T, resp *http.Response, want int) {
	t.Helper()
	if resp.StatusCode != want {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("%s %s: status %d, want %d: %s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, want, raw)
	}
}

// logCapture records log messages for assertions.
type logCapture struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (l *logCapture) Handle(_ context.Context, r slog.Record) error {
	var sb strings.Builder
	sb.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&sb, " %s=%v", a.Key, a.Value); return true })
	l.mu.Lock()
	l.msgs = append(l.msgs, sb.String())
	l.mu.Unlock()
	return nil
}
func (l *logCapture) WithAttrs([]slog.Attr) slog.Handler { return l }
func (l *logCapture) WithGroup(string) slog.Handler      { return l }
func (l *logCapture) find(sub string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, m := range l.msgs {
		if strings.Contains(m, sub) {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, what, 20*time.Second, cond)
}

// workload declares orders (dead-letter queue orders.dlq) bound to
// exchange shop, dead-letters three messages into orders.dlq, and leaves
// four ready in default_queue. It returns the client connection.
func workload(t *testing.T, b *mgmttest.Broker, clientLog *logCapture) *clients.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := clients.Options{ClientName: "workload", User: "admin", Password: b.Users["admin"]}
	if clientLog != nil {
		opts.Logger = slog.New(clientLog)
	}
	if b.Users["admin"] == "" {
		opts.User, opts.Password = "", ""
	}
	conn, err := clients.Dial(ctx, b.Addr, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(conn.DeclareQueue(ctx, "orders.dlq", clients.QueueOptions{}))
	must(conn.DeclareQueue(ctx, "orders", clients.QueueOptions{DeadLetterQueue: "orders.dlq"}))
	must(conn.DeclareExchange(ctx, "shop", clients.Direct))
	must(conn.Bind(ctx, "shop", "orders", "order"))
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "shop", RoutingKey: "order"})
	must(err)
	for i := range 3 {
		c, err := pub.Publish(ctx, fmt.Sprintf("bad-%d", i), []byte(fmt.Sprintf("secret plaintext %d", i)))
		must(err)
		must(c.Wait(ctx))
	}
	var rejected sync.WaitGroup
	rejected.Add(3)
	cons, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: "orders", Prefetch: 10,
		Handler: func(context.Context, *clients.Delivery) error {
			rejected.Done()
			return clients.Permanent(errors.New("test: reject"))
		}})
	must(err)
	rejected.Wait()
	waitFor(t, "three dead-lettered messages", func() bool {
		q, _ := queueStat(b, "orders.dlq")
		return q.Ready == 3
	})
	must(cons.Cancel(ctx))
	dpub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key"})
	must(err)
	for i := range 4 {
		c, err := dpub.Publish(ctx, fmt.Sprintf("m-%d", i), []byte("x"))
		must(err)
		must(c.Wait(ctx))
	}
	return conn
}

type queueView struct {
	Name         string `json:"name"`
	Vhost        string `json:"vhost"`
	Ready        int    `json:"messages_ready"`
	Unacked      int    `json:"messages_unacknowledged"`
	Consumers    int    `json:"consumers"`
	DLQ          string `json:"dead_letter_queue"`
	MessageStats struct {
		Publish      uint64 `json:"publish"`
		DeliverGet   uint64 `json:"deliver_get"`
		DeadLettered uint64 `json:"dead_lettered"`
	} `json:"message_stats"`
}

func queueStat(b *mgmttest.Broker, name string) (q struct{ Ready, Unacked, Consumers int }, ok bool) {
	for _, s := range b.Server.Stats().Queues {
		if s.Name == name {
			return struct{ Ready, Unacked, Consumers int }{s.Ready, s.Unacked, s.Consumers}, true
		}
	}
	return q, false
}

func TestAPIEndpoints(t *testing.T) {
	audit := &logCapture{}
	b := mgmttest.Start(t, server.DefaultConfig(), testUsers, slog.New(audit))
	clientLog := &logCapture{}
	workload(t, b, clientLog)

	t.Run("refusals", func(t *testing.T) {
		// Unauthenticated: 401 with a challenge, the RabbitMQ error shape.
		var e struct{ Error, Reason string }
		resp := call(t, b, "", "GET", "/api/overview", nil, &e)
		wantStatus(t, resp, 401)
		if resp.Header.Get("WWW-Authenticate") == "" || e.Error != "not_authorized" || e.Reason == "" {
			t.Fatalf("401 answer: header %q body %+v", resp.Header.Get("WWW-Authenticate"), e)
		}
		// Wrong password: 401, audited.
		req, _ := http.NewRequest("GET", b.URL+"/api/whoami", nil)
		req.SetBasicAuth("admin", "wrong")
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != 401 {
			t.Fatalf("wrong password: %d", r2.StatusCode)
		}
		if !audit.find("management authentication failed audit=true") {
			t.Fatal("no audit record of the failed login")
		}
		// A user without a management tag: 403 everywhere.
		for _, p := range []string{"/api/overview", "/api/queues", "/api/connections", "/api/whoami"} {
			wantStatus(t, call(t, b, "notag", "GET", p, nil, nil), 403)
		}
		// monitoring is read-only: every change is 403.
		for _, rq := range []struct{ m, p string }{
			{"DELETE", "/api/queues/%2F/orders"},
			{"DELETE", "/api/queues/%2F/orders/contents"},
			{"POST", "/api/queues/%2F/orders/dead-letters/move"},
			{"DELETE", "/api/connections/1"},
		} {
			var body any
			if rq.m == "POST" {
				body = map[string]int{}
			}
			wantStatus(t, call(t, b, "mon", rq.m, rq.p, body, nil), 403)
		}
		// An administrator still needs the operation table's permission
		// on the queue (purge: read; delete: configure), as over the
		// protocols; a refusal names it and changes nothing.
		before, _ := queueStat(b, "orders.dlq")
		for _, rq := range []struct{ m, p, want string }{
			{"DELETE", "/api/queues/%2F/orders.dlq/contents", `may not purge queue "orders.dlq" in vhost "/" (read permission)`},
			{"DELETE", "/api/queues/%2F/orders", `may not delete queue "orders" in vhost "/" (configure permission)`},
		} {
			var e struct{ Error, Reason string }
			wantStatus(t, call(t, b, "narrow", rq.m, rq.p, nil, &e), 403)
			if e.Error != "access_refused" || !strings.Contains(e.Reason, rq.want) {
				t.Fatalf("%s %s as narrow: %+v, want access_refused naming %q", rq.m, rq.p, e, rq.want)
			}
		}
		if after, _ := queueStat(b, "orders.dlq"); after.Ready != before.Ready || before.Ready == 0 {
			t.Fatalf("orders.dlq after the refused purge: %+v, before %+v", after, before)
		}
		if _, ok := queueStat(b, "orders"); !ok {
			t.Fatal("orders is gone after the refused delete")
		}
		if !audit.find("management action refused: access refused") {
			t.Fatal("no audit record of the permission refusal")
		}
		if !audit.find("management action refused: not an administrator audit=true") {
			t.Fatal("no audit record of the refused action")
		}
		// Unknown endpoint: JSON 404.
		wantStatus(t, call(t, b, "mon", "GET", "/api/nope", nil, &e), 404)
		if e.Error != "not_found" {
			t.Fatalf("404 body %+v", e)
		}
		// Bad paging: 400.
		wantStatus(t, call(t, b, "mon", "GET", "/api/queues?page_size=1001", nil, nil), 400)
	})

	t.Run("whoami", func(t *testing.T) {
		var w struct {
			Name   string
			Tags   []string
			Vhosts []string
			Admin  bool `json:"can_administer"`
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/whoami", nil, &w), 200)
		if w.Name != "mon" || len(w.Tags) != 1 || w.Tags[0] != "monitoring" || w.Admin || len(w.Vhosts) != 1 {
			t.Fatalf("whoami %+v", w)
		}
	})

	t.Run("queues equal the broker's stats", func(t *testing.T) {
		var qs []queueView
		wantStatus(t, call(t, b, "mon", "GET", "/api/queues", nil, &qs), 200)
		st := b.Server.Stats()
		if len(qs) != len(st.Queues) {
			t.Fatalf("API lists %d queues, broker has %d", len(qs), len(st.Queues))
		}
		for i, s := range st.Queues {
			q := qs[i]
			if q.Name != s.Name || q.Vhost != "/" || q.Ready != s.Ready || q.Unacked != s.Unacked || q.Consumers != s.Consumers ||
				q.MessageStats.Publish != s.Published || q.MessageStats.DeliverGet != s.Delivered || q.MessageStats.DeadLettered != s.DeadLettered {
				t.Errorf("queue %d: API %+v, broker %+v", i, q, s)
			}
		}
		// Spot values from the workload.
		var q queueView
		wantStatus(t, call(t, b, "mon", "GET", "/api/queues/%2F/default_queue", nil, &q), 200)
		if q.Ready != 4 {
			t.Fatalf("default_queue ready %d, want 4", q.Ready)
		}
		// Paging: one per page, following the cursor, gives the same list.
		var names []string
		after := ""
		for range 10 {
			var page []queueView
			resp := call(t, b, "mon", "GET", "/api/queues?page_size=1&after="+url.QueryEscape(after), nil, &page)
			wantStatus(t, resp, 200)
			for _, p := range page {
				names = append(names, p.Name)
			}
			after = resp.Header.Get(mgmt.NextHeader)
			if after == "" {
				break
			}
		}
		if len(names) != len(st.Queues) {
			t.Fatalf("paged listing %v, want %d queues", names, len(st.Queues))
		}
	})

	t.Run("visibility follows permissions", func(t *testing.T) {
		var qs []queueView
		wantStatus(t, call(t, b, "mgr", "GET", "/api/queues", nil, &qs), 200)
		if len(qs) != 2 || qs[0].Name != "orders" || qs[1].Name != "orders.dlq" {
			t.Fatalf("mgr sees %+v, want orders and orders.dlq only", qs)
		}
		wantStatus(t, call(t, b, "mgr", "GET", "/api/queues/%2F/default_queue", nil, nil), 404)
		var conns []map[string]any
		wantStatus(t, call(t, b, "mgr", "GET", "/api/connections", nil, &conns), 200)
		if len(conns) != 0 {
			t.Fatalf("mgr sees other users' connections: %v", conns)
		}
		var ov struct {
			ObjectTotals map[string]int `json:"object_totals"`
		}
		wantStatus(t, call(t, b, "mgr", "GET", "/api/overview", nil, &ov), 200)
		if ov.ObjectTotals["queues"] != 2 {
			t.Fatalf("mgr overview counts %v", ov.ObjectTotals)
		}
		if _, wide := ov.ObjectTotals["connections"]; wide {
			t.Fatal("mgr sees the broker-wide connection count")
		}
		wantStatus(t, call(t, b, "mgr", "GET", "/api/queues/other", nil, nil), 404)
	})

	t.Run("exchanges bindings consumers overview", func(t *testing.T) {
		var xs []struct {
			Name, Type string
			Bindings   int
			Published  uint64
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/exchanges", nil, &xs), 200)
		found := false
		for _, x := range xs {
			if x.Name == "shop" {
				found = x.Type == "direct" && x.Bindings == 1 && x.Published == 3
			}
		}
		if !found {
			t.Fatalf("exchange shop not listed right: %+v", xs)
		}
		var bs []struct {
			Source      string `json:"source"`
			Destination string `json:"destination"`
			Key         string `json:"routing_key"`
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/bindings", nil, &bs), 200)
		if len(bs) != 2 || bs[0].Source != "default_exchange" || bs[1].Source != "shop" || bs[1].Destination != "orders" || bs[1].Key != "order" {
			t.Fatalf("bindings %+v", bs)
		}
		var page []any
		resp := call(t, b, "mon", "GET", "/api/bindings?page_size=1", nil, &page)
		wantStatus(t, resp, 200)
		next := resp.Header.Get(mgmt.NextHeader)
		if len(page) != 1 || next == "" {
			t.Fatalf("binding page %v next %q", page, next)
		}
		resp = call(t, b, "mon", "GET", "/api/bindings?page_size=1&after="+url.QueryEscape(next), nil, &bs)
		if len(bs) != 1 || bs[0].Source != "shop" || resp.Header.Get(mgmt.NextHeader) != "" {
			t.Fatalf("second binding page %+v", bs)
		}

		// A consumer shows in /api/consumers and the queue's detail.
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		conn, err := clients.Dial(ctx, b.Addr, clients.Options{User: "admin", Password: b.Users["admin"]})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		hold := make(chan struct{})
		defer close(hold)
		cons, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: "default_queue", Prefetch: 2, Tag: "holder",
			Handler: func(hctx context.Context, _ *clients.Delivery) error {
				select {
				case <-hold:
				case <-hctx.Done():
				}
				return errors.New("give back")
			}})
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Cancel(context.Background())
		waitFor(t, "two unacked deliveries", func() bool { q, _ := queueStat(b, "default_queue"); return q.Unacked == 2 })
		var raw []map[string]any
		wantStatus(t, call(t, b, "mon", "GET", "/api/consumers", nil, &raw), 200)
		if len(raw) != 1 || raw[0]["queue"] != "default_queue" || raw[0]["consumer_tag"] != "holder" || raw[0]["prefetch_count"] != float64(2) {
			t.Fatalf("consumers %v", raw)
		}
		var d struct {
			queueView
			Bindings  []map[string]any `json:"bindings"`
			Consumers []map[string]any `json:"consumer_details"`
			DLCount   int              `json:"dead_letter_messages"`
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/queues/%2F/default_queue", nil, &d), 200)
		if d.Unacked != 2 || d.Ready != 2 || len(d.Consumers) != 1 || len(d.Bindings) != 1 || d.DLQ != "default_queue.dlq" {
			t.Fatalf("queue detail %+v", d)
		}
		var ov struct {
			QueueTotals  map[string]int `json:"queue_totals"`
			ObjectTotals map[string]int `json:"object_totals"`
			Health       map[string]any `json:"health"`
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/overview", nil, &ov), 200)
		st := b.Server.Stats()
		ready, unacked := 0, 0
		for _, q := range st.Queues {
			ready += q.Ready
			unacked += q.Unacked
		}
		if ov.QueueTotals["messages_ready"] != ready || ov.QueueTotals["messages_unacknowledged"] != unacked ||
			ov.ObjectTotals["connections"] != st.Connections || ov.ObjectTotals["consumers"] != st.Consumers {
			t.Fatalf("overview %+v, broker ready %d unacked %d connections %d consumers %d", ov, ready, unacked, st.Connections, st.Consumers)
		}
		if _, ok := ov.Health["mem_used"]; !ok {
			t.Fatalf("overview health %v", ov.Health)
		}
	})

	t.Run("dead letters by metadata, then moved back", func(t *testing.T) {
		var dl struct {
			Queue    string
			Total    int
			Messages []struct {
				ID     string `json:"id"`
				Size   int    `json:"size"`
				Reason string `json:"reason"`
			}
		}
		resp := call(t, b, "mon", "GET", "/api/queues/%2F/orders/dead-letters", nil, &dl)
		wantStatus(t, resp, 200)
		raw, _ := io.ReadAll(resp.Body)
		if bytes.Contains(raw, []byte("secret plaintext")) {
			t.Fatalf("the dead-letter listing shows message bodies: %s", raw)
		}
		if dl.Queue != "orders.dlq" || dl.Total != 3 || len(dl.Messages) != 3 || dl.Messages[0].ID != "bad-0" || dl.Messages[0].Size != len("secret plaintext 0") ||
			dl.Messages[0].Reason != "unknown" { // rejected with clients.Permanent: no reason given
			t.Fatalf("dead letters %+v", dl)
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/queues/%2F/orders/dead-letters?limit=1&offset=2", nil, &dl), 200)
		if len(dl.Messages) != 1 || dl.Messages[0].ID != "bad-2" {
			t.Fatalf("dead-letter page %+v", dl)
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/queues/%2F/orders/dead-letters?limit=0", nil, nil), 400)
		// default_queue's dead-letter queue exists; orders.dlq has none.
		wantStatus(t, call(t, b, "mon", "GET", "/api/queues/%2F/orders.dlq/dead-letters", nil, nil), 404)
		// A move needs a JSON body type (no cross-site form posts).
		req, _ := http.NewRequest("POST", b.URL+"/api/queues/%2F/orders/dead-letters/move", strings.NewReader("{}"))
		req.SetBasicAuth("admin", b.Users["admin"])
		req.Header.Set("Content-Type", "text/plain")
		r2, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r2.Body.Close()
		if r2.StatusCode != http.StatusUnsupportedMediaType {
			t.Fatalf("form-typed move: %d", r2.StatusCode)
		}
		var mv struct{ Moved, Left int }
		wantStatus(t, call(t, b, "admin", "POST", "/api/queues/%2F/orders/dead-letters/move", map[string]int{"limit": 2}, &mv), 200)
		if mv.Moved != 2 || mv.Left != 1 {
			t.Fatalf("move %+v", mv)
		}
		wantStatus(t, call(t, b, "admin", "POST", "/api/queues/%2F/orders/dead-letters/move", map[string]int{}, &mv), 200)
		if mv.Moved != 1 || mv.Left != 0 {
			t.Fatalf("second move %+v", mv)
		}
		if q, _ := queueStat(b, "orders"); q.Ready != 3 {
			t.Fatalf("orders holds %d ready after the move, want 3", q.Ready)
		}
		if !audit.find("dead-lettered messages moved back audit=true") {
			t.Fatal("no audit record of the move")
		}
	})

	t.Run("purge and delete", func(t *testing.T) {
		var p struct {
			N int `json:"message_count"`
		}
		wantStatus(t, call(t, b, "admin", "DELETE", "/api/queues/%2F/orders/contents", nil, &p), 200)
		if p.N != 3 {
			t.Fatalf("purged %d, want 3", p.N)
		}
		if q, _ := queueStat(b, "orders"); q.Ready != 0 {
			t.Fatalf("orders holds %d after purge", q.Ready)
		}
		// orders.dlq is still orders' dead-letter queue: 409.
		wantStatus(t, call(t, b, "admin", "DELETE", "/api/queues/%2F/orders.dlq", nil, nil), 409)
		wantStatus(t, call(t, b, "admin", "DELETE", "/api/queues/%2F/orders", nil, nil), 204)
		wantStatus(t, call(t, b, "admin", "GET", "/api/queues/%2F/orders", nil, nil), 404)
		wantStatus(t, call(t, b, "admin", "DELETE", "/api/queues/%2F/orders", nil, nil), 404)
		if !audit.find("queue deleted audit=true") || !audit.find("queue purged audit=true") {
			t.Fatal("no audit records of purge and delete")
		}
	})

	t.Run("health", func(t *testing.T) {
		var st map[string]any
		wantStatus(t, call(t, b, "mon", "GET", "/api/health/checks/alarms", nil, &st), 200)
		if st["status"] != "ok" {
			t.Fatalf("alarms %v", st)
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/health/checks/ready", nil, &st), 200)
		wantStatus(t, call(t, b, "mon", "GET", "/api/health", nil, &st), 200)
		if st["durable"] != false {
			t.Fatalf("health %v", st)
		}
	})

	t.Run("close a connection", func(t *testing.T) {
		var conns []struct {
			Name, User string
			Protocol   string
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/connections", nil, &conns), 200)
		if len(conns) == 0 {
			t.Fatal("no connections listed")
		}
		target := ""
		for _, c := range conns {
			if c.User != "admin" || c.Protocol != "native" {
				t.Fatalf("connection %+v", c)
			}
			target = c.Name // the workload's connection is the first
			break
		}
		wantStatus(t, call(t, b, "mon", "GET", "/api/connections/"+target, nil, nil), 200)
		wantStatus(t, call(t, b, "admin", "DELETE", "/api/connections/"+target, nil, nil), 204)
		waitFor(t, "the client to see the close", func() bool { return clientLog.find("closed by administrator admin") })
		waitFor(t, "the connection to go", func() bool {
			return call(t, b, "mon", "GET", "/api/connections/"+target, nil, nil).StatusCode == 404
		})
		wantStatus(t, call(t, b, "admin", "DELETE", "/api/connections/"+target, nil, nil), 404)
		wantStatus(t, call(t, b, "admin", "DELETE", "/api/connections/not-a-number", nil, nil), 404)
	})
}

// A broker without users answers loopback clients as guest and refuses
// everyone else.
func TestAPIAnonymousLoopbackOnly(t *testing.T) {
	b := mgmttest.Start(t, server.DefaultConfig(), nil, nil)
	var w struct {
		Name  string
		Admin bool `json:"can_administer"`
	}
	wantStatus(t, call(t, b, "", "GET", "/api/whoami", nil, &w), 200)
	if w.Name != "guest" || !w.Admin {
		t.Fatalf("whoami %+v", w)
	}
	h := mgmt.NewHandler(b.Server, mgmt.Options{})
	req := httptest.NewRequest("GET", "/api/overview", nil)
	req.RemoteAddr = "192.0.2.7:40000"
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 403 || !strings.Contains(rec.Body.String(), "loopback") {
		t.Fatalf("non-loopback anonymous: %d %s", rec.Code, rec.Body)
	}
}

// The console's files are served, without external references.
func TestConsoleAssets(t *testing.T) {
	b := mgmttest.Start(t, server.DefaultConfig(), nil, nil)
	for _, p := range []string{"/", "/app.js", "/style.css"} {
		resp := call(t, b, "", "GET", p, nil, nil)
		wantStatus(t, resp, 200)
		raw, _ := io.ReadAll(resp.Body)
		for _, ext := range []string{"http://", "https://", "//cdn"} {
			if bytes.Contains(raw, []byte(ext)) {
				t.Fatalf("%s references an external asset (%s)", p, ext)
			}
		}
	}
}
