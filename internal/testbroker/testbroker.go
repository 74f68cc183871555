// Package testbroker starts in-process brokers for the tests of packages
// above the server (clients, CLI). It lives apart from testutil so that the
// broker and server packages can use testutil without an import cycle.
package testbroker

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
)

// Start serves an in-process broker with cfg on a free loopback port
// and shuts it down when the test ends. It returns the server (for its
// stats) and its address.
func Start(t testing.TB, cfg server.Config) (*server.Server, string) {
	t.Helper()
	return start(t, cfg, (*server.Server).Serve)
}

// StartTLS is Start for a TLS listener: cfg must name the TLS certificate
// and key (cfg.TLS); the returned address speaks TLS.
func StartTLS(t testing.TB, cfg server.Config) (*server.Server, string) {
	t.Helper()
	return start(t, cfg, (*server.Server).ServeTLS)
}

func start(t testing.TB, cfg server.Config, serve func(*server.Server, net.Listener) error) (*server.Server, string) {
	t.Helper()
	srv, err := server.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- serve(srv, l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return srv, l.Addr().String()
}
