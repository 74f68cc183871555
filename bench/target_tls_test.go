package bench

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// The -tls target serves only TLS: both protocols run over it, and a plain
// TCP client is not served.
func TestInprocTLSTargetRunsOverTLS(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := Open(ctx, "ciphermq-inproc-tls", TargetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ct := tg.(*cipherTarget)
	certDir := ct.certDir
	defer func() {
		if err := tg.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
		if _, err := os.Stat(certDir); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the certificates' directory %s was not removed: %v", certDir, err)
		}
	}()
	if ct.tls == nil || tg.Name() != "ciphermq-inproc-tls" {
		t.Fatalf("target %q has no client TLS configuration", tg.Name())
	}
	for _, proto := range []string{"native", "text"} {
		res := runOrFail(t, tg, Config{Count: 300, Protocol: proto})
		if !res.OK() || res.Unique != 300 {
			t.Fatalf("%s over TLS: %+v error %q", proto, res.Tally, res.Error)
		}
	}
	// Its clients really use TLS: the address refuses to serve plain TCP,
	// and a TLS client sees TLS 1.3.
	nc, err := tls.Dial("tcp", ct.addr, ct.tls)
	if err != nil {
		t.Fatal(err)
	}
	if v := nc.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Fatalf("TLS version %x", v)
	}
	nc.Close()
	raw, err := net.Dial("tcp", ct.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.Write([]byte("stats\n"))
	raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 64)
	n, _ := raw.Read(buf)
	if n > 0 && string(buf[:5]) == "Stats" {
		t.Fatal("the TLS target served a plain TCP client")
	}

}

func TestProcessTLSTargetWithAddressNeedsTLSSettings(t *testing.T) {
	_, err := Open(context.Background(), "ciphermq-tls", TargetOptions{Addr: "127.0.0.1:1"})
	if err == nil {
		t.Fatal("ciphermq-tls with --broker and no TLS settings was accepted")
	}
}
