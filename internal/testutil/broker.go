package testutil

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/server"
)

// StartBroker serves an in-process broker with cfg on a free loopback port
// and shuts it down when the test ends. It returns the server (for its
// stats) and its address.
func StartBroker(t testing.TB, cfg server.Config) (*server.Server, string) {
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
	go func() { done <- srv.Serve(l) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return srv, l.Addr().String()
}
