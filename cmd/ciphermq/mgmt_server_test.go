package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/internal/userfile"
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

// runServerCmd runs `ciphermq server args...` in this process until the
// test ends, then stops it and requires a clean exit.
func runServerCmd(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := newServerCmd()
	cmd.SetArgs(args)
	done := make(chan error, 1)
	go func() { done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("server: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
}

// The operations listener (--http-listen) serves the management API and the
// console beside /metrics, and ctl reads it.
func TestServerHTTPListenServesManagement(t *testing.T) {
	isolate(t)
	t.Setenv(setMgmtURL.env, "")
	addr, mgmtAddr := freeAddr(t), freeAddr(t)
	runServerCmd(t, "--listen", addr, "--http-listen", mgmtAddr, "--log-level", "error", "--in-memory")
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

// A broker with users refuses an operations listener beyond loopback
// without --http-tls, as it refuses PLAIN logins over plain TCP, unless
// --allow-plain-without-tls; the error names the flags.
func TestServerRefusesPlainHTTPBeyondLoopback(t *testing.T) {
	users := filepath.Join(t.TempDir(), "users.json")
	cheap := access.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	phc, err := access.HashPassword([]byte("pw"), bytes.Repeat([]byte{1}, 16), cheap)
	if err != nil {
		t.Fatal(err)
	}
	if err := userfile.Save(users, &access.File{Version: access.FileVersion, Users: []access.User{{Name: "ops", PasswordHash: phc}}}); err != nil {
		t.Fatal(err)
	}
	cmd := newServerCmd()
	cmd.SetArgs([]string{"--in-memory", "--users", users, "--listen", "127.0.0.1:0", "--http-listen", "0.0.0.0:0", "--log-level", "error"})
	cmd.SetOut(io.Discard)
	cmd.SetErr(io.Discard)
	err = cmd.Execute()
	if err == nil {
		t.Fatal("plain HTTP beyond loopback with users accepted")
	}
	for _, flag := range []string{"--http-tls", "--allow-plain-without-tls", "--http-listen"} {
		if !strings.Contains(err.Error(), flag) {
			t.Errorf("error does not name %s: %v", flag, err)
		}
	}

	for _, c := range []struct {
		listen, users string
		tls, allow    bool
		refused       bool
	}{
		{"0.0.0.0:15672", "u.json", false, false, true},
		{":15672", "u.json", false, false, true},
		{"192.0.2.7:15672", "u.json", false, false, true},
		{"0.0.0.0:15672", "u.json", true, false, false},
		{"0.0.0.0:15672", "u.json", false, true, false},
		{"0.0.0.0:15672", "", false, false, false}, // no users: no passwords (the API answers loopback only)
		{"127.0.0.1:15672", "u.json", false, false, false},
		{"[::1]:15672", "u.json", false, false, false},
		{"localhost:15672", "u.json", false, false, false},
		{"off", "u.json", false, false, false},
	} {
		cfg := server.DefaultConfig()
		cfg.Auth.UsersFile, cfg.Auth.AllowPlainWithoutTLS = c.users, c.allow
		err := checkHTTPPlain(cfg, &serverFlags{httpListen: c.listen, httpTLS: c.tls})
		if (err != nil) != c.refused {
			t.Errorf("%+v: %v", c, err)
		}
	}
}

// ctl reaches an --http-tls listener that requires client certificates
// with --tls-ca, --tls-cert and --tls-key (or $CIPHERMQ_TLS_*), as the
// other client commands do; without them it fails with the TLS error, and
// TLS flags with an http:// URL are refused.
func TestCtlOverHTTPSWithClientCertificate(t *testing.T) {
	isolate(t)
	t.Setenv(setMgmtURL.env, "")
	for _, s := range []setting{setTLSCA, setTLSCert, setTLSKey, setTLSServerName} {
		t.Setenv(s.env, "")
	}
	sf, cf := mutualTLSFiles(t, t.TempDir(), "ops")
	mgmtAddr := freeAddr(t)
	runServerCmd(t, "--listen", freeAddr(t), "--http-listen", mgmtAddr, "--http-tls", "--log-level", "error", "--in-memory",
		"--tls-listen", freeAddr(t), "--tls-cert", sf.Cert, "--tls-key", sf.Key, "--tls-ca", sf.CA, "--tls-client-auth", "require")
	url := "https://" + mgmtAddr
	withCert := []string{"--url", url, "--tls-ca", cf.CA, "--tls-cert", cf.Cert, "--tls-key", cf.Key}
	var out string
	var err error
	waitUntil(t, "ctl over HTTPS", func() bool {
		out, err = runCtl(t, append(withCert, "list", "queues")...)
		return err == nil
	})
	if !strings.Contains(out, "default_queue") {
		t.Fatalf("ctl list queues over HTTPS:\n%s", out)
	}
	if _, err := runCtl(t, "--url", url, "--tls-ca", cf.CA, "list", "queues"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ctl without a client certificate: %v, want a TLS certificate error", err)
	}
	if _, err := runCtl(t, "--url", url, "list", "queues"); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("ctl without the CA: %v, want a certificate verification error", err)
	}
	t.Setenv(setTLSCA.env, cf.CA)
	t.Setenv(setTLSCert.env, cf.Cert)
	t.Setenv(setTLSKey.env, cf.Key)
	if out, err := runCtl(t, "--url", url, "list", "queues"); err != nil || !strings.Contains(out, "default_queue") {
		t.Fatalf("ctl with $CIPHERMQ_TLS_*: %v\n%s", err, out)
	}
	if _, err := runCtl(t, "--url", "http://"+mgmtAddr, "--tls-ca", cf.CA, "list", "queues"); err == nil || !strings.Contains(err.Error(), "https://") {
		t.Fatalf("TLS flags with an http:// URL: %v, want an error naming https://", err)
	}
}
