package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
)

// startDurableBroker runs an in-process broker whose durable queues live in
// dataDir; stop shuts it down (and is also called at cleanup), so a test
// can start another one on the same directory.
func startDurableBroker(t *testing.T, dataDir string) (srv *server.Server, addr string, stop func()) {
	t.Helper()
	cfg := server.DefaultConfig()
	cfg.DataDir = dataDir
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatalf("server.New with data dir %s: %v", dataDir, err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		<-done
	}
	t.Cleanup(stop)
	return srv, l.Addr().String(), stop
}

// TestRecvDurableQueueKeepsMessagesAcrossABrokerRestart: recv declares its
// queue durable by default (and with --durable); messages sent while no
// receiver runs are still there after the broker restarts on the same data
// directory, and a second recv stores them all.
func TestRecvDurableQueueKeepsMessagesAcrossABrokerRestart(t *testing.T) {
	isolate(t)
	t.Run("default", func(t *testing.T) { recvKeepsMessagesAcrossARestart(t) })
	t.Run("--durable", func(t *testing.T) { recvKeepsMessagesAcrossARestart(t, "--durable") })
}

func recvKeepsMessagesAcrossARestart(t *testing.T, extra ...string) {
	dataDir := t.TempDir()
	srv, addr, stop := startDurableBroker(t, dataDir)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "received.jsonl")
	recvArgs := func(addr string) []string {
		return append([]string{"--broker", addr, "--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub")},
			append([]string{"--out", out, "--queue", "orders", "--routing-key", "orders"}, extra...)...)
	}
	// The first recv only declares the queue and binding, then stops.
	r := startRecv(t, recvArgs(addr)...)
	r.started(t)
	if err := r.stop(t); err != nil {
		t.Fatalf("recv exit: %v\n%s", err, r.errOut.String())
	}
	msgs := []string{"one", "two", "three"}
	if sendOut, sendErr, err := runSendCmd(t, "", append([]string{"--broker", addr, "--routing-key", "orders",
		"--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key")}, msgs...)...); err != nil {
		t.Fatalf("send: %v\n%s%s", err, sendOut, sendErr)
	}
	if got := queueReady(srv, "orders"); got != len(msgs) {
		t.Fatalf("queue orders holds %d before the restart, want %d", got, len(msgs))
	}
	stop()

	srv2, addr2, _ := startDurableBroker(t, dataDir)
	if got := queueReady(srv2, "orders"); got != len(msgs) {
		t.Fatalf("queue orders holds %d after the restart, want %d (was it declared durable?)", got, len(msgs))
	}
	r = startRecv(t, recvArgs(addr2)...)
	r.started(t)
	waitUntil(t, "3 records after the restart", func() bool { return len(recordsIn(out)) == len(msgs) })
	if err := r.stop(t); err != nil {
		t.Fatalf("recv exit: %v\n%s", err, r.errOut.String())
	}
	got := map[string]bool{}
	for _, rec := range recordsIn(out) {
		got[string(rec.Message)] = true
	}
	for _, m := range msgs {
		if !got[m] {
			t.Errorf("message %q sent before the restart was not stored after it", m)
		}
	}
}

func TestRecvDurableErrorsSayWhatToDo(t *testing.T) {
	isolate(t)
	_, memAddr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "o.jsonl")
	common := []string{"--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub"), "--out", out, "--durable"}
	cases := []struct {
		args []string
		want string
	}{
		// On an --in-memory broker the predeclared default_queue is in memory: asking for it durable is refused, not silently ignored.
		{[]string{"--broker", memAddr}, "pass --queue with a name not in use"},
		// A durable queue on a broker without a data directory is refused with a hint.
		{[]string{"--broker", memAddr, "--queue", "orders"}, "--data-dir"},
	}
	for _, tc := range cases {
		r := startRecv(t, append(tc.args, common...)...)
		err := r.wait(t)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("recv %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestRecvFallsBackToMemoryOnAnInMemoryBroker: by default recv asks for a
// durable queue; a broker without a data directory cannot give one, and
// recv says so and consumes an in-memory queue instead. --in-memory asks
// for one without the warning.
func TestRecvFallsBackToMemoryOnAnInMemoryBroker(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		warn bool
	}{
		{[]string{"--queue", "orders", "--routing-key", "orders"}, true},
		{nil, false}, // default_queue exists in memory: consumed as it is
		{[]string{"--queue", "scratch", "--routing-key", "scratch", "--in-memory"}, false},
	} {
		args := append([]string{"--broker", addr, "--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub"),
			"--out", filepath.Join(t.TempDir(), "o.jsonl")}, c.args...)
		r := startRecv(t, args...)
		r.started(t)
		if err := r.stop(t); err != nil {
			t.Fatalf("recv %v: %v\n%s", c.args, err, r.errOut.String())
		}
		if got := strings.Contains(r.errOut.String(), "in memory only"); got != c.warn {
			t.Errorf("recv %v: warning shown %v, want %v:\n%s", c.args, got, c.warn, r.errOut.String())
		}
	}
}
