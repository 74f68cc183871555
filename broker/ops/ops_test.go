package ops_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	cmqtest "github.com/ciphermq/ciphermq/internal/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/ops"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/internal/tlsgen"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

const waitTimeout = 10 * time.Second

// startBroker serves an in-memory broker and its operations listener on
// loopback until the test ends; it returns the broker, its address and
// the listener's base URL.
func startBroker(t *testing.T, cfg server.Config, opsCfg ops.Config) (*server.Server, string, string) {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv, err := server.New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	opsCfg.Listen = "127.0.0.1:0"
	opsCfg.Logger = logger
	o := ops.New(opsCfg, srv)
	ol, err := o.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	opsServed := make(chan error, 1)
	go func() { opsServed <- o.Serve(ol) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("broker shutdown: %v", err)
		}
		if err := o.Shutdown(ctx); err != nil {
			t.Errorf("ops shutdown: %v", err)
		}
		if err := <-opsServed; err != nil {
			t.Errorf("ops Serve returned %v", err)
		}
		if err := <-served; !errors.Is(err, server.ErrServerClosed) {
			t.Errorf("broker Serve returned %v", err)
		}
	})
	return srv, l.Addr().String(), "http://" + o.Addr().String()
}

func inMemory() server.Config {
	cfg := server.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	return cfg
}

// scrape fetches and parses one metrics endpoint.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %s: %s", url, resp.Status, b)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing %s: %v", url, err)
	}
	return fams
}

// value returns the value of the series of family name whose labels
// include want (name=value pairs), and whether it exists.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == want[i] && lp.GetValue() == want[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

func mustValue(t *testing.T, fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	v, ok := value(fams, name, labels...)
	if !ok {
		t.Fatalf("no series %s%v", name, labels)
	}
	return v
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	cmqtest.Eventually(t, what, waitTimeout, cond)
}

// TestMetricsEqualStatsAfterWorkload runs a scripted workload against a
// real server through the native client, then checks every exported figure
// against the broker's own stats (and the workload's known counts).
func TestMetricsEqualStatsAfterWorkload(t *testing.T) {
	srv, addr, base := startBroker(t, inMemory(), ops.Config{})
	ctx := context.Background()
	conn, err := clients.Dial(ctx, addr, clients.Options{ClientName: "metrics-test", Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, step := range []error{
		conn.DeclareExchange(ctx, "orders", clients.Direct),
		conn.DeclareQueue(ctx, "eu", clients.QueueOptions{}),
		conn.DeclareQueue(ctx, "us", clients.QueueOptions{}),
		conn.Bind(ctx, "orders", "eu", "eu"),
		conn.Bind(ctx, "orders", "us", "us"),
	} {
		if step != nil {
			t.Fatal(step)
		}
	}
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "orders"})
	if err != nil {
		t.Fatal(err)
	}
	send := func(key, id string) error {
		c, err := pub.PublishTo(ctx, "orders", key, id, []byte("body of "+id))
		if err != nil {
			return err
		}
		return c.Wait(ctx)
	}
	for i := range 10 {
		if err := send("eu", fmt.Sprintf("eu-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		if err := send("us", fmt.Sprintf("us-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := send("eu", "eu-0"); err != nil { // a duplicate: confirmed, not enqueued
		t.Fatal(err)
	}
	if err := send("asia", "asia-0"); !clients.IsNoRoute(err) {
		t.Fatalf("publish with no route: %v, want a no-route refusal", err)
	}
	acked := make(chan struct{}, 10)
	n := 0
	cs, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: "eu", Prefetch: 1, Handler: func(context.Context, *clients.Delivery) error {
		if n++; n <= 4 {
			acked <- struct{}{}
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	for range 4 {
		<-acked
	}
	if err := cs.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	// The consumer may have taken more than 4 before its cancel: wait for
	// the broker to have settled whatever it delivered.
	eventually(t, "eu's deliveries settled", func() bool {
		q := queueStats(srv, "eu")
		return q.Unacked == 0 && q.Acked >= 4
	})

	st := srv.Stats()
	agg := scrape(t, base+"/metrics")
	per := scrape(t, base+"/metrics/per-object")

	var sum broker.QueueStats
	for _, q := range st.Queues {
		sum.Ready += q.Ready
		sum.Unacked += q.Unacked
		sum.Published += q.Published
		sum.Duplicates += q.Duplicates
		sum.Delivered += q.Delivered
		sum.Acked += q.Acked
		sum.Bytes += q.Bytes
	}
	if sum.Published != 15 || sum.Duplicates != 1 {
		t.Fatalf("broker stats after the workload: %+v, want 15 published and 1 duplicate", sum)
	}
	checks := []struct {
		name string
		want float64
	}{
		{"ciphermq_queue_messages_ready", float64(sum.Ready)},
		{"ciphermq_queue_messages_unacked", float64(sum.Unacked)},
		{"ciphermq_queue_messages_bytes", float64(sum.Bytes)},
		{"ciphermq_queue_messages_published_total", float64(sum.Published)},
		{"ciphermq_queue_messages_duplicates_total", float64(sum.Duplicates)},
		{"ciphermq_queue_messages_delivered_total", float64(sum.Delivered)},
		{"ciphermq_queue_messages_acked_total", float64(sum.Acked)},
		{"ciphermq_queues", float64(len(st.Queues))},
		{"ciphermq_exchanges", float64(len(st.Exchanges))},
		{"ciphermq_connections", float64(st.Connections)},
		{"ciphermq_consumers", float64(st.Consumers)},
		{"ciphermq_global_messages_duplicates_total", float64(st.Duplicates)},
		{"ciphermq_global_messages_confirmed_total", 16},
		{"ciphermq_dedup_ids", float64(st.DedupIDs)},
		{"ciphermq_dedup_window_seconds", float64(st.DedupWindowMs) / 1000},
		{"ciphermq_memory_used_bytes", float64(srv.MemoryUsage())},
	}
	for _, c := range checks {
		if got := mustValue(t, agg, c.name); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	if got := mustValue(t, agg, "ciphermq_global_messages_refused_total", "reason", "no_route"); got != 1 || st.Refused != 1 {
		t.Errorf("refused{no_route} = %v (broker counts %d refusals), want 1", got, st.Refused)
	}
	// Every publish outcome over the native protocol is timed.
	if got := mustValue(t, agg, "ciphermq_publish_confirm_latency_seconds"); got != 17 {
		t.Errorf("publish→confirm latency observations = %v, want 17 (16 confirms + 1 refusal)", got)
	}
	// Publish→deliver is sampled: one read with publishes in 16. Each
	// publish above was its own read (the client waited for its confirm),
	// so the 16th, eu-0's duplicate, was sampled; eu-0's first delivery
	// timed it.
	if got := mustValue(t, agg, "ciphermq_publish_deliver_latency_seconds"); got != 1 {
		t.Errorf("publish→deliver latency observations = %v, want 1 (the 16th publish read)", got)
	}
	for _, q := range st.Queues {
		for name, want := range map[string]float64{
			"ciphermq_queue_messages_ready":           float64(q.Ready),
			"ciphermq_queue_messages_unacked":         float64(q.Unacked),
			"ciphermq_queue_messages_published_total": float64(q.Published),
			"ciphermq_queue_messages_delivered_total": float64(q.Delivered),
			"ciphermq_queue_messages_acked_total":     float64(q.Acked),
			"ciphermq_queue_consumers":                float64(q.Consumers),
		} {
			if got := mustValue(t, per, name, "vhost", "/", "queue", q.Name); got != want {
				t.Errorf("%s{queue=%q} = %v, want %v", name, q.Name, got, want)
			}
		}
	}
	if len(per["ciphermq_queue_messages_ready"].GetMetric()) != len(st.Queues) {
		t.Errorf("per-object ready series: %d, want one per queue (%d)", len(per["ciphermq_queue_messages_ready"].GetMetric()), len(st.Queues))
	}
}

// declareBound declares queue q bound to the direct exchange x by its own
// name.
func declareBound(t *testing.T, conn *clients.Conn, q string, o clients.QueueOptions) {
	t.Helper()
	ctx := context.Background()
	for _, err := range []error{
		conn.DeclareExchange(ctx, "x", clients.Direct),
		conn.DeclareQueue(ctx, q, o),
		conn.Bind(ctx, "x", q, q),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func queueStats(srv *server.Server, name string) broker.QueueStats {
	for _, q := range srv.Stats().Queues {
		if q.Name == name {
			return q
		}
	}
	return broker.QueueStats{}
}

// TestDeletedQueueSeriesDisappear: after a queue is deleted its per-queue
// series are gone at the next scrape, and the aggregated counters keep its
// counts (they never go back).
func TestDeletedQueueSeriesDisappear(t *testing.T) {
	_, addr, base := startBroker(t, inMemory(), ops.Config{})
	ctx := context.Background()
	conn, err := clients.Dial(ctx, addr, clients.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	declareBound(t, conn, "doomed", clients.QueueOptions{})
	declareBound(t, conn, "kept", clients.QueueOptions{})
	pub, err := conn.NewPublisher(clients.PublisherOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, q := range []string{"doomed", "doomed", "kept"} {
		c, err := pub.PublishTo(ctx, "x", q, fmt.Sprint("m", i), []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	per := scrape(t, base+"/metrics/per-object")
	if v, ok := value(per, "ciphermq_queue_messages_ready", "queue", "doomed"); !ok || v != 2 {
		t.Fatalf("before the delete: doomed ready = %v (present %v), want 2", v, ok)
	}
	before := mustValue(t, scrape(t, base+"/metrics"), "ciphermq_queue_messages_published_total")
	if _, err := conn.DeleteQueue(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}
	per = scrape(t, base+"/metrics/per-object")
	for name, f := range per {
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "queue" && lp.GetValue() == "doomed" {
					t.Errorf("series %s{queue=doomed} still exported after the delete", name)
				}
			}
		}
	}
	if _, ok := value(per, "ciphermq_queue_messages_ready", "queue", "kept"); !ok {
		t.Error("the kept queue's series vanished too")
	}
	agg := scrape(t, base+"/metrics")
	if after := mustValue(t, agg, "ciphermq_queue_messages_published_total"); after != before {
		t.Errorf("aggregated published_total went from %v to %v when a queue was deleted; counters must not go back", before, after)
	}
	if ready := mustValue(t, agg, "ciphermq_queue_messages_ready"); ready != 1 {
		t.Errorf("aggregated ready = %v after the delete, want 1 (kept only)", ready)
	}
}

// TestCollectorsLintClean runs Prometheus's metric linter over both
// collectors, on a broker with traffic and durable storage so that every
// metric family is present.
func TestCollectorsLintClean(t *testing.T) {
	cfg := inMemory()
	cfg.DataDir = t.TempDir()
	srv, addr, _ := startBroker(t, cfg, ops.Config{})
	ctx := context.Background()
	conn, err := clients.Dial(ctx, addr, clients.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	declareBound(t, conn, "d", clients.QueueOptions{Durable: true})
	pub, _ := conn.NewPublisher(clients.PublisherOptions{})
	c, err := pub.PublishTo(ctx, "x", "d", "m1", []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	for _, perObject := range []bool{false, true} {
		problems, err := testutil.CollectAndLint(ops.NewCollector(srv, perObject))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("per-object %v: %s: %s", perObject, p.Metric, p.Text)
		}
		if n := testutil.CollectAndCount(ops.NewCollector(srv, perObject)); n == 0 {
			t.Errorf("per-object %v: collected nothing", perObject)
		}
	}
	m := srv.Metrics()
	if !m.Durable || m.Fsync.Count == 0 || m.LogBytes == 0 {
		t.Errorf("durable broker after a durable publish: %+v, want fsyncs timed and log bytes", m)
	}
}

// TestHealthAndReadiness: /healthz answers while the process serves;
// /readyz says 503 until the broker listens and while it shuts down.
func TestHealthAndReadiness(t *testing.T) {
	srv, err := server.New(inMemory(), nil)
	if err != nil {
		t.Fatal(err)
	}
	o := ops.New(ops.Config{}, srv)
	get := func(path string) (int, string) {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodGet, path, nil)
		o.Handler().ServeHTTP(rec, req)
		return rec.status(), rec.body.String()
	}
	if code, body := get("/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Fatalf("/healthz: %d %q", code, body)
	}
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not listening") {
		t.Fatalf("/readyz before the broker listens: %d %q, want 503 not listening", code, body)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	eventually(t, "readiness", func() bool { code, _ := get("/readyz"); return code == 200 })
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-served
	if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz after shutdown: %d %q, want 503 shutting down", code, body)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Fatalf("/healthz after the broker stopped: %d; liveness is the process's", code)
	}
}

type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *recorder) WriteHeader(code int)        { r.code = code }
func (r *recorder) status() int {
	if r.code == 0 {
		return 200
	}
	return r.code
}

// TestMetricsAuthNeedsMonitoringTag: with MetricsAuth, /metrics wants basic
// auth of a user tagged monitoring (or administrator); a wrong password is
// 401, a user without the tag 403, and the refusals are audit records.
func TestMetricsAuthNeedsMonitoringTag(t *testing.T) {
	cheap := access.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	hash := func(pw string) string {
		phc, err := access.HashPassword([]byte(pw), bytes.Repeat([]byte{7}, 16), cheap)
		if err != nil {
			t.Fatal(err)
		}
		return phc
	}
	path := filepath.Join(t.TempDir(), "users.json")
	if err := userfile.Save(path, &access.File{Version: access.FileVersion, Users: []access.User{
		{Name: "prom", PasswordHash: hash("scrape"), Tags: []string{access.TagMonitoring}},
		{Name: "app", PasswordHash: hash("secret")},
	}}); err != nil {
		t.Fatal(err)
	}
	cfg := inMemory()
	cfg.Auth.UsersFile = path
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	srv, err := server.New(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := ops.New(ops.Config{MetricsAuth: srv.AuthenticateHTTP, Logger: logger}, srv).Handler()
	get := func(path, user, pw string) int {
		rec := &recorder{header: http.Header{}}
		req, _ := http.NewRequest(http.MethodGet, path, nil)
		req.RemoteAddr = "127.0.0.1:40000"
		if user != "" {
			req.SetBasicAuth(user, pw)
		}
		h.ServeHTTP(rec, req)
		return rec.status()
	}
	for _, c := range []struct {
		path, user, pw string
		want           int
	}{
		{"/metrics", "", "", http.StatusUnauthorized},
		{"/metrics", "prom", "wrong", http.StatusUnauthorized},
		{"/metrics", "nobody", "scrape", http.StatusUnauthorized},
		{"/metrics", "app", "secret", http.StatusForbidden},
		{"/metrics/per-object", "app", "secret", http.StatusForbidden},
		{"/metrics", "prom", "scrape", http.StatusOK},
		{"/metrics/per-object", "prom", "scrape", http.StatusOK},
		{"/healthz", "", "", http.StatusOK}, // probes need no credentials
	} {
		if got := get(c.path, c.user, c.pw); got != c.want {
			t.Errorf("GET %s as %q/%q: %d, want %d", c.path, c.user, c.pw, got, c.want)
		}
	}
	out := logs.String()
	for _, want := range []string{`"audit":true,"event":"auth_failure"`, `"audit":true,"event":"access_refused"`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestPerObjectWriterMatchesCollector: /metrics/per-object, written
// directly in the text format, has exactly the families, help, types,
// series and values of the per-queue collector (which CollectAndLint
// checks), label escaping included.
func TestPerObjectWriterMatchesCollector(t *testing.T) {
	srv, addr, base := startBroker(t, inMemory(), ops.Config{})
	ctx := context.Background()
	conn, err := clients.Dial(ctx, addr, clients.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	names := []string{"plain", `back\slash`, `quo"te`, "ünï", "z.last"}
	for _, q := range names {
		declareBound(t, conn, q, clients.QueueOptions{})
	}
	pub, _ := conn.NewPublisher(clients.PublisherOptions{})
	for i, q := range names {
		for j := range i + 1 {
			c, err := pub.PublishTo(ctx, "x", q, fmt.Sprint(q, j), []byte("body"))
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ops.NewCollector(srv, true))
	want, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := scrape(t, base+"/metrics/per-object")
	if len(got) != len(want) {
		t.Fatalf("%d families written, the collector has %d", len(got), len(want))
	}
	for _, wf := range want {
		gf := got[wf.GetName()]
		if gf == nil {
			t.Errorf("family %s missing", wf.GetName())
			continue
		}
		if gf.GetHelp() != wf.GetHelp() || gf.GetType() != wf.GetType() {
			t.Errorf("%s: help %q type %v, collector %q %v", wf.GetName(), gf.GetHelp(), gf.GetType(), wf.GetHelp(), wf.GetType())
		}
		series := func(f *dto.MetricFamily) map[string]float64 {
			out := map[string]float64{}
			for _, m := range f.GetMetric() {
				var pairs []string
				for _, lp := range m.GetLabel() {
					pairs = append(pairs, lp.GetName()+"="+lp.GetValue())
				}
				slices.Sort(pairs)
				key := strings.Join(pairs, ";")
				out[key] = m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
			return out
		}
		gs, ws := series(gf), series(wf)
		if nq := len(srv.Stats().Queues); len(gs) != len(ws) || len(ws) != nq {
			t.Errorf("%s: %d series written, collector %d, queues %d", wf.GetName(), len(gs), len(ws), nq)
		}
		for k, v := range ws {
			if gv, ok := gs[k]; !ok || gv != v {
				t.Errorf("%s{%s}: written %v (present %v), collector %v", wf.GetName(), k, gv, ok, v)
			}
		}
	}
	if v, ok := value(got, "ciphermq_queue_messages_ready", "queue", `quo"te`); !ok || v != 3 {
		t.Errorf(`ready{queue="quo\"te"} = %v (present %v), want 3`, v, ok)
	}
}

// TestHTTPSWithTheBrokersCertificate: with Config.TLS from the broker
// (--http-tls) the listener serves HTTPS with the broker's certificate.
func TestHTTPSWithTheBrokersCertificate(t *testing.T) {
	ca, err := tlsgen.NewCA("ops test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.LocalServer()
	if err != nil {
		t.Fatal(err)
	}
	files, err := tlsgen.WriteFiles(t.TempDir(), "server", ca, leaf)
	if err != nil {
		t.Fatal(err)
	}
	cfg := inMemory()
	cfg.TLS.Listen, cfg.TLS.CertFile, cfg.TLS.KeyFile = "127.0.0.1:0", files.Cert, files.Key
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	tc := srv.HTTPTLSConfig()
	if tc == nil {
		t.Fatal("no TLS config from a broker with a certificate")
	}
	o := ops.New(ops.Config{Listen: "127.0.0.1:0", TLS: tc}, srv)
	l, err := o.Listen(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- o.Serve(l) }()
	defer func() {
		o.Shutdown(context.Background())
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.PEM)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := client.Get("https://" + l.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET /healthz over TLS: %s, TLS state %v", resp.Status, resp.TLS != nil)
	}
	// Go's server answers plain HTTP on a TLS port with a 400: what
	// matters is that nothing is served without TLS.
	if resp, err := http.Get("http://" + l.Addr().String() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP served on the HTTPS listener")
		}
	}
	if srv2, _ := server.New(inMemory(), nil); srv2.HTTPTLSConfig() != nil {
		t.Fatal("a broker without TLS material returned a TLS config")
	}
}
