package main

import (
	"bufio"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients"
)

// TestRecvRefusesAQueueItCannotTellWhereRejectionsGo: a queue declared by
// another client with neither a dead-letter queue nor discard (the Go
// library's zero QueueOptions, or the text protocol's declare_queue)
// discards what is rejected, so recv refuses to consume it unless
// --queue-as-is says to, and then warns.
func TestRecvRefusesAQueueItCannotTellWhereRejectionsGo(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := clients.Dial(ctx, addr, clients.Options{ClientName: "legacy"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.DeclareQueue(ctx, "legacy", clients.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	tc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if _, err := tc.Write([]byte("declare_queue textq\n")); err != nil {
		t.Fatal(err)
	}
	tc.SetReadDeadline(time.Now().Add(10 * time.Second))
	if line, err := bufio.NewReader(tc).ReadString('\n'); err != nil {
		t.Fatalf("declare_queue over text: %q %v", line, err)
	}

	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	common := []string{"--broker", addr, "--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub")}
	for _, q := range []string{"legacy", "textq"} {
		r := startRecv(t, append([]string{"--queue", q, "--out", filepath.Join(t.TempDir(), "o.jsonl")}, common...)...)
		err := r.wait(t)
		if err == nil || !strings.Contains(err.Error(), "--queue-as-is") || !strings.Contains(err.Error(), "discards them") {
			t.Errorf("recv --queue %s: %v, want a refusal naming --queue-as-is\n%s", q, err, r.errOut.String())
		}
		if strings.Contains(r.errOut.String(), "Ctrl-C to stop") {
			t.Errorf("recv --queue %s consumed a queue it refused:\n%s", q, r.errOut.String())
		}
	}
	r := startRecv(t, append([]string{"--queue", "legacy", "--queue-as-is", "--out", filepath.Join(t.TempDir(), "o.jsonl")}, common...)...)
	r.started(t)
	if err := r.stop(t); err != nil {
		t.Fatalf("recv --queue-as-is: %v\n%s", err, r.errOut.String())
	}
	if !strings.Contains(r.errOut.String(), "or are discarded if it has none") {
		t.Errorf("recv --queue-as-is did not warn where rejections go:\n%s", r.errOut.String())
	}
}
