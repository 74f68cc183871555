package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/ciphermq/ciphermq/broker/mgmt"
	"github.com/ciphermq/ciphermq/broker/server"
)

// startMgmt serves the management API and console on addr (--mgmt-listen)
// until ctx ends; empty addr: off. The listener is bound before the broker
// starts, so a bad address fails the start at once.
//
// The operations listener (--http-listen, /metrics) is meant to mount this
// same handler; --mgmt-listen is its standalone listener until then.
func startMgmt(ctx context.Context, srv *server.Server, cfg server.Config, addr string, logger *slog.Logger) (stop func(), err error) {
	if addr == "" || addr == "off" {
		return func() {}, nil
	}
	if srv.Users() != nil && !loopbackListen(addr) && !cfg.Auth.AllowPlainWithoutTLS {
		return nil, fmt.Errorf("--mgmt-listen %s: the management API takes passwords by HTTP basic auth over plain HTTP; "+
			"listen on loopback (put a TLS proxy in front) or pass --allow-plain-without-tls on a trusted network", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--mgmt-listen %s: %w", addr, err)
	}
	hs := &http.Server{
		Handler:           mgmt.NewHandler(srv, mgmt.Options{Logger: logger}),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	logger.Info("management API and console listening", "addr", "http://"+l.Addr().String()+"/")
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := hs.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("management listener failed", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		<-done
	}, nil
}

func loopbackListen(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
