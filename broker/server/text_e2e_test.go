package server

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"
)

func TestTextEndToEnd(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	admin := dialText(t, addr)
	for _, c := range []struct{ cmd, want string }{
		{"declare_queue orders", "Queue declared"},
		{"declare_exchange shop", "Exchange declared"},
		{"bind shop orders new", "Queue bound"},
		{"publish shop new " + envelope("o-1"), "ACK o-1"},
		{"publish shop new " + envelope("o-1"), "ACK o-1"}, // repeated publish: confirmed, enqueued once
		{"publish shop new " + envelope("o-2"), "ACK o-2"},
	} {
		if got := admin.call(c.cmd); got != c.want {
			t.Fatalf("%q answered %q, want %q", c.cmd, got, c.want)
		}
	}
	if q := queueOf(srv, "orders"); q.Ready != 2 {
		t.Fatalf("orders holds %d messages, want 2 (the repeated publish enqueued once)", q.Ready)
	}
	cons := dialText(t, addr)
	if got := cons.call("consume orders"); got != "Subscribed to queue" {
		t.Fatalf("consume: %q", got)
	}
	for _, id := range []string{"o-1", "o-2"} {
		if got, want := cons.line(), "Message: "+id+" "+envelope(id); got != want {
			t.Fatalf("push %q, want %q", got, want)
		}
		if got := cons.call("ack " + id); got != "ACK_CONFIRMED "+id {
			t.Fatalf("ack: %q", got)
		}
	}
	eventually(t, "orders to be empty", func() bool {
		q := queueOf(srv, "orders")
		return q.Ready == 0 && q.Unacked == 0 && q.Acked == 2
	})
}

func TestTextConsumerDisconnectRedeliversToAnother(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	a := dialText(t, addr)
	if got := a.call("consume default_queue"); got != "Subscribed to queue" {
		t.Fatal(got)
	}
	if got := dialText(t, addr).call("publish default_exchange default_key " + envelope("m1")); got != "ACK m1" {
		t.Fatal(got)
	}
	if got := a.line(); !strings.HasPrefix(got, "Message: m1 ") {
		t.Fatalf("push %q", got)
	}
	b := dialText(t, addr)
	if got := b.call("consume default_queue"); got != "Subscribed to queue" {
		t.Fatal(got)
	}
	a.nc.Close() // mid-delivery: m1 is unacked
	if got := b.line(); !strings.HasPrefix(got, "Message: m1 ") {
		t.Fatalf("after a disconnected, b got %q", got)
	}
	b.call("ack m1")
	eventually(t, "m1 acked once", func() bool { return queueOf(srv, "default_queue").Acked == 1 })
}

func TestTextStaleAckAfterAckTimeoutIsRefused(t *testing.T) {
	cfg := testConfig()
	cfg.TextAckTimeout = 200 * time.Millisecond
	srv, addr := startServer(t, cfg)
	a := dialText(t, addr)
	a.call("consume default_queue")
	dialText(t, addr).call("publish default_exchange default_key " + envelope("late"))
	if got := a.line(); !strings.HasPrefix(got, "Message: late ") {
		t.Fatalf("push %q", got)
	}
	// a does not ack in time: the message is redelivered (to a, the only
	// consumer) with a new delivery tag.
	eventually(t, "a redelivery", func() bool { return queueOf(srv, "default_queue").Redelivered == 1 })
	if got := a.line(); !strings.HasPrefix(got, "Message: late ") {
		t.Fatalf("redelivery %q", got)
	}
	// Acking now settles the redelivery (the newest tag of this id).
	if got := a.call("ack late"); got != "ACK_CONFIRMED late" {
		t.Fatal(got)
	}
	// The same ack again is stale: answered as the reference does, applied
	// to nothing.
	if got := a.call("ack late"); got != "ACK_CONFIRMED late" {
		t.Fatal(got)
	}
	q := queueOf(srv, "default_queue")
	if q.Acked != 1 || q.Unacked != 0 || q.Ready != 0 {
		t.Fatalf("after ack + stale ack: %+v, want exactly one ack", q)
	}
}

func TestTextOversizedLineClosesOnlyItsConnection(t *testing.T) {
	cfg := testConfig()
	cfg.MaxLineSize = 4096
	_, addr := startServer(t, cfg)
	good := dialText(t, addr)
	bad := dialText(t, addr)
	bad.nc.Write([]byte(strings.Repeat("x", 10000)))
	got := string(expectClosed(t, bad.nc))
	if !strings.HasPrefix(got, "Error: ") || strings.Count(got, "\n") != 1 {
		t.Fatalf("oversized line answered %q, want one Error line", got)
	}
	if got := good.call("declare_queue still_fine"); got != "Queue declared" {
		t.Fatalf("other connection: %q", got)
	}
}

func TestHandshakeTimeoutClosesSilentConnections(t *testing.T) {
	cfg := testConfig()
	cfg.HandshakeTimeout = 100 * time.Millisecond
	_, addr := startServer(t, cfg)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if got := expectClosed(t, nc); len(got) != 0 {
		t.Fatalf("silent connection got %q before close", got)
	}
}

func TestMaxConnectionsRefusesPolitely(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections = 1
	srv, addr := startServer(t, cfg)
	first := dialText(t, addr)
	if got := first.call("declare_queue q"); got != "Queue declared" {
		t.Fatal(got)
	}
	second := dialText(t, addr)
	second.send("declare_queue q")
	got := string(expectClosed(t, second.nc))
	if !strings.HasPrefix(got, "Error: too many connections") {
		t.Fatalf("over the limit: %q", got)
	}
	if got := first.call("declare_queue q"); got != "Queue declared" {
		t.Fatalf("first connection after the refusal: %q", got)
	}
	first.nc.Close()
	eventually(t, "the first connection to go", func() bool { return srv.Stats().Connections == 0 })
	third := dialText(t, addr)
	if got := third.call("declare_queue q"); got != "Queue declared" {
		t.Fatalf("after a slot freed: %q", got)
	}
}

// TestTextHalfCloseStillGetsTheReply is a client that writes its last
// command without a newline, half-closes and then reads.
func TestTextHalfCloseStillGetsTheReply(t *testing.T) {
	_, addr := startServer(t, testConfig())
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.Write([]byte("publish default_exchange default_key " + envelope("hc")))
	nc.(*net.TCPConn).CloseWrite()
	if got := string(expectClosed(t, nc)); got != "ACK hc\n" {
		t.Fatalf("got %q", got)
	}
}

// TestServeConnOverAPipe serves an in-memory connection: no listener, no
// TCP, the same code path.
func TestServeConnOverAPipe(t *testing.T) {
	srv, _ := startServer(t, testConfig())
	client, server := net.Pipe()
	srv.ServeConn(server)
	c := &textClient{t: t, nc: client, r: bufio.NewReader(client)}
	t.Cleanup(func() { client.Close() })
	if got := c.call("publish default_exchange default_key " + envelope("piped")); got != "ACK piped" {
		t.Fatalf("got %q", got)
	}
	if got := c.call("fetch default_queue"); got != "Message: piped "+envelope("piped") {
		t.Fatalf("got %q", got)
	}
}

// TestBatchGenerationClients follows the 0bcf2a7 clients: a receiver that
// declares its topology with "bind <queue> <exchange> <key>" and reads
// lines, and a sender that publishes with publish_batch and one read(4096).
func TestBatchGenerationClients(t *testing.T) {
	srv, addr := startServer(t, testConfig())
	r := dialText(t, addr)
	for _, c := range []struct{ cmd, want string }{
		{"declare_queue ciphermq1_queue", "Queue declared"},
		{"declare_exchange ciphermq1_exchange", "Exchange declared"},
		{"bind ciphermq1_queue ciphermq1_exchange ciphermq1_key", "Queue bound"},
		{"consume ciphermq1_queue", "Subscribed to queue"},
	} {
		if got := r.call(c.cmd); got != c.want {
			t.Fatalf("%q answered %q", c.cmd, got)
		}
	}
	ids := []string{"b-1", "b-2", "b-3", "b-4", "b-5"}
	envs := make([]string, len(ids))
	for i, id := range ids {
		envs[i] = envelope(id)
	}
	sender, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	sender.Write([]byte("publish_batch ciphermq1_exchange ciphermq1_key [" + strings.Join(envs, ", ") + "]\n"))
	sender.SetReadDeadline(time.Now().Add(waitTimeout))
	buf := make([]byte, 4096)
	n, err := sender.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if !strings.Contains(string(buf[:n]), "ACK "+id) {
			t.Fatalf("batch reply %q lacks ACK %s", buf[:n], id)
		}
	}
	for _, id := range ids {
		if got := r.line(); got != "Message: "+id+" "+envelope(id) {
			t.Fatalf("push %q, want %s", got, id)
		}
		if got := r.call("ack " + id); got != "ACK_CONFIRMED "+id {
			t.Fatalf("ack reply %q", got)
		}
	}
	eventually(t, "all acked", func() bool { return queueOf(srv, "ciphermq1_queue").Acked == uint64(len(ids)) })
}
