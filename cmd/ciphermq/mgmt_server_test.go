package main

import (
	"context"
	"io"
	"net"
	"net/http"
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

// The operations listener (--http-listen) serves the management API and the
// console beside /metrics, and ctl reads it.
func TestServerHTTPListenServesManagement(t *testing.T) {
	isolate(t)
	t.Setenv(setMgmtURL.env, "")
	addr, mgmtAddr := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newServerCmd()
	cmd.SetArgs([]string{"--listen", addr, "--http-listen", mgmtAddr, "--log-level", "error", "--in-memory"})
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
		t.Fatalf("ctl against --http-listen: %v\n%s", err, out)
	}
}
