package clients

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"
)

// TLSFiles name the PEM files of a TLS client configuration.
type TLSFiles struct {
	// CAFile is the CA bundle that signs the broker's certificate (empty:
	// the system's roots).
	CAFile string
	// CertFile and KeyFile are this client's certificate chain and key, for
	// brokers that ask for one (mutual TLS); give both or neither.
	CertFile, KeyFile string
	// ServerName is the name checked against the broker's certificate
	// (empty: the host of the address dialled).
	ServerName string
}

// TLSConfig builds a client TLS configuration from PEM files, TLS 1.3 at
// least. Errors name the file and what is wrong with it.
func TLSConfig(f TLSFiles) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: f.ServerName}
	if f.CAFile != "" {
		data, err := os.ReadFile(f.CAFile)
		if err != nil {
			return nil, fmt.Errorf("TLS CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(data) {
			return nil, fmt.Errorf("TLS CA bundle %s holds no PEM CERTIFICATE", f.CAFile)
		}
		cfg.RootCAs = pool
	}
	switch {
	case f.CertFile != "" && f.KeyFile == "":
		return nil, fmt.Errorf("TLS client certificate %s given without its key (--tls-key)", f.CertFile)
	case f.KeyFile != "" && f.CertFile == "":
		return nil, fmt.Errorf("TLS client key %s given without its certificate (--tls-cert)", f.KeyFile)
	case f.CertFile != "":
		for _, p := range []string{f.CertFile, f.KeyFile} {
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("TLS client certificate: %w", err)
			}
		}
		cert, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("TLS client certificate %s / key %s: %w", f.CertFile, f.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// tlsHandshakeError marks a failed TLS handshake, so that the connect
// error says TLS rather than "is the broker running?".
type tlsHandshakeError struct{ err error }

func (e *tlsHandshakeError) Error() string { return "TLS handshake: " + e.err.Error() }
func (e *tlsHandshakeError) Unwrap() error { return e.err }

// dialTLS connects over TCP and runs the TLS handshake, both under ctx
// and within timeout.
func dialTLS(ctx context.Context, addr string, timeout time.Duration, cfg *tls.Config) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if cfg.ServerName == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			nc.Close()
			return nil, err
		}
		cfg = cfg.Clone()
		cfg.ServerName = host
	}
	tc := tls.Client(nc, cfg)
	hctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		nc.Close()
		return nil, &tlsHandshakeError{err}
	}
	return tc, nil
}

// isTLSHandshakeError reports whether err is a failed TLS handshake.
func isTLSHandshakeError(err error) bool {
	var te *tlsHandshakeError
	return errors.As(err, &te)
}

// isTLSAlert reports whether err is a TLS alert the peer sent.
func isTLSAlert(err error) bool {
	var oe *net.OpError
	return errors.As(err, &oe) && oe.Op == "remote error"
}
