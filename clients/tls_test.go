package clients

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/internal/tlsgen"
)

// tlsBroker serves mutual TLS on a loopback port until the test ends.
func tlsBroker(t *testing.T, mutate func(*server.Config)) (addr string, ca *tlsgen.CA, dir string) {
	t.Helper()
	dir = t.TempDir()
	ca, err := tlsgen.NewCA("clients test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.LocalServer()
	if err != nil {
		t.Fatal(err)
	}
	files, err := tlsgen.WriteFiles(dir, "server", ca, leaf)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testServerConfig()
	cfg.TLS.Listen = "127.0.0.1:0"
	cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile = files.Cert, files.Key, files.CA
	cfg.TLS.ClientAuth = server.ClientAuthRequire
	if mutate != nil {
		mutate(&cfg)
	}
	srv, err := server.New(cfg, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTLS(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	})
	return l.Addr().String(), ca, dir
}

// clientFiles writes a client certificate signed by ca.
func clientFiles(t *testing.T, ca *tlsgen.CA, dir, name string) TLSFiles {
	t.Helper()
	leaf, err := ca.Issue(tlsgen.LeafOptions{CommonName: name})
	if err != nil {
		t.Fatal(err)
	}
	f, err := tlsgen.WriteFiles(dir, name, ca, leaf)
	if err != nil {
		t.Fatal(err)
	}
	return TLSFiles{CAFile: f.CA, CertFile: f.Cert, KeyFile: f.Key}
}

func TestPublishAndConsumeOverMutualTLS(t *testing.T) {
	addr, ca, dir := tlsBroker(t, nil)
	cfg, err := TLSConfig(clientFiles(t, ca, dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	c, err := Dial(ctx, addr, Options{ClientName: "tls", Logger: testLogger(t), TLS: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.DeclareQueue(ctx, "secure", QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.Bind(ctx, "default_exchange", "secure", "secure"); err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 10)
	if _, err := c.Consume(ctx, ConsumerOptions{Queue: "secure", Handler: func(_ context.Context, d *Delivery) error {
		got <- d.MessageID + "=" + string(d.Body)
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	p, err := c.NewPublisher(PublisherOptions{Exchange: "default_exchange", RoutingKey: "secure"})
	if err != nil {
		t.Fatal(err)
	}
	pend, err := p.Publish(ctx, "m1", []byte("over tls"))
	if err != nil {
		t.Fatal(err)
	}
	if err := pend.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		if m != "m1=over tls" {
			t.Fatalf("got %q", m)
		}
	case <-ctx.Done():
		t.Fatal("no delivery over TLS")
	}
}

func TestDialTLSFailuresSayTLS(t *testing.T) {
	addr, ca, dir := tlsBroker(t, nil)
	ctx := testCtx(t)
	// No client certificate: the broker requires one.
	noCert, err := TLSConfig(TLSFiles{CAFile: filepath.Join(dir, "server-ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(ctx, addr, Options{Logger: testLogger(t), TLS: noCert}); err == nil || !strings.Contains(err.Error(), "refused the TLS session") {
		t.Fatalf("without the required client certificate: %v", err)
	}
	// A CA that did not sign the broker's certificate.
	other, _ := tlsgen.NewCA("other")
	files := clientFiles(t, ca, dir, "app")
	os.WriteFile(filepath.Join(dir, "other-ca.pem"), other.PEM, 0o644)
	files.CAFile = filepath.Join(dir, "other-ca.pem")
	wrongCA, err := TLSConfig(files)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Dial(ctx, addr, Options{Logger: testLogger(t), TLS: wrongCA})
	if err == nil || !strings.Contains(err.Error(), "TLS handshake") || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("wrong CA: %v", err)
	}
	// A server name the certificate does not have.
	files.CAFile = filepath.Join(dir, "server-ca.pem")
	files.ServerName = "broker.example.org"
	wrongName, _ := TLSConfig(files)
	if _, err = Dial(ctx, addr, Options{Logger: testLogger(t), TLS: wrongName}); err == nil || !strings.Contains(err.Error(), "broker.example.org") {
		t.Fatalf("wrong server name: %v", err)
	}
}

func TestDialTLSRespectsTimeoutAndContext(t *testing.T) {
	// A listener that accepts and never answers the handshake.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true}
	start := time.Now()
	_, err = Dial(context.Background(), l.Addr().String(), Options{Logger: testLogger(t), TLS: cfg, DialTimeout: 200 * time.Millisecond})
	if err == nil || time.Since(start) > waitTimeout/2 {
		t.Fatalf("dial to a silent TLS peer: %v after %v", err, time.Since(start))
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start = time.Now()
	_, err = Dial(ctx, l.Addr().String(), Options{Logger: testLogger(t), TLS: cfg, DialTimeout: time.Minute})
	if err == nil || !errors.Is(err, context.Canceled) || time.Since(start) > waitTimeout/2 {
		t.Fatalf("cancelled dial: %v after %v", err, time.Since(start))
	}
}

func TestTLSConfigErrors(t *testing.T) {
	_, ca, dir := tlsBroker(t, nil)
	good := clientFiles(t, ca, dir, "app")
	if cfg, err := TLSConfig(good); err != nil || cfg.MinVersion != tls.VersionTLS13 || len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Fatalf("good files: %v %+v", err, cfg)
	}
	other := clientFiles(t, ca, dir, "other")
	for name, tc := range map[string]struct {
		f    TLSFiles
		want string
	}{
		"missing CA":        {TLSFiles{CAFile: filepath.Join(dir, "nope.pem")}, "nope.pem"},
		"CA not PEM":        {TLSFiles{CAFile: good.KeyFile}, "no PEM CERTIFICATE"},
		"cert without key":  {TLSFiles{CertFile: good.CertFile}, "without its key"},
		"key without cert":  {TLSFiles{KeyFile: good.KeyFile}, "without its certificate"},
		"missing cert file": {TLSFiles{CertFile: filepath.Join(dir, "gone.pem"), KeyFile: good.KeyFile}, "gone.pem"},
		"key of another":    {TLSFiles{CertFile: good.CertFile, KeyFile: other.KeyFile}, "private key does not match"},
	} {
		if _, err := TLSConfig(tc.f); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", name, err, tc.want)
		}
	}
}

// The broker ends connections at its max connection age; the library
// reconnects (over TLS) and carries on.
func TestMaxConnectionAgeReconnectsOverTLS(t *testing.T) {
	addr, ca, dir := tlsBroker(t, func(c *server.Config) { c.MaxConnectionAge = 300 * time.Millisecond })
	cfg, err := TLSConfig(clientFiles(t, ca, dir, "app"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	c, err := Dial(ctx, addr, Options{Logger: testLogger(t), TLS: cfg, ReconnectMin: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, "two reconnects after the max connection age", func() bool {
		return c.ClientStats().Reconnects >= 2 && c.Connected()
	})
	if err := c.DeclareQueue(ctx, "after-age", QueueOptions{}); err != nil {
		t.Fatalf("after reconnecting: %v", err)
	}
}
