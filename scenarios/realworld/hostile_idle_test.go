package realworld

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
)

// TestHostileOneByteTextConnections is the idle-connection attack of issue
// 11 on a real broker process: 2,000 text connections from one address
// each send one byte and never finish the line. The per-address limit keeps
// them from taking every slot and the line timeout frees the slots they
// hold; a canary publisher and consumer from another loopback address
// (127.0.0.2) connect before and during the attack and lose nothing.
func TestHostileOneByteTextConnections(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: builds the ciphermq binary and opens 2,000 connections to a real broker process; .ci/run runs it without -short")
	}
	const (
		attackers   = 2000
		perSource   = 300
		lineTimeout = time.Second
		canaryMsgs  = 200
	)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	dir := t.TempDir()
	bin, err := BuildBinary(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := freeLoopbackAddr()
	if err != nil {
		t.Fatal(err)
	}
	b := &Broker{Process: newProcess("broker", dir, bin, "server", "--listen", addr, "--in-memory", "--log-level", "warn",
		"--max-connections-per-source", fmt.Sprint(perSource), "--text-line-timeout", lineTimeout.String(),
		"--handshake-timeout", "2s", "--shutdown-timeout", "2s", "--http-listen", "off"), Addr: addr}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer b.Terminate(context.Background())

	canaryDial := func(ctx context.Context, addr string) (net.Conn, error) {
		d := net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}}
		return d.DialContext(ctx, "tcp", addr)
	}
	opts := clients.Options{ClientName: "canary", DialFunc: canaryDial, Logger: slog.New(slog.DiscardHandler)}
	sub, err := clients.Dial(ctx, addr, opts)
	if err != nil {
		t.Fatalf("canary consumer before the attack: %v", err)
	}
	defer sub.Close()
	if err := sub.DeclareQueue(ctx, "canary", clients.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := sub.DeclareExchange(ctx, "canary-x", clients.Direct); err != nil {
		t.Fatal(err)
	}
	if err := sub.Bind(ctx, "canary-x", "canary", "k"); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := make(map[string]bool)
	allIn := make(chan struct{})
	if _, err := sub.Consume(ctx, clients.ConsumerOptions{Queue: "canary", Handler: func(_ context.Context, d *clients.Delivery) error {
		mu.Lock()
		defer mu.Unlock()
		got[d.MessageID] = true
		if len(got) == canaryMsgs {
			close(allIn)
		}
		return nil
	}}); err != nil {
		t.Fatal(err)
	}

	// The attack: every connection sends one byte and then nothing.
	type outcome struct {
		reply string
		err   error
	}
	outcomes := make(chan outcome, attackers)
	var conns []net.Conn
	for range attackers {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("attacker dial: %v", err)
		}
		conns = append(conns, nc)
		nc.Write([]byte("x"))
	}
	defer func() {
		for _, nc := range conns {
			nc.Close()
		}
	}()
	for _, nc := range conns {
		go func() {
			nc.SetReadDeadline(time.Now().Add(30 * time.Second))
			data, err := io.ReadAll(nc)
			outcomes <- outcome{string(data), err}
		}()
	}

	// A new canary connection gets in during the attack, and nothing it
	// publishes is lost.
	pubConn, err := clients.Dial(ctx, addr, opts)
	if err != nil {
		t.Fatalf("canary publisher during the attack: %v", err)
	}
	defer pubConn.Close()
	pub, err := pubConn.NewPublisher(clients.PublisherOptions{Exchange: "canary-x", RoutingKey: "k"})
	if err != nil {
		t.Fatal(err)
	}
	var confirms []*clients.Confirm
	for i := range canaryMsgs {
		c, err := pub.Publish(ctx, fmt.Sprintf("canary-%d", i), []byte("alive"))
		if err != nil {
			t.Fatalf("canary publish %d: %v", i, err)
		}
		confirms = append(confirms, c)
	}
	for i, c := range confirms {
		if err := c.Wait(ctx); err != nil {
			t.Fatalf("canary publish %d not confirmed: %v", i, err)
		}
	}
	select {
	case <-allIn:
	case <-ctx.Done():
		mu.Lock()
		n := len(got)
		mu.Unlock()
		t.Fatalf("canary consumer got %d of %d messages (lost %d)", n, canaryMsgs, canaryMsgs-n)
	}

	// Every attacking connection is closed by the broker: refused at the
	// per-address limit, or timed out on its unfinished line.
	timedOut, refused, silent := 0, 0, 0
	for range attackers {
		o := <-outcomes
		var ne net.Error
		switch {
		case o.err != nil && errorsAsTimeout(o.err, &ne):
			t.Fatalf("an attacking connection is still open after 30s (got %q)", o.reply)
		case strings.HasPrefix(o.reply, "Error: an unterminated line did not complete within the line timeout"):
			timedOut++
		case strings.HasPrefix(o.reply, "Error: too many connections from your address"):
			refused++
		case o.reply == "":
			silent++ // far over the per-address limit: closed at accept
		default:
			t.Fatalf("attacking connection got %q", o.reply)
		}
	}
	if timedOut == 0 || timedOut > attackers-refused-silent || refused+silent == 0 {
		t.Fatalf("outcomes: %d timed out, %d refused, %d closed at accept", timedOut, refused, silent)
	}
	if !b.Running() {
		t.Fatalf("the broker died: %v", b.ExitErr())
	}
	t.Logf("attack of %d one-byte text connections: %d timed out after %v, %d refused politely, %d closed at accept; canary lost 0 of %d",
		attackers, timedOut, lineTimeout, refused, silent, canaryMsgs)
}

func errorsAsTimeout(err error, ne *net.Error) bool {
	e, ok := err.(net.Error)
	if ok {
		*ne = e
	}
	return ok && e.Timeout()
}
