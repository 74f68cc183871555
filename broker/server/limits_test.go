package server

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// fromSource reports how many connections the server counts for ip.
func (s *Server) fromSource(ip string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.perSource[ip]
}

// One address gets MaxConnectionsPerSource connections, both protocols
// counted together; one more is refused in its own protocol (native: Error
// code 500; text: an Error: line) and the others carry on; a freed slot is
// usable again.
func TestMaxConnectionsPerSourceRefusesPolitely(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnectionsPerSource = 3
	srv, addr := startServer(t, cfg)
	first := dialText(t, addr)
	if got := first.call("declare_queue q"); got != "Queue declared" {
		t.Fatal(got)
	}
	dialText(t, addr).call("stats")
	nat := dialNative(t, addr, wire.Hello{})
	eventually(t, "three connections counted", func() bool { return srv.fromSource("127.0.0.1") == 3 })

	text := dialText(t, addr)
	text.send("declare_queue q")
	got := string(expectClosed(t, text.nc))
	if !strings.HasPrefix(got, "Error: too many connections from your address 127.0.0.1 (limit 3 per address)") {
		t.Fatalf("text over the per-address limit: %q", got)
	}

	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write(wire.AppendHello(wire.AppendPreamble(nil), &wire.Hello{Version: wire.ProtocolVersion}))
	raw := expectClosed(t, nc)
	typ, payload, n, err := wire.SplitFrame(raw, 0)
	var e wire.Error
	if err != nil || n == 0 || typ != wire.FrameError || wire.DecodeErrorFrame(payload, &e) != nil ||
		e.Code != uint16(broker.CodeResourceLimit) || !strings.Contains(e.Message, "per address") {
		t.Fatalf("native over the per-address limit: got %x (%+v), want an Error frame with code %d", raw, e, broker.CodeResourceLimit)
	}

	if got := first.call("declare_queue q"); got != "Queue declared" {
		t.Fatalf("first connection after the refusals: %q", got)
	}
	nat.nc.Close()
	eventually(t, "the native connection to go", func() bool { return srv.fromSource("127.0.0.1") == 2 })
	if got := dialText(t, addr).call("declare_queue q"); got != "Queue declared" {
		t.Fatalf("after a slot freed: %q", got)
	}
}

// Far over the per-address limit (twice, refusals in progress included) a
// connection is closed at accept, before a goroutine is spent on it.
func TestMaxConnectionsPerSourceFarOverClosesAtOnce(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnectionsPerSource = 2
	cfg.HandshakeTimeout = time.Minute // refusals in progress wait for a first byte
	srv, addr := startServer(t, cfg)
	for range 4 { // 2 served + 2 waiting for their polite refusal
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
	}
	eventually(t, "four connections counted", func() bool { return srv.fromSource("127.0.0.1") == 4 })
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := expectClosed(t, nc); len(got) != 0 {
		t.Fatalf("far over the limit: got %q, want a close without an answer", got)
	}
	if got := srv.fromSource("127.0.0.1"); got != 4 {
		t.Fatalf("%d connections counted after the refusal, want 4", got)
	}
}

// The text timeouts through a real server: a line that never ends closes
// its connection with an Error: line; a connection that does nothing is
// closed after the idle timeout; a consumer connection is not.
func TestTextTimeoutsCloseWithAnErrorLine(t *testing.T) {
	cfg := testConfig()
	cfg.TextLineTimeout = 100 * time.Millisecond
	cfg.TextIdleTimeout = 300 * time.Millisecond
	srv, addr := startServer(t, cfg)

	consumer := dialText(t, addr)
	if got := consumer.call("consume default_queue"); got != "Subscribed to queue" {
		t.Fatal(got)
	}

	partial := dialText(t, addr)
	partial.nc.Write([]byte("x"))
	got := string(expectClosed(t, partial.nc))
	if got != "Error: an unterminated line did not complete within the line timeout (100ms); closing the connection\n" {
		t.Fatalf("unfinished line: %q", got)
	}

	idle := dialText(t, addr)
	if got := idle.call("stats"); !strings.HasPrefix(got, "Stats: ") {
		t.Fatal(got)
	}
	start := time.Now()
	got = string(expectClosed(t, idle.nc))
	if !strings.HasPrefix(got, "Error: no command within the idle timeout (300ms)") {
		t.Fatalf("idle connection: %q", got)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("idle connection closed after %v, before its idle timeout", el)
	}

	// The consumer outlived the idle timeout of the others and still works.
	dialText(t, addr).call("publish default_exchange default_key " + envelope("after-idle"))
	if got := consumer.line(); got != "Message: after-idle "+envelope("after-idle") {
		t.Fatalf("consumer after the idle timeout: %q", got)
	}
	if got := consumer.call("ack after-idle"); got != "ACK_CONFIRMED after-idle" {
		t.Fatal(got)
	}
	_ = srv
}
