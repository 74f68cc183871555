package server

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/internal/testutil"
	"github.com/ciphermq/ciphermq/internal/tlsgen"
)

func TestCertIdentity(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/publisher")
	all := &x509.Certificate{URIs: []*url.URL{u}, DNSNames: []string{"pub.example.org", "other"}}
	all.Subject.CommonName = "pub-cn"
	dnsCN := &x509.Certificate{DNSNames: []string{"pub.example.org"}}
	dnsCN.Subject.CommonName = "pub-cn"
	cnOnly := &x509.Certificate{}
	cnOnly.Subject.CommonName = "pub-cn"
	empty := &x509.Certificate{}
	for _, tc := range []struct {
		name    string
		cert    *x509.Certificate
		from    string
		want    string
		wantErr bool
	}{
		{"auto prefers the SAN URI", all, IdentityAuto, "spiffe://example.org/publisher", false},
		{"empty source is auto", all, "", "spiffe://example.org/publisher", false},
		{"auto falls back to the SAN DNS name", dnsCN, IdentityAuto, "pub.example.org", false},
		{"auto falls back to the CN", cnOnly, IdentityAuto, "pub-cn", false},
		{"auto with nothing", empty, IdentityAuto, "", true},
		{"san-uri", all, IdentitySANURI, "spiffe://example.org/publisher", false},
		{"san-uri missing", dnsCN, IdentitySANURI, "", true},
		{"san-dns takes the first", all, IdentitySANDNS, "pub.example.org", false},
		{"san-dns missing", cnOnly, IdentitySANDNS, "", true},
		{"cn", all, IdentityCN, "pub-cn", false},
		{"cn missing", empty, IdentityCN, "", true},
		{"unknown source", all, "dn", "", true},
		{"nil certificate", nil, IdentityAuto, "", true},
	} {
		got, err := CertIdentity(tc.cert, tc.from)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("%s: got %q, %v; want %q, error %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseCRLs(t *testing.T) {
	ca := must(tlsgen.NewCA("test CA"))
	other := must(tlsgen.NewCA("other CA"))
	a := must(ca.Issue(tlsgen.LeafOptions{CommonName: "a"}))
	b := must(ca.Issue(tlsgen.LeafOptions{CommonName: "b"}))
	c := must(ca.Issue(tlsgen.LeafOptions{CommonName: "c"}))
	der := must(ca.CRL(a.Cert))
	pem2 := append(must(ca.CRLPEM(a.Cert)), must(ca.CRLPEM(b.Cert))...)
	cas := []*x509.Certificate{ca.Cert}

	r, err := parseCRLs(der, cas)
	if err != nil {
		t.Fatalf("DER CRL: %v", err)
	}
	if !r.isRevoked(a.Cert) || r.isRevoked(b.Cert) {
		t.Fatalf("DER CRL: a revoked %v, b revoked %v", r.isRevoked(a.Cert), r.isRevoked(b.Cert))
	}
	r, err = parseCRLs(pem2, cas)
	if err != nil {
		t.Fatalf("two PEM CRLs: %v", err)
	}
	if !r.isRevoked(a.Cert) || !r.isRevoked(b.Cert) || r.isRevoked(c.Cert) || r.count != 2 {
		t.Fatalf("two PEM CRLs: a %v b %v c %v count %d", r.isRevoked(a.Cert), r.isRevoked(b.Cert), r.isRevoked(c.Cert), r.count)
	}
	// The same serial from another issuer is not revoked.
	o := must(other.Issue(tlsgen.LeafOptions{CommonName: "o"}))
	o.Cert.SerialNumber = a.Cert.SerialNumber
	if r.isRevoked(o.Cert) {
		t.Fatal("a serial revoked by one CA revoked another CA's certificate")
	}
	if _, err := parseCRLs(must(other.CRL(a.Cert)), cas); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("CRL of another CA: %v", err)
	}
	if _, err := parseCRLs([]byte("not a crl"), cas); err == nil {
		t.Fatal("garbage accepted")
	}
	if _, err := parseCRLs(ca.PEM, cas); err == nil || !strings.Contains(err.Error(), "X509 CRL") {
		t.Fatalf("a certificate given as CRL: %v", err)
	}
}

func TestTLSConfigValidation(t *testing.T) {
	good := func() Config {
		cfg := DefaultConfig()
		cfg.TLS = TLSConfig{Listen: "127.0.0.1:5671", CertFile: "s.pem", KeyFile: "s.key", CAFile: "ca.pem",
			ClientAuth: ClientAuthRequire, MinVersion: "1.3", IdentityFrom: IdentityAuto}
		return cfg
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("valid TLS config refused: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string // in the error; "" = accepted
	}{
		{"min version 1.2", func(c *Config) { c.TLS.MinVersion = "1.2" }, ""},
		{"min version 1.0", func(c *Config) { c.TLS.MinVersion = "1.0" }, "1.2 or 1.3"},
		{"cert without key", func(c *Config) { c.TLS.KeyFile = "" }, "without its key"},
		{"key without cert", func(c *Config) { c.TLS.CertFile = "" }, "without its certificate"},
		{"require without CA", func(c *Config) { c.TLS.CAFile = "" }, "--tls-ca"},
		{"request without CA", func(c *Config) { c.TLS.CAFile = ""; c.TLS.ClientAuth = ClientAuthRequest }, "--tls-ca"},
		{"none without CA", func(c *Config) { c.TLS.CAFile = ""; c.TLS.ClientAuth = ClientAuthNone }, ""},
		{"CRL without CA", func(c *Config) { c.TLS.CAFile = ""; c.TLS.ClientAuth = ClientAuthNone; c.TLS.CRLFile = "x.crl" }, "--tls-ca"},
		{"unknown client auth", func(c *Config) { c.TLS.ClientAuth = "optional" }, "none, request or require"},
		{"unknown identity source", func(c *Config) { c.TLS.IdentityFrom = "dn" }, "auto, san-uri"},
		{"listener without cert", func(c *Config) { c.TLS.CertFile, c.TLS.KeyFile = "", "" }, "needs a certificate"},
		{"cert without listener", func(c *Config) { c.TLS.Listen = "" }, "--tls-listen"},
		{"bad TLS address", func(c *Config) { c.TLS.Listen = "5671" }, "TLS listen address"},
		{"TLS only", func(c *Config) { c.Listen = ListenOff }, ""},
		{"nothing to listen on", func(c *Config) { c.Listen = ListenOff; c.TLS = TLSConfig{} }, "nothing to listen on"},
		{"negative max age", func(c *Config) { c.MaxConnectionAge = -1 }, "max connection age"},
	} {
		cfg := good()
		tc.mutate(&cfg)
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: refused: %v", tc.name, err)
		case tc.want != "" && (err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an ErrInvalidConfig naming %q", tc.name, err, tc.want)
		}
	}
}

func TestParseConfigTLSKeys(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"listen": "off", "tls_listen": "0.0.0.0:5671", "tls_cert": "s.pem", "tls_key": "s.key",
		"tls_ca": "ca.pem", "tls_client_auth": "request", "tls_crl": "ca.crl", "tls_min_version": "1.2",
		"tls_identity_from": "cn", "max_connection_age": "1h", "users_file": "users.json"}`), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	want := TLSConfig{Listen: "0.0.0.0:5671", CertFile: "s.pem", KeyFile: "s.key", CAFile: "ca.pem", ClientAuth: "request",
		CRLFile: "ca.crl", MinVersion: "1.2", IdentityFrom: "cn"}
	if cfg.TLS != want || cfg.Listen != ListenOff || cfg.MaxConnectionAge.String() != "1h0m0s" {
		t.Fatalf("parsed %+v listen %q age %v", cfg.TLS, cfg.Listen, cfg.MaxConnectionAge)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// tlsFixture is a CA, server material on disk and client certificates.
type tlsFixture struct {
	dir    string
	ca     *tlsgen.CA
	server *tlsgen.Leaf
	files  tlsgen.Files
	crl    string
	uri    *tlsgen.Leaf // SAN URI (and CN)
	dns    *tlsgen.Leaf // SAN DNS (and CN)
	cn     *tlsgen.Leaf // CN only
	logs   *testutil.SyncBuffer
}

func newTLSFixture(t testing.TB) *tlsFixture {
	t.Helper()
	f := &tlsFixture{dir: t.TempDir(), logs: &testutil.SyncBuffer{}}
	f.ca = must(tlsgen.NewCA("CipherMQ test CA"))
	f.server = must(f.ca.LocalServer())
	f.files = must(tlsgen.WriteFiles(f.dir, "server", f.ca, f.server))
	f.crl = filepath.Join(f.dir, "ca.crl")
	f.writeCRL(t)
	f.uri = must(f.ca.Issue(tlsgen.LeafOptions{CommonName: "uri-cn", URIs: []string{"spiffe://ciphermq.test/publisher"}}))
	f.dns = must(f.ca.Issue(tlsgen.LeafOptions{CommonName: "dns-cn", DNSNames: []string{"consumer.ciphermq.test"}}))
	f.cn = must(f.ca.Issue(tlsgen.LeafOptions{CommonName: "cn-only"}))
	return f
}

func (f *tlsFixture) writeCRL(t testing.TB, revoked ...*x509.Certificate) {
	t.Helper()
	if err := tlsgen.WriteAtomic(f.crl, must(f.ca.CRLPEM(revoked...)), 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *tlsFixture) config(clientAuth string) Config {
	cfg := testConfig()
	cfg.TLS.Listen = "127.0.0.1:0"
	cfg.TLS.CertFile, cfg.TLS.KeyFile, cfg.TLS.CAFile = f.files.Cert, f.files.Key, f.files.CA
	cfg.TLS.ClientAuth = clientAuth
	cfg.TLS.CRLFile = f.crl
	return cfg
}

// start serves cfg over TLS on a loopback listener until the test ends;
// logs go to the test output and f.logs.
func (f *tlsFixture) start(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	h := slog.NewTextHandler(io.MultiWriter(t.Output(), f.logs), &slog.HandlerOptions{Level: slog.LevelDebug})
	srv, err := New(cfg, slog.New(h))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return srv, serveUntilCleanup(t, srv, srv.ServeTLS)
}

// clientConfig trusts the fixture's CA and presents leaf (if not nil).
func (f *tlsFixture) clientConfig(leaf *tlsgen.Leaf) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(f.ca.Cert)
	cfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS13}
	if leaf != nil {
		cfg.Certificates = []tls.Certificate{leaf.TLS()}
	}
	return cfg
}

func dialTLS(t *testing.T, addr string, cfg *tls.Config) *tls.Conn {
	t.Helper()
	d := tls.Dialer{Config: cfg}
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	t.Cleanup(func() { nc.Close() })
	return nc.(*tls.Conn)
}

// nativeOver runs the native handshake on an established connection.
func nativeOver(t *testing.T, nc net.Conn, name string) *nativeClient {
	t.Helper()
	c := &nativeClient{t: t, nc: nc, r: wire.NewReader(nc, 0)}
	c.send(wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion, ClientName: name}))
	ok, isOK := c.next().(*wire.HelloOK)
	if !isOK {
		t.Fatalf("hello over TLS answered %#v", ok)
	}
	c.hello = *ok
	return c
}

// expectRefused asserts that the server ends nc (an alert or EOF, not a
// timeout) on the first read.
func expectRefused(t *testing.T, nc net.Conn) error {
	t.Helper()
	nc.SetReadDeadline(time.Now().Add(waitTimeout))
	_, err := nc.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection not refused: read returned %v", err)
	}
	return err
}

func TestTLSBothProtocols(t *testing.T) {
	f := newTLSFixture(t)
	srv, addr := f.start(t, f.config(ClientAuthRequest))

	// Native, with a client certificate named by its SAN URI.
	tc := dialTLS(t, addr, f.clientConfig(f.uri))
	c := nativeOver(t, tc, "tls-native")
	c.send(wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: "secure"}))
	if fr, ok := c.next().(*wire.OK); !ok || fr.ReqID != 1 {
		t.Fatalf("declare over TLS answered %#v", fr)
	}
	c.send(wire.AppendBind(nil, &wire.Bind{ReqID: 2, Exchange: "default_exchange", Queue: "secure", Key: "sk"}))
	c.next()
	c.send(publishFrame(c.seq(), "default_exchange", "sk", "m1", []byte("hello")))
	if fr, ok := c.next().(*wire.Confirm); !ok || fr.First != 1 {
		t.Fatalf("publish over TLS answered %#v", fr)
	}
	if q := queueOf(srv, "secure"); q.Ready != 1 {
		t.Fatalf("secure holds %d", q.Ready)
	}

	// The connection's peer facts.
	var peer PeerInfo
	srv.mu.Lock()
	for _, cn := range srv.conns {
		if cn.sess != nil && cn.sess.Protocol() == wire.ProtocolNative {
			peer = cn.peer
		}
	}
	srv.mu.Unlock()
	if !peer.TLS || !peer.Loopback || peer.CertIdentity != "spiffe://ciphermq.test/publisher" || peer.Remote != tc.LocalAddr().String() {
		t.Fatalf("peer info %+v (client at %s)", peer, tc.LocalAddr())
	}

	// Text, without a client certificate (request mode lets it in).
	tt := dialTLS(t, addr, f.clientConfig(nil))
	text := &textClient{t: t, nc: tt, r: bufio.NewReader(tt)}
	if got := text.call("declare_queue tq"); got != "Queue declared" {
		t.Fatalf("declare_queue over TLS: %q", got)
	}
	if got := text.call("bind default_exchange tq tk"); got != "Queue bound" {
		t.Fatalf("bind over TLS: %q", got)
	}
	if got := text.call("publish default_exchange tk " + envelope("t1")); got != "ACK t1" {
		t.Fatalf("publish over TLS: %q", got)
	}
	if q := queueOf(srv, "tq"); q.Ready != 1 {
		t.Fatalf("tq holds %d", q.Ready)
	}
	if !strings.Contains(f.logs.String(), "curve=X25519MLKEM768") {
		t.Fatalf("no debug line with the TLS parameters in the log:\n%s", f.logs.String())
	}
}

// Go's default key exchange puts the hybrid post-quantum X25519MLKEM768
// first; the server must not override it (no CurvePreferences).
func TestTLSNegotiatesHybridPostQuantumKeyExchange(t *testing.T) {
	f := newTLSFixture(t)
	_, addr := f.start(t, f.config(ClientAuthNone))
	cs := dialTLS(t, addr, f.clientConfig(nil)).ConnectionState()
	if cs.Version != tls.VersionTLS13 {
		t.Fatalf("version %s, want TLS 1.3", tls.VersionName(cs.Version))
	}
	if cs.CurveID != tls.X25519MLKEM768 {
		t.Fatalf("key exchange %v, want X25519MLKEM768 (did someone set CurvePreferences?)", cs.CurveID)
	}
}

func TestTLSMinVersion(t *testing.T) {
	f := newTLSFixture(t)
	_, addr := f.start(t, f.config(ClientAuthNone))
	old := f.clientConfig(nil)
	old.MinVersion, old.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	nc, err := tls.Dial("tcp", addr, old)
	if err == nil {
		nc.Close()
		t.Fatal("a TLS 1.2 client was accepted by a 1.3-only server")
	}

	cfg := f.config(ClientAuthNone)
	cfg.TLS.MinVersion = "1.2"
	_, addr12 := f.start(t, cfg)
	if cs := dialTLS(t, addr12, old).ConnectionState(); cs.Version != tls.VersionTLS12 {
		t.Fatalf("version %s", tls.VersionName(cs.Version))
	}
}

func TestTLSRequireRefusesClientWithoutCertificate(t *testing.T) {
	f := newTLSFixture(t)
	_, addr := f.start(t, f.config(ClientAuthRequire))
	// TLS 1.3: the client finishes its side first; the server's alert
	// arrives on the first read.
	nc, err := tls.Dial("tcp", addr, f.clientConfig(nil))
	if err == nil {
		defer nc.Close()
		err = expectRefused(t, nc)
	}
	if !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("refused with %v, want the certificate required alert", err)
	}
	eventually(t, "the handshake failure logged with the remote address", func() bool {
		return strings.Contains(f.logs.String(), "TLS handshake failed") && strings.Contains(f.logs.String(), "remote=127.0.0.1:")
	})
	// With a certificate it works (and identities from DNS and CN).
	for leaf, want := range map[*tlsgen.Leaf]string{f.dns: "consumer.ciphermq.test", f.cn: "cn-only"} {
		c := nativeOver(t, dialTLS(t, addr, f.clientConfig(leaf)), "with-cert")
		c.send(wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: "q"}))
		c.next()
		if !strings.Contains(f.logs.String(), "identity="+want) {
			t.Fatalf("identity %s not logged:\n%s", want, f.logs.String())
		}
	}
	// A plain TCP client on the TLS port costs only its own connection.
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte("declare_queue x\n"))
	expectClosed(t, raw)
}

func TestTLSRevokedCertificateRefusedAlsoOnResumption(t *testing.T) {
	f := newTLSFixture(t)
	srv, addr := f.start(t, f.config(ClientAuthRequire))
	cfg := f.clientConfig(f.dns)
	cfg.ClientSessionCache = tls.NewLRUClientSessionCache(8)

	// First connection: a full handshake; reading HelloOK also reads the
	// session ticket the server sends after the handshake.
	first := dialTLS(t, addr, cfg)
	nativeOver(t, first, "before-revocation")
	first.Close()
	// Control: a second connection resumes while the cert is valid.
	second := dialTLS(t, addr, cfg)
	if !second.ConnectionState().DidResume {
		t.Fatal("the client did not resume: the test would not exercise resumption")
	}
	nativeOver(t, second, "resumed-valid")
	second.Close()

	f.writeCRL(t, f.dns.Cert)
	if err := srv.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	nc, err := tls.Dial("tcp", addr, cfg)
	if err == nil {
		defer nc.Close()
		if !nc.ConnectionState().DidResume {
			t.Fatal("the attempt after revocation did not resume the session")
		}
		err = expectRefused(t, nc)
	}
	if !strings.Contains(err.Error(), "bad certificate") {
		t.Fatalf("refused with %v, want the bad certificate alert", err)
	}
	eventually(t, "the revocation logged for the resumed session", func() bool {
		l := f.logs.String()
		return strings.Contains(l, "serial "+f.dns.Cert.SerialNumber.String()) && strings.Contains(l, "resumed session")
	})
	// A fresh full handshake with the revoked certificate is refused too;
	// another client's certificate still works.
	fresh := f.clientConfig(f.dns)
	if nc, err := tls.Dial("tcp", addr, fresh); err == nil {
		defer nc.Close()
		expectRefused(t, nc)
	}
	nativeOver(t, dialTLS(t, addr, f.clientConfig(f.cn)), "not-revoked")
}

func TestTLSReloadSwapsCertificateWithoutDroppingConnections(t *testing.T) {
	f := newTLSFixture(t)
	srv, addr := f.start(t, f.config(ClientAuthNone))
	old := dialTLS(t, addr, f.clientConfig(nil))
	if s := old.ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(f.server.Cert.SerialNumber) != 0 {
		t.Fatalf("served serial %s, want %s", s, f.server.Cert.SerialNumber)
	}
	oc := nativeOver(t, old, "before-reload")

	next := must(f.ca.LocalServer())
	must(tlsgen.WriteFiles(f.dir, "server", f.ca, next))
	if err := srv.ReloadTLS(); err != nil {
		t.Fatal(err)
	}
	if s := dialTLS(t, addr, f.clientConfig(nil)).ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatalf("after reload served serial %s, want %s", s, next.Cert.SerialNumber)
	}
	// The connection made before the reload still works.
	oc.send(wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 9, Name: "still-here"}))
	if fr, ok := oc.next().(*wire.OK); !ok || fr.ReqID != 9 {
		t.Fatalf("old connection after reload answered %#v", fr)
	}

	// A broken key: the reload fails clearly and the server keeps serving
	// the last good certificate.
	if err := os.WriteFile(f.files.Key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := srv.Reload()
	if err == nil || !strings.Contains(err.Error(), "still serving the previous") {
		t.Fatalf("reload with a broken key: %v", err)
	}
	if s := dialTLS(t, addr, f.clientConfig(nil)).ConnectionState().PeerCertificates[0].SerialNumber; s.Cmp(next.Cert.SerialNumber) != 0 {
		t.Fatalf("after a failed reload served serial %s, want %s", s, next.Cert.SerialNumber)
	}
	// A key that does not match the certificate is refused too.
	other := must(f.ca.LocalServer())
	os.WriteFile(f.files.Key, other.KeyPEM, 0o600)
	if err := srv.ReloadTLS(); err == nil || !strings.Contains(err.Error(), "private key does not match") {
		t.Fatalf("reload with a mismatched key: %v", err)
	}
}

func TestNewRefusesBadTLSFiles(t *testing.T) {
	f := newTLSFixture(t)
	cfg := f.config(ClientAuthRequire)
	cfg.TLS.CertFile = filepath.Join(f.dir, "missing.pem")
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing cert: %v", err)
	}
	cfg = f.config(ClientAuthRequire)
	cfg.TLS.CAFile = f.files.Key
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "no PEM CERTIFICATE") {
		t.Fatalf("key as CA bundle: %v", err)
	}
	cfg = f.config(ClientAuthRequire)
	other := must(tlsgen.NewCA("other"))
	os.WriteFile(f.crl, must(other.CRLPEM()), 0o644)
	if _, err := New(cfg, nil); err == nil || !strings.Contains(err.Error(), "not signed") {
		t.Fatalf("CRL of another CA: %v", err)
	}
}

func TestMaxConnectionAgeEndsConnectionsPolitely(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnectionAge = 300 * time.Millisecond
	srv, addr := startServer(t, cfg)
	c := dialNative(t, addr, wire.Hello{ClientName: "old"})
	text := dialText(t, addr)
	if got := text.call("declare_queue q"); got != "Queue declared" {
		t.Fatal(got)
	}
	var cl *wire.Close
	for cl == nil {
		switch fr := c.next().(type) {
		case *wire.Close:
			cl = fr
		default:
			t.Fatalf("unexpected %#v", fr)
		}
	}
	if cl.Code != uint16(broker.CodeShuttingDown) || !strings.Contains(cl.Reason, "max connection age") {
		t.Fatalf("close %d %q", cl.Code, cl.Reason)
	}
	expectClosed(t, c.nc)
	expectClosed(t, text.nc)
	eventually(t, "both connections gone", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		return len(srv.conns) == 0
	})
}

func TestListenAndServeTLSOnly(t *testing.T) {
	f := newTLSFixture(t)
	cfg := f.config(ClientAuthNone)
	cfg.Listen = ListenOff
	srv, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.ListenAndServe(ctx) }()
	eventually(t, "the TLS listener", func() bool { return srv.TLSAddr() != nil })
	if srv.Addr().String() != srv.TLSAddr().String() {
		t.Fatalf("Addr %v, TLSAddr %v: with the plain listener off the first listener is the TLS one", srv.Addr(), srv.TLSAddr())
	}
	nativeOver(t, dialTLS(t, srv.TLSAddr().String(), f.clientConfig(nil)), "tls-only")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("ListenAndServe: %v", err)
	}
}

// BenchmarkTLSHandshake: one mutual-TLS 1.3 handshake (X25519MLKEM768,
// ECDSA P-256 certificates, no resumption) against the server, both ends
// in this process, including the native Hello.
func BenchmarkTLSHandshake(b *testing.B) {
	f := newTLSFixture(b)
	srv, err := New(f.config(ClientAuthRequire), nil)
	if err != nil {
		b.Fatal(err)
	}
	l := mustListen(b)
	go srv.ServeTLS(l)
	b.Cleanup(func() { srv.Shutdown(context.Background()) })
	cfg := f.clientConfig(f.cn)
	hello := wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion})
	b.ResetTimer()
	for b.Loop() {
		nc, err := tls.Dial("tcp", l.Addr().String(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		if nc.ConnectionState().CurveID != tls.X25519MLKEM768 {
			b.Fatal("not the hybrid key exchange")
		}
		nc.Write(hello)
		r := wire.NewReader(nc, 0)
		if typ, _, err := r.ReadFrame(); err != nil || typ != wire.FrameHelloOK {
			b.Fatalf("hello: %v %v", typ, err)
		}
		nc.Close()
	}
}
