package server

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ciphermq/ciphermq/broker/audit"
)

// TLS settings' accepted values.
const (
	ClientAuthNone    = "none"    // no client certificate asked for
	ClientAuthRequest = "request" // asked for; verified if presented
	ClientAuthRequire = "require" // required and verified

	IdentityAuto   = "auto"    // first SAN URI, else first SAN DNS name, else subject CN
	IdentitySANURI = "san-uri" // first SAN URI only
	IdentitySANDNS = "san-dns" // first SAN DNS name only
	IdentityCN     = "cn"      // subject common name only

	// ListenOff as Config.Listen disables the plain TCP listener (TLS only).
	ListenOff = "off"
)

// TLSConfig configures the TLS listener and the certificates it serves.
// Files are read by New and again by ReloadTLS.
type TLSConfig struct {
	// Listen is the TLS listener's address (conventionally port 5671);
	// empty: no TLS listener, and then the files below must be empty too.
	// ListenAndServe binds it; ServeTLS serves whatever listener it is
	// given (tests give "127.0.0.1:0" here and their own listener there).
	Listen string
	// CertFile and KeyFile are the server's PEM certificate chain and key.
	CertFile, KeyFile string
	// CAFile is the PEM bundle of CAs that sign client certificates; it is
	// needed for ClientAuth request and require and for CRLFile.
	CAFile string
	// ClientAuth is none, request (verified if presented) or require.
	ClientAuth string
	// CRLFile holds X.509 CRLs (PEM or DER) signed by a CA of CAFile; a
	// client certificate they revoke is refused, also on resumption.
	CRLFile string
	// MinVersion is "1.2" or "1.3".
	MinVersion string
	// IdentityFrom selects the client certificate field that names the
	// peer: auto, san-uri, san-dns or cn (see CertIdentity).
	IdentityFrom string
}

func (t TLSConfig) validate() error {
	switch {
	case t.CertFile != "" && t.KeyFile == "":
		return fmt.Errorf("TLS certificate %s given without its key: add --tls-key", t.CertFile)
	case t.KeyFile != "" && t.CertFile == "":
		return fmt.Errorf("TLS key %s given without its certificate: add --tls-cert", t.KeyFile)
	case t.Listen != "" && t.CertFile == "":
		return fmt.Errorf("TLS listener %s needs a certificate and key: add --tls-cert and --tls-key", t.Listen)
	case t.Listen == "" && (t.CertFile != "" || t.CAFile != "" || t.CRLFile != ""):
		return errors.New("TLS files given but no TLS listener: add --tls-listen (e.g. 0.0.0.0:5671)")
	}
	if t.Listen != "" {
		if _, _, err := net.SplitHostPort(t.Listen); err != nil {
			return fmt.Errorf("TLS listen address %q: %v (use host:port, e.g. 0.0.0.0:5671)", t.Listen, err)
		}
	}
	if _, err := parseClientAuth(t.ClientAuth); err != nil {
		return err
	}
	if _, err := ParseTLSVersion(t.MinVersion); err != nil {
		return err
	}
	switch t.IdentityFrom {
	case "", IdentityAuto, IdentitySANURI, IdentitySANDNS, IdentityCN:
	default:
		return fmt.Errorf("TLS identity source %q: use auto, san-uri, san-dns or cn", t.IdentityFrom)
	}
	mode, _ := parseClientAuth(t.ClientAuth)
	if mode != tls.NoClientCert && t.CAFile == "" {
		return fmt.Errorf("TLS client auth %s needs the CA bundle that signs client certificates: add --tls-ca", t.ClientAuth)
	}
	if t.CRLFile != "" && t.CAFile == "" {
		return errors.New("a TLS CRL is checked against the client CA: add --tls-ca")
	}
	return nil
}

func parseClientAuth(s string) (tls.ClientAuthType, error) {
	switch s {
	case "", ClientAuthNone:
		return tls.NoClientCert, nil
	case ClientAuthRequest:
		return tls.VerifyClientCertIfGiven, nil
	case ClientAuthRequire:
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("TLS client auth %q: use none, request or require", s)
}

// ParseTLSVersion reads "1.2" or "1.3" ("" is 1.3).
func ParseTLSVersion(s string) (uint16, error) {
	switch s {
	case "", "1.3":
		return tls.VersionTLS13, nil
	case "1.2":
		return tls.VersionTLS12, nil
	}
	return 0, fmt.Errorf("TLS minimum version %q: use 1.2 or 1.3 (older versions are insecure)", s)
}

// CertIdentity names the holder of a client certificate. from is auto
// (first SAN URI, else first SAN DNS name, else subject CN), san-uri,
// san-dns or cn. It fails when the field is empty or from is unknown.
func CertIdentity(cert *x509.Certificate, from string) (string, error) {
	if cert == nil {
		return "", errors.New("no certificate")
	}
	uri := func() string {
		if len(cert.URIs) > 0 {
			return cert.URIs[0].String()
		}
		return ""
	}
	dns := func() string {
		if len(cert.DNSNames) > 0 {
			return cert.DNSNames[0]
		}
		return ""
	}
	var id string
	switch from {
	case IdentityAuto, "":
		id = uri()
		if id == "" {
			id = dns()
		}
		if id == "" {
			id = cert.Subject.CommonName
		}
	case IdentitySANURI:
		id = uri()
	case IdentitySANDNS:
		id = dns()
	case IdentityCN:
		id = cert.Subject.CommonName
	default:
		return "", fmt.Errorf("identity source %q: use auto, san-uri, san-dns or cn", from)
	}
	if id == "" {
		if from == "" {
			from = IdentityAuto
		}
		return "", fmt.Errorf("certificate serial %s (subject %q) has no identity in %s", cert.SerialNumber, cert.Subject.String(), from)
	}
	return id, nil
}

// PeerInfo is what the transport knows about a connection's peer.
type PeerInfo struct {
	// Remote is the peer's address (host:port).
	Remote string
	// Loopback: the peer's IP is a loopback address.
	Loopback bool
	// TLS: the connection came through the TLS listener and completed its
	// handshake.
	TLS bool
	// CertIdentity names the verified client certificate's holder
	// (CertIdentity with TLSConfig.IdentityFrom); empty without one.
	CertIdentity string
}

// isLoopback reports whether addr's IP is a loopback address.
func isLoopback(addr net.Addr) bool {
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.IsLoopback()
	}
	if addr == nil {
		return false
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.Network() == "pipe" // an in-process transport (ServeConn with net.Pipe)
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// revocations are the serials revoked by the loaded CRLs, per issuer.
type revocations struct {
	revoked map[string]struct{} // raw issuer + "\x00" + serial
	count   int                 // CRLs loaded
}

func revocationKey(rawIssuer []byte, serial fmt.Stringer) string {
	return string(rawIssuer) + "\x00" + serial.String()
}

// isRevoked reports whether cert is on a loaded CRL of its issuer.
func (r *revocations) isRevoked(cert *x509.Certificate) bool {
	if r == nil {
		return false
	}
	_, ok := r.revoked[revocationKey(cert.RawIssuer, cert.SerialNumber)]
	return ok
}

// parseCRLs reads one or more CRLs (PEM blocks "X509 CRL", or one DER CRL)
// and checks each one's signature against a CA of cas.
func parseCRLs(data []byte, cas []*x509.Certificate) (*revocations, error) {
	var ders [][]byte
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "X509 CRL" {
			return nil, fmt.Errorf("PEM block %q: expected \"X509 CRL\"", b.Type)
		}
		ders = append(ders, b.Bytes)
	}
	if len(ders) == 0 {
		if strings.Contains(string(data), "-----BEGIN") {
			return nil, errors.New("no X509 CRL block in the PEM data")
		}
		ders = [][]byte{data}
	}
	r := &revocations{revoked: make(map[string]struct{})}
	for i, der := range ders {
		crl, err := x509.ParseRevocationList(der)
		if err != nil {
			return nil, fmt.Errorf("CRL %d: %w", i+1, err)
		}
		signed := false
		for _, ca := range cas {
			if crl.CheckSignatureFrom(ca) == nil {
				signed = true
				break
			}
		}
		if !signed {
			return nil, fmt.Errorf("CRL %d (issuer %q) is not signed by any CA of the client CA bundle", i+1, crl.Issuer.String())
		}
		for _, e := range crl.RevokedCertificateEntries {
			r.revoked[revocationKey(crl.RawIssuer, e.SerialNumber)] = struct{}{}
		}
		r.count++
	}
	return r, nil
}

// tlsMaterial is one generation of certificates, CA pool and CRL; the
// server swaps it atomically on reload.
type tlsMaterial struct {
	cert    *tls.Certificate
	leaf    *x509.Certificate
	caPEM   []byte
	pool    *x509.CertPool
	revoked *revocations
	config  *tls.Config // served by GetConfigForClient
}

// tlsState is the TLS side of a Server.
type tlsState struct {
	mode       tls.ClientAuthType
	minVersion uint16
	material   atomic.Pointer[tlsMaterial]
	base       *tls.Config // what the listener hands to tls.Server
}

// loadTLSMaterial reads the files of cfg; prev (may be nil) lets an
// unchanged CA bundle keep its pool.
func (s *Server) loadTLSMaterial(prev *tlsMaterial) (*tlsMaterial, error) {
	t := s.cfg.TLS
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s / key %s: %w", t.CertFile, t.KeyFile, err)
	}
	if cert.Leaf == nil {
		if cert.Leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("TLS certificate %s: %w", t.CertFile, err)
		}
	}
	m := &tlsMaterial{cert: &cert, leaf: cert.Leaf}
	var cas []*x509.Certificate
	if t.CAFile != "" {
		data, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client CA bundle: %w", err)
		}
		rest := data
		for {
			var b *pem.Block
			b, rest = pem.Decode(rest)
			if b == nil {
				break
			}
			if b.Type != "CERTIFICATE" {
				continue
			}
			c, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return nil, fmt.Errorf("TLS client CA bundle %s: %w", t.CAFile, err)
			}
			cas = append(cas, c)
		}
		if len(cas) == 0 {
			return nil, fmt.Errorf("TLS client CA bundle %s holds no PEM CERTIFICATE", t.CAFile)
		}
		m.caPEM = data
		if prev != nil && prev.pool != nil && string(prev.caPEM) == string(data) {
			m.pool = prev.pool
		} else {
			m.pool = x509.NewCertPool()
			for _, c := range cas {
				m.pool.AddCert(c)
			}
		}
	}
	if t.CRLFile != "" {
		data, err := os.ReadFile(t.CRLFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CRL: %w", err)
		}
		if m.revoked, err = parseCRLs(data, cas); err != nil {
			return nil, fmt.Errorf("TLS CRL %s: %w", t.CRLFile, err)
		}
	}
	m.config = &tls.Config{
		MinVersion:       s.tls.minVersion,
		Certificates:     []tls.Certificate{cert},
		ClientAuth:       s.tls.mode,
		ClientCAs:        m.pool,
		VerifyConnection: s.verifyConnection,
		// CurvePreferences stay Go's defaults: X25519MLKEM768 first.
	}
	return m, nil
}

// initTLS loads the TLS material at New.
func (s *Server) initTLS() error {
	t := s.cfg.TLS
	if t.CertFile == "" {
		return nil
	}
	st := &tlsState{}
	st.mode, _ = parseClientAuth(t.ClientAuth)
	st.minVersion, _ = ParseTLSVersion(t.MinVersion)
	s.tls = st
	m, err := s.loadTLSMaterial(nil)
	if err != nil {
		s.tls = nil
		return fmt.Errorf("server: %w", err)
	}
	st.material.Store(m)
	st.base = &tls.Config{
		MinVersion: st.minVersion,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return st.material.Load().config, nil
		},
	}
	return nil
}

// verifyConnection refuses a client certificate that a loaded CRL revokes.
// It runs on full handshakes and on resumed ones.
func (s *Server) verifyConnection(cs tls.ConnectionState) error {
	if len(cs.VerifiedChains) == 0 || len(cs.VerifiedChains[0]) == 0 {
		return nil
	}
	leaf := cs.VerifiedChains[0][0]
	if s.tls.material.Load().revoked.isRevoked(leaf) {
		// The connection's handshake error, logged with the remote
		// address, carries this message.
		how := "full handshake"
		if cs.DidResume {
			how = "resumed session"
		}
		return fmt.Errorf("client certificate serial %s (subject %q) is revoked by the CRL (%s)", leaf.SerialNumber, leaf.Subject.String(), how)
	}
	return nil
}

// ReloadTLS reads the certificate, key, CA bundle and CRL files again and
// serves them to new handshakes; established connections are not touched.
// On error the old material stays in use. Without TLS it does nothing.
func (s *Server) ReloadTLS() error {
	if s.tls == nil {
		return nil
	}
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	m, err := s.loadTLSMaterial(s.tls.material.Load())
	if err != nil {
		return fmt.Errorf("server: TLS reload failed, still serving the previous certificates: %w", err)
	}
	s.tls.material.Store(m)
	crls := 0
	if m.revoked != nil {
		crls = m.revoked.count
	}
	audit.Log(s.log, slog.LevelInfo, audit.Admin, "TLS material reloaded", "cert_serial", m.leaf.SerialNumber.String(), "cert_not_after", m.leaf.NotAfter.Format(time.RFC3339), "crls", crls)
	return nil
}

// Reload re-reads what the server can change without a restart: the TLS
// material and the users file. "ciphermq server" calls it on SIGHUP.
func (s *Server) Reload() error {
	var errs []error
	if err := s.ReloadTLS(); err != nil {
		errs = append(errs, err)
	}
	if err := s.ReloadUsers(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// TLSEnabled reports whether the server has TLS material (ServeTLS works).
func (s *Server) TLSEnabled() bool { return s.tls != nil }

// handshakeTLS runs the TLS handshake of a new connection under the
// handshake timeout and records the peer's identity.
func (c *conn) handshakeTLS(tc *tls.Conn) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.s.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return err
	}
	cs := tc.ConnectionState()
	c.peer.TLS = true
	if len(cs.VerifiedChains) > 0 && len(cs.VerifiedChains[0]) > 0 {
		leaf := cs.VerifiedChains[0][0]
		id, err := CertIdentity(leaf, c.s.cfg.TLS.IdentityFrom)
		if err != nil {
			c.s.log.Warn("TLS client certificate names no identity", "remote", c.remote, "err", err)
		}
		c.peer.CertIdentity = id
	}
	c.s.log.Debug("TLS handshake done", "remote", c.remote, "version", tls.VersionName(cs.Version),
		"cipher_suite", tls.CipherSuiteName(cs.CipherSuite), "curve", cs.CurveID.String(),
		"resumed", cs.DidResume, "identity", c.peer.CertIdentity)
	return nil
}

// HTTPTLSConfig returns a TLS configuration for the operations HTTP
// listener (broker/ops): the broker's certificate, CA bundle, client
// certificate mode and CRL, reloaded with them (ReloadTLS). Nil without TLS
// material.
func (s *Server) HTTPTLSConfig() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.base.Clone()
}
