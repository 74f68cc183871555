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
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// server --mgmt-listen serves the management API and the console, and ctl
// reads it.
func TestServerMgmtListen(t *testing.T) {
	isolate(t)
	t.Setenv(setMgmtURL.env, "")
	addr, mgmtAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newServerCmd()
	cmd.SetArgs([]string{"--listen", addr, "--mgmt-listen", mgmtAddr, "--log-level", "error", "--in-memory"})
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	}()
	url := "http://" + mgmtAddr
	waitUntil(t, "the management listener", func() bool {
		resp, err := http.Get(url + "/api/health/checks/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	resp, err := http.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "CipherMQ console") {
		t.Fatalf("console page: %.200s", page)
	}
	out, err := runCtl(t, "--url", url, "list", "queues")
	if err != nil || !strings.Contains(out, "default_queue") {
		t.Fatalf("ctl against --mgmt-listen: %v\n%s", err, out)
	}
}

// With users, a management listener beyond loopback needs
// --allow-plain-without-tls (basic auth over plain HTTP).
func TestServerMgmtListenRefusesPlainPasswordsBeyondLoopback(t *testing.T) {
	isolate(t)
	users := filepath.Join(t.TempDir(), "users.json")
	if err := os.WriteFile(users, []byte(`{"version":1,"users":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newServerCmd()
	cmd.SetArgs([]string{"--listen", freeAddr(t), "--users", users, "--mgmt-listen", "0.0.0.0:0", "--log-level", "error", "--in-memory"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "--allow-plain-without-tls") {
		t.Fatalf("got %v", err)
	}
}
