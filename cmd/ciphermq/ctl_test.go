package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/mgmt/mgmttest"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients"
)

func runCtl(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := newCtlCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	cmd.SetContext(context.Background())
	err := cmd.Execute()
	return out.String(), err
}

func TestCtlOverTheManagementAPI(t *testing.T) {
	isolate(t)
	t.Setenv(setMgmtURL.env, "")
	t.Setenv(envPassword, "")
	t.Setenv(setUser.env, "")
	b := mgmttest.Start(t, server.DefaultConfig(), []mgmttest.User{
		{Name: "admin", Password: "admin-pw", Tags: []string{access.TagAdministrator}, Permissions: map[string]access.Permissions{"/": mgmttest.AllPermissions}},
		{Name: "mon", Password: "mon-pw", Tags: []string{access.TagMonitoring}, Permissions: map[string]access.Permissions{"/": {Read: ".*"}}},
	}, nil)
	pwAdmin := filepath.Join(t.TempDir(), "admin.pw")
	if err := os.WriteFile(pwAdmin, []byte("admin-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := []string{"--url", b.URL, "--user", "admin", "--password-file", pwAdmin}

	// Workload: 3 rejected into default_queue.dlq, then 2 left ready.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var logs bytes.Buffer
	var logMu sync.Mutex
	conn, err := clients.Dial(ctx, b.Addr, clients.Options{User: "admin", Password: "admin-pw", ClientName: "ctl-test",
		Logger: newSyncLogger(&logs, &logMu)})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key"})
	if err != nil {
		t.Fatal(err)
	}
	publish := func(ids ...string) {
		for _, id := range ids {
			c, err := pub.Publish(ctx, id, []byte("body of "+id))
			if err == nil {
				err = c.Wait(ctx)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	publish("r1", "r2", "r3")
	var seen sync.WaitGroup
	seen.Add(3)
	cons, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: "default_queue", Prefetch: 10,
		Handler: func(context.Context, *clients.Delivery) error {
			seen.Done()
			return clients.PermanentReason(wire.ReasonTampered, errors.New("reject"))
		}})
	if err != nil {
		t.Fatal(err)
	}
	seen.Wait()
	waitUntil(t, "3 in default_queue.dlq", func() bool { return queueReady(b.Server, "default_queue.dlq") == 3 })
	if err := cons.Cancel(ctx); err != nil {
		t.Fatal(err)
	}
	publish("k1", "k2")

	out, err := runCtl(t, append([]string{"list", "queues"}, admin...)...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "messages_ready") || !regexpLine(out, `^/\s+default_queue\s+2\s+0\s+0\s`) || !regexpLine(out, `^/\s+default_queue\.dlq\s+3\s+0\s+0\s`) {
		t.Fatalf("list queues:\n%s", out)
	}
	out, err = runCtl(t, append([]string{"list", "queues", "--json"}, admin...)...)
	if err != nil {
		t.Fatal(err)
	}
	var qs []struct {
		Name  string `json:"name"`
		Ready int    `json:"messages_ready"`
	}
	if err := json.Unmarshal([]byte(out), &qs); err != nil || len(qs) != 2 || qs[0].Name != "default_queue" || qs[0].Ready != 2 {
		t.Fatalf("list queues --json: %v\n%s", err, out)
	}
	for _, what := range []string{"exchanges", "bindings", "consumers", "connections"} {
		out, err := runCtl(t, append([]string{"list", what}, admin...)...)
		if err != nil {
			t.Fatalf("list %s: %v", what, err)
		}
		want := map[string]string{"exchanges": "default_exchange", "bindings": "default_key", "consumers": "consumer_tag", "connections": "admin"}[what]
		if !strings.Contains(out, want) {
			t.Fatalf("list %s lacks %q:\n%s", what, want, out)
		}
	}

	out, err = runCtl(t, append([]string{"dlq", "list", "default_queue"}, admin...)...)
	if err != nil || !strings.Contains(out, "default_queue.dlq: 3 message(s)") || !strings.Contains(out, "r1") || strings.Contains(out, "body of") ||
		!regexpLine(out, `^r1\s+tampered\s`) {
		t.Fatalf("dlq list (want r1 with reason tampered): %v\n%s", err, out)
	}
	// monitoring may not change anything; the API's reason is shown.
	t.Setenv(envPassword, "mon-pw")
	_, err = runCtl(t, "--url", b.URL, "--user", "mon", "purge", "default_queue")
	if err == nil || !strings.Contains(err.Error(), "administrator") || !strings.Contains(err.Error(), "403") {
		t.Fatalf("purge as monitoring: %v", err)
	}
	_, err = runCtl(t, "--url", b.URL, "--user", "admin", "list", "queues") // mon's password
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("wrong password: %v", err)
	}
	t.Setenv(envPassword, "")

	out, err = runCtl(t, append([]string{"dlq", "move", "default_queue"}, admin...)...)
	if err != nil || !strings.Contains(out, "moved 3 message(s) back to default_queue; 0 left") {
		t.Fatalf("dlq move: %v\n%s", err, out)
	}
	out, err = runCtl(t, append([]string{"purge", "default_queue"}, admin...)...)
	if err != nil || !strings.Contains(out, "purged 5 message(s)") {
		t.Fatalf("purge: %v\n%s", err, out)
	}
	out, err = runCtl(t, append([]string{"list", "connections", "--json"}, admin...)...)
	var cs []struct{ Name string }
	if err != nil || json.Unmarshal([]byte(out), &cs) != nil || len(cs) != 1 {
		t.Fatalf("connections: %v\n%s", err, out)
	}
	out, err = runCtl(t, append([]string{"close", "connection", cs[0].Name, "--reason", "maintenance"}, admin...)...)
	if err != nil || !strings.Contains(out, "closed connection "+cs[0].Name) {
		t.Fatalf("close: %v\n%s", err, out)
	}
	waitUntil(t, "the client to see the close", func() bool {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Contains(logs.String(), "closed by administrator admin via the management API: maintenance")
	})
	if _, err := runCtl(t, append([]string{"delete", "queue", "default_queue.dlq"}, admin...)...); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("deleting a dead-letter queue in use: %v", err)
	}
	if _, err := runCtl(t, append([]string{"delete", "queue", "default_queue"}, admin...)...); err != nil {
		t.Fatal(err)
	}
	if queueExists(b.Server, "default_queue") {
		t.Fatal("default_queue survived ctl delete queue")
	}
	if _, err := runCtl(t, "--url", "http://127.0.0.1:1", "list", "queues", "--timeout", "2s"); err == nil || !strings.Contains(err.Error(), "--http-listen") {
		t.Fatalf("unreachable API: %v", err)
	}
}

func queueExists(srv *server.Server, name string) bool {
	for _, q := range srv.Stats().Queues {
		if q.Name == name {
			return true
		}
	}
	return false
}

func regexpLine(s, re string) bool {
	rx := regexp.MustCompile(re)
	for _, l := range strings.Split(s, "\n") {
		if rx.MatchString(l) {
			return true
		}
	}
	return false
}

// syncWriter serialises writes of a client's logger into a buffer.
type syncWriter struct {
	mu  *sync.Mutex
	buf *bytes.Buffer
}

func (w syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func newSyncLogger(buf *bytes.Buffer, mu *sync.Mutex) *slog.Logger {
	return slog.New(slog.NewTextHandler(syncWriter{mu, buf}, nil))
}
