package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/internal/testutil"
)

func TestServerConfigPrecedenceFlagOverFileOverDefault(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.json")
	if err := os.WriteFile(path, []byte(`{"max_connections": 7, "heartbeat": "3s", "listen": "127.0.0.1:7000"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newServerCmd()
	if err := cmd.ParseFlags([]string{"--config", path, "--heartbeat", "2s", "--dedup-window", "1m"}); err != nil {
		t.Fatal(err)
	}
	o := &serverFlags{configPath: path}
	cfg, err := serverConfig(cmd, o)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MaxConnections != 7 || cfg.Listen != "127.0.0.1:7000" {
		t.Errorf("file values not applied: %+v", cfg)
	}
	if cfg.Heartbeat != 2*time.Second || cfg.DedupWindow != time.Minute {
		t.Errorf("flags did not override: heartbeat %v dedup %v", cfg.Heartbeat, cfg.DedupWindow)
	}
	if cfg.TextPacingGap != 20*time.Millisecond {
		t.Errorf("default lost: %v", cfg.TextPacingGap)
	}
}

func TestServerRejectsBadSettings(t *testing.T) {
	for _, args := range [][]string{
		{"--max-connections", "0"},
		{"--listen", "nonsense"},
		{"--log-level", "loud"},
		{"--config", filepath.Join(t.TempDir(), "missing.json")},
		{"--in-memory", "--listen", "127.0.0.1:0", "--http-listen", "nonsense"},
		{"--in-memory", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--metrics-auth", "maybe"},
		{"--in-memory", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--metrics-auth", "users"}, // no --users
		{"--in-memory", "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--http-tls"},              // no certificate
	} {
		cmd := newServerCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&strings.Builder{})
		cmd.SetErr(&strings.Builder{})
		if err := cmd.Execute(); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestServerRunsUntilItsContextEnds stands in for SIGINT/SIGTERM, which
// end the same context through signal.NotifyContext.
func TestServerRunsUntilItsContextEnds(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newServerCmd()
	cmd.SetArgs([]string{"--listen", addr, "--log-level", "error", "--data-dir", t.TempDir()})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	var nc net.Conn
	testutil.Eventually(t, "the server to listen", 10*time.Second, func() bool {
		nc, err = net.Dial("tcp", addr)
		return err == nil
	})
	defer nc.Close()
	nc.Write([]byte("declare_queue q\n"))
	buf := make([]byte, 64)
	nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _ := nc.Read(buf)
	if got := string(buf[:n]); got != "Queue declared\n" {
		t.Fatalf("got %q", got)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server returned %v, want nil (exit 0)", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
}

func TestParseByteSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
	}{{"900MiB", 900 << 20}, {"2GiB", 2 << 30}, {"512KiB", 512 << 10}, {"4096", 4096}, {"100B", 100}} {
		got, err := parseByteSize(c.in)
		if err != nil || got != c.want {
			t.Errorf("parseByteSize(%q) = %d, %v; want %d", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "-1", "0", "1TB", "MiB", "1.5GiB", "99999999999999GiB"} {
		if _, err := parseByteSize(bad); err == nil {
			t.Errorf("parseByteSize(%q) accepted", bad)
		}
	}
}

func TestServerTLSFlags(t *testing.T) {
	cmd := newServerCmd()
	if err := cmd.ParseFlags([]string{"--listen", "off", "--tls-listen", "127.0.0.1:5671", "--tls-cert", "s.pem", "--tls-key", "s.key",
		"--tls-ca", "ca.pem", "--tls-client-auth", "require", "--tls-crl", "ca.crl", "--tls-min-version", "1.2",
		"--tls-identity-from", "san-dns", "--max-connection-age", "30m"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := serverConfig(cmd, &serverFlags{})
	if err != nil {
		t.Fatal(err)
	}
	tc := cfg.TLS
	if cfg.Listen != "off" || tc.Listen != "127.0.0.1:5671" || tc.CertFile != "s.pem" || tc.KeyFile != "s.key" || tc.CAFile != "ca.pem" ||
		tc.ClientAuth != "require" || tc.CRLFile != "ca.crl" || tc.MinVersion != "1.2" || tc.IdentityFrom != "san-dns" ||
		cfg.MaxConnectionAge != 30*time.Minute {
		t.Fatalf("flags not applied: listen %q %+v age %v", cfg.Listen, tc, cfg.MaxConnectionAge)
	}
	for _, args := range [][]string{
		{"--tls-listen", "127.0.0.1:5671"},                        // no certificate
		{"--tls-listen", "127.0.0.1:5671", "--tls-cert", "s.pem"}, // no key
		{"--tls-listen", "127.0.0.1:5671", "--tls-cert", "s.pem", "--tls-key", "s.key", "--tls-client-auth", "require"}, // no CA
		{"--tls-listen", "127.0.0.1:5671", "--tls-cert", "s.pem", "--tls-key", "s.key", "--tls-min-version", "1.0"},
		{"--listen", "off"},
	} {
		cmd := newServerCmd()
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		if _, err := serverConfig(cmd, &serverFlags{}); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}

// TestServerIsDurableByDefault: without --data-dir the broker keeps its
// data in $XDG_STATE_HOME/ciphermq (else ~/.local/state/ciphermq);
// --data-dir overrides, --in-memory opts out, and both together are
// refused.
func TestServerIsDurableByDefault(t *testing.T) {
	state, home := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	dataDir := func(env string, args ...string) (string, error) {
		t.Helper()
		t.Setenv("XDG_STATE_HOME", env)
		cmd := newServerCmd()
		if err := cmd.ParseFlags(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := serverConfig(cmd, &serverFlags{})
		return cfg.DataDir, err
	}
	for _, c := range []struct {
		env  string
		args []string
		want string
	}{
		{state, nil, filepath.Join(state, "ciphermq")},
		{"", nil, filepath.Join(home, ".local", "state", "ciphermq")},
		{"relative/not/used", nil, filepath.Join(home, ".local", "state", "ciphermq")},
		{state, []string{"--data-dir", "/srv/q"}, "/srv/q"},
		{state, []string{"--in-memory"}, ""},
	} {
		if got, err := dataDir(c.env, c.args...); err != nil || got != c.want {
			t.Errorf("XDG_STATE_HOME=%q %v: data dir %q (%v), want %q", c.env, c.args, got, err, c.want)
		}
	}
	if _, err := dataDir(state, "--in-memory", "--data-dir", "/srv/q"); err == nil || !strings.Contains(err.Error(), "exclude each other") {
		t.Errorf("--in-memory with --data-dir: %v", err)
	}
}

// TestServerServesOperationsListener: --http-listen serves /healthz and
// /metrics beside the broker, and both stop with the server's context.
func TestServerServesOperationsListener(t *testing.T) {
	free := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	addr, httpAddr := free(), free()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newServerCmd()
	cmd.SetArgs([]string{"--listen", addr, "--http-listen", httpAddr, "--log-level", "error", "--in-memory"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	get := func(path string) (int, string, error) {
		resp, err := http.Get("http://" + httpAddr + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	testutil.Eventually(t, "the operations listener to be ready", 10*time.Second, func() bool {
		code, _, err := get("/readyz")
		return err == nil && code == http.StatusOK
	})
	code, body, err := get("/metrics")
	if err != nil || code != http.StatusOK || !strings.Contains(body, "ciphermq_queues ") {
		t.Fatalf("/metrics: %d %v, body without ciphermq_queues:\n%.500s", code, err, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server returned %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
	if _, _, err := get("/healthz"); err == nil {
		t.Fatal("operations listener still answers after the server stopped")
	}
}
