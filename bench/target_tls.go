package bench

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"

	"github.com/ciphermq/ciphermq/internal/tlsgen"
)

// benchTLS is the certificate material of a -tls target: files for the
// broker it starts, and the load generator's client configuration (client
// certificate, the CA as root, TLS 1.3).
type benchTLS struct {
	dir    string
	server tlsgen.Files
	client *tls.Config
}

// makeBenchTLS makes a CA, a server certificate for the loopback address and
// a client certificate, in a new temporary directory the caller removes.
func makeBenchTLS() (*benchTLS, error) {
	fail := func(err error) (*benchTLS, error) {
		return nil, fmt.Errorf("bench: TLS certificates: %w", err)
	}
	ca, err := tlsgen.NewCA("ciphermq bench CA")
	if err != nil {
		return fail(err)
	}
	srv, err := ca.LocalServer()
	if err != nil {
		return fail(err)
	}
	cli, err := ca.Issue(tlsgen.LeafOptions{CommonName: "bench-client", URIs: []string{"spiffe://ciphermq.bench/load-generator"}})
	if err != nil {
		return fail(err)
	}
	dir, err := os.MkdirTemp("", "ciphermq-bench-tls-")
	if err != nil {
		return fail(err)
	}
	files, err := tlsgen.WriteFiles(dir, "server", ca, srv)
	if err != nil {
		return fail(errors.Join(err, os.RemoveAll(dir)))
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	return &benchTLS{dir: dir, server: files, client: &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      pool,
		ServerName:   "localhost",
		Certificates: []tls.Certificate{cli.TLS()},
	}}, nil
}
