package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/clients"
)

func runDLQCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	cmd := newDLQCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	cmd.SilenceErrors = true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

// A receiver with the wrong trust set rejects everything into
// default_queue.dlq (and says so, once per message, and exits 5); after
// `dlq move` a receiver with the right trust set stores every confirmed
// message exactly once.
func TestWrongTrustThenFixedReplaysTheDeadLetteredMessages(t *testing.T) {
	isolate(t)
	srv, addr := startBroker(t)
	good, other := t.TempDir(), t.TempDir()
	for _, dir := range []string{good, other} {
		if _, err := keygen(t, "--dir", dir); err != nil {
			t.Fatal(err)
		}
	}
	const n = 50
	out := filepath.Join(t.TempDir(), "received.jsonl")
	key := filepath.Join(good, "receiver.key")

	wrong := startRecv(t, "--broker", addr, "--key", key, "--trust", filepath.Join(other, "sender.pub"), "--out", out)
	wrong.started(t)
	sendOut, _, err := runSendCmd(t, "", "--broker", addr, "--to-key", filepath.Join(good, "receiver.pub"),
		"--sign-key", filepath.Join(good, "sender.key"), "--count", "50")
	if err != nil || !strings.Contains(sendOut, "confirmed 50") {
		t.Fatalf("send: %v\n%s", err, sendOut)
	}
	waitUntil(t, "50 messages in default_queue.dlq", func() bool { return queueReady(srv, "default_queue.dlq") == n })
	err = wrong.stop(t)
	if exitCode(err) != exitRejected || !strings.Contains(err.Error(), "rejected 50 message(s) to dead-letter queue default_queue.dlq") {
		t.Fatalf("recv with the wrong trust set: exit %d, %v", exitCode(err), err)
	}
	if got := strings.Count(wrong.errOut.String(), "rejected a message"); got != n || strings.Contains(wrong.errOut.String(), "refused a message") {
		t.Errorf("%d rejection log lines, want one per message (%d):\n%s", got, n, wrong.errOut.String())
	}
	if s := wrong.out.String(); !strings.Contains(s, "rejected 50 to dead-letter queue default_queue.dlq") || !strings.Contains(s, "  50 untrusted-sender") {
		t.Errorf("summary:\n%s", s)
	}
	if len(recordsIn(out)) != 0 {
		t.Fatal("the wrong receiver stored something")
	}

	list, _, err := runDLQCmd(t, "list", "--broker", addr)
	if err != nil {
		t.Fatalf("dlq list: %v\n%s", err, list)
	}
	if !strings.Contains(list, "default_queue.dlq: 50 message(s)") || strings.Count(list, "\tcmq1\tsender ") != n ||
		strings.Count(list, "\tuntrusted-sender\t") != n {
		t.Fatalf("dlq list (want every message with reason untrusted-sender):\n%s", list)
	}
	t.Logf("dlq list:\n%s", strings.Join(strings.SplitN(list, "\n", 3)[:2], "\n"))
	if queueReady(srv, "default_queue.dlq") != n {
		t.Fatal("dlq list removed messages")
	}

	moveOut, _, err := runDLQCmd(t, "move", "--broker", addr)
	if err != nil || !strings.Contains(moveOut, "moved 50 of 50 message(s) from default_queue.dlq back to default_queue") {
		t.Fatalf("dlq move: %v\n%s", err, moveOut)
	}
	if d, q := queueReady(srv, "default_queue.dlq"), queueReady(srv, "default_queue"); d != 0 || q != n {
		t.Fatalf("after move: dlq %d, queue %d", d, q)
	}

	fixed := startRecv(t, "--broker", addr, "--key", key, "--trust", filepath.Join(good, "sender.pub"), "--out", out)
	fixed.started(t)
	waitUntil(t, "50 records", func() bool { return len(recordsIn(out)) == n })
	waitUntil(t, "default_queue drained", func() bool { return queueReady(srv, "default_queue") == 0 })
	if err := fixed.stop(t); err != nil {
		t.Fatalf("fixed recv: %v", err)
	}
	ids := map[string]int{}
	for _, rec := range recordsIn(out) {
		ids[rec.MessageID]++
	}
	if len(ids) != n {
		t.Fatalf("%d distinct ids stored, want %d", len(ids), n)
	}
	for id, c := range ids {
		if c != 1 {
			t.Errorf("%s stored %d times", id, c)
		}
	}
	if queueReady(srv, "default_queue.dlq") != 0 {
		t.Fatal("messages left in the dead-letter queue")
	}
}

// A message moved back twice within the broker's dedup window is taken for
// a duplicate by the broker: `dlq move` leaves it in the dead-letter queue
// and exits 3 instead of acking it away.
func TestDLQMoveInsideTheDedupWindowLosesNothing(t *testing.T) {
	isolate(t)
	srv, addr := startBroker(t)
	good, other := t.TempDir(), t.TempDir()
	for _, dir := range []string{good, other} {
		if _, err := keygen(t, "--dir", dir); err != nil {
			t.Fatal(err)
		}
	}
	const n = 5
	out := filepath.Join(t.TempDir(), "received.jsonl")
	wrongArgs := []string{"--broker", addr, "--key", filepath.Join(good, "receiver.key"), "--trust", filepath.Join(other, "sender.pub"), "--out", out}
	if _, _, err := runSendCmd(t, "", "--broker", addr, "--to-key", filepath.Join(good, "receiver.pub"),
		"--sign-key", filepath.Join(good, "sender.key"), "--count", "5"); err != nil {
		t.Fatal(err)
	}
	for round := 1; round <= 2; round++ {
		wrong := startRecv(t, wrongArgs...)
		wrong.started(t)
		waitUntil(t, "5 messages in default_queue.dlq", func() bool { return queueReady(srv, "default_queue.dlq") == n })
		if err := wrong.stop(t); exitCode(err) != exitRejected {
			t.Fatalf("round %d: recv exit %d: %v", round, exitCode(err), err)
		}
		moveOut, _, err := runDLQCmd(t, "move", "--broker", addr)
		if round == 1 {
			if err != nil || queueReady(srv, "default_queue") != n {
				t.Fatalf("first move: %v\n%s", err, moveOut)
			}
			continue
		}
		if exitCode(err) != exitNotConfirmed || !strings.Contains(err.Error(), "5 message(s) left in default_queue.dlq") {
			t.Fatalf("second move: exit %d %v\n%s", exitCode(err), err, moveOut)
		}
		if !strings.Contains(moveOut, "moved 0 of 5") {
			t.Fatalf("second move:\n%s", moveOut)
		}
	}
	if d, q := queueReady(srv, "default_queue.dlq"), queueReady(srv, "default_queue"); d != n || q != 0 {
		t.Fatalf("after a move inside the dedup window: dlq %d, queue %d (want %d, 0)", d, q, n)
	}
}

// A receiver with a key the messages were not sealed for rejects them as
// not-recipient; the broker records the reason, and `dlq list` (table and
// JSON) shows it for every message.
func TestDLQListShowsTheReceiversRejectReason(t *testing.T) {
	isolate(t)
	srv, addr := startBroker(t)
	sealedFor, wrongKey := t.TempDir(), t.TempDir()
	for _, dir := range []string{sealedFor, wrongKey} {
		if _, err := keygen(t, "--dir", dir); err != nil {
			t.Fatal(err)
		}
	}
	const n = 5
	out := filepath.Join(t.TempDir(), "received.jsonl")
	wrong := startRecv(t, "--broker", addr, "--key", filepath.Join(wrongKey, "receiver.key"),
		"--trust", filepath.Join(sealedFor, "sender.pub"), "--out", out)
	wrong.started(t)
	sendOut, _, err := runSendCmd(t, "", "--broker", addr, "--to-key", filepath.Join(sealedFor, "receiver.pub"),
		"--sign-key", filepath.Join(sealedFor, "sender.key"), "--count", "5")
	if err != nil || !strings.Contains(sendOut, "confirmed 5") {
		t.Fatalf("send: %v\n%s", err, sendOut)
	}
	waitUntil(t, "5 messages in default_queue.dlq", func() bool { return queueReady(srv, "default_queue.dlq") == n })
	if err := wrong.stop(t); exitCode(err) != exitRejected {
		t.Fatalf("recv with the wrong key: exit %d, %v", exitCode(err), err)
	}
	if s := wrong.out.String(); !strings.Contains(s, "  5 not-recipient") {
		t.Fatalf("recv summary:\n%s", s)
	}
	list, _, err := runDLQCmd(t, "list", "--broker", addr)
	if err != nil {
		t.Fatalf("dlq list: %v\n%s", err, list)
	}
	if got := strings.Count(list, "\tnot-recipient\t"); got != n {
		t.Fatalf("dlq list shows not-recipient %d times, want %d:\n%s", got, n, list)
	}
	js, _, err := runDLQCmd(t, "list", "--broker", addr, "--json")
	if err != nil {
		t.Fatalf("dlq list --json: %v\n%s", err, js)
	}
	if got := strings.Count(js, `"reason":"not-recipient"`); got != n {
		t.Fatalf("dlq list --json shows the reason %d times, want %d:\n%s", got, n, js)
	}
}

// `dlq list` finds a dead-letter queue beyond the first stats page (more
// than 1,000 queues sort before it) by following the stats cursor.
func TestDLQListFindsQueuesPastTheFirstStatsPage(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	ctx := context.Background()
	conn, err := clients.Dial(ctx, addr, clients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 1500 {
		if err := conn.DeclareQueue(ctx, fmt.Sprintf("a-%04d", i), clients.QueueOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := conn.DeclareQueue(ctx, "zz.dlq", clients.QueueOptions{}); err != nil {
		t.Fatal(err)
	}
	out, _, err := runDLQCmd(t, "list", "--broker", addr, "--queue", "zz")
	if err != nil || !strings.Contains(out, "zz.dlq is empty") {
		t.Fatalf("dlq list of zz: %v\n%s", err, out)
	}
	_, _, err = runDLQCmd(t, "list", "--broker", addr, "--queue", "zzz")
	if err == nil || !strings.Contains(err.Error(), "queue zzz.dlq does not exist") {
		t.Fatalf("dlq list of a queue without a dead-letter queue: %v", err)
	}
}
