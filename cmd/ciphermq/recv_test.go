package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/clients/inbox"
	"github.com/ciphermq/ciphermq/internal/testutil"
)

type recvRun struct {
	out, errOut testutil.SyncBuffer
	done        chan error
	cancel      context.CancelFunc
}

// wait returns the command's error once it ends by itself.
func (r *recvRun) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("recv did not end")
		return nil
	}
}

// started waits until recv is consuming.
func (r *recvRun) started(t *testing.T) {
	t.Helper()
	waitUntil(t, "recv to start consuming", func() bool { return strings.Contains(r.errOut.String(), "Ctrl-C to stop") })
}

// startRecv runs `recv args...` in process until stop.
func startRecv(t *testing.T, args ...string) *recvRun {
	t.Helper()
	r := &recvRun{done: make(chan error, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	cmd := newRecvCmd()
	cmd.SetOut(&r.out)
	cmd.SetErr(&r.errOut)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	go func() { r.done <- cmd.ExecuteContext(ctx) }()
	t.Cleanup(cancel)
	return r
}

// stop ends the receiver as SIGINT would and returns its error.
func (r *recvRun) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("recv did not stop")
		return nil
	}
}

func recordsIn(path string) []inbox.Record {
	raw, _ := os.ReadFile(path)
	var recs []inbox.Record
	_ = inbox.Scan(bytes.NewReader(raw), func(r inbox.Record) error { recs = append(recs, r); return nil })
	return recs
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval only
	}
}

func TestRecvStoresWhatSendSent(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "received.jsonl")
	r := startRecv(t, "--broker", addr, "--key", filepath.Join(keys, "receiver.key"),
		"--trust", filepath.Join(keys, "sender.pub"), "--out", out, "--print")
	r.started(t)
	sendOut, _, err := runSendCmd(t, "", "--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"),
		"--sign-key", filepath.Join(keys, "sender.key"), "hello", "wörld", "line\nbreak")
	if err != nil {
		t.Fatalf("send: %v\n%s", err, sendOut)
	}
	waitUntil(t, "3 records", func() bool { return len(recordsIn(out)) == 3 })
	if err := r.stop(t); err != nil {
		t.Fatalf("recv exit: %v\n%s", err, r.errOut.String())
	}
	got := map[string]bool{}
	for _, rec := range recordsIn(out) {
		got[string(rec.Message)] = true
		if !strings.HasPrefix(rec.Sender, "ed25519:") {
			t.Errorf("sender = %q, want an ed25519 fingerprint", rec.Sender)
		}
	}
	for _, m := range []string{"hello", "wörld", "line\nbreak"} {
		if !got[m] {
			t.Errorf("message %q not stored", m)
		}
	}
	o := r.out.String()
	if !strings.Contains(o, "received 3, stored 3, duplicates 0, rejected 0") || !strings.Contains(o, out) {
		t.Errorf("summary:\n%s", o)
	}
	if !strings.Contains(o, "\twörld\n") || !strings.Contains(o, `"line\nbreak"`) {
		t.Errorf("--print output:\n%s", o)
	}
}

func TestRecvSeedFormat(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--format", "seed", "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "received.jsonl")
	r := startRecv(t, "--broker", addr, "--key", filepath.Join(keys, "receiver_private.pem"), "--out", out)
	r.started(t)
	if _, _, err := runSendCmd(t, "", "--broker", addr, "--format", "seed", "--to-key", filepath.Join(keys, "receiver_public.pem"), "legacy"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "1 record", func() bool { return len(recordsIn(out)) == 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if rec := recordsIn(out)[0]; rec.Sender != inbox.SenderUnauthenticated || string(rec.Message) != "legacy" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestRecvErrorsSayWhatToDo(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "o.jsonl")
	key, trust := filepath.Join(keys, "receiver.key"), filepath.Join(keys, "sender.pub")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--broker", addr}, "no receiver key: pass --key or set CIPHERMQ_KEY"},
		{[]string{"--broker", addr, "--key", key}, "no trusted sender"},
		{[]string{"--broker", addr, "--key", trust, "--trust", trust}, "neither a modern receiver key"},
		{[]string{"--broker", addr, "--key", key, "--trust", trust, "--out", filepath.Join(out, "x", "y")}, "directory does not exist"},
		{[]string{"--broker", addr, "--key", key, "--trust", trust, "--out", out, "--exchange", "nope"}, "pass an existing --exchange"},
		{[]string{"--broker", "127.0.0.1:1", "--key", key, "--trust", trust, "--out", out}, "ciphermq server"},
	}
	for _, tc := range cases {
		r := startRecv(t, tc.args...)
		err := r.wait(t)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("recv %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestRecvRefusesASecondReceiverOnTheSameFile(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "o.jsonl")
	args := []string{"--broker", addr, "--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub"), "--out", out}
	first := startRecv(t, args...)
	first.started(t)
	second := startRecv(t, args...)
	select {
	case err := <-second.done:
		if err == nil || !strings.Contains(err.Error(), "locked by another receiver") {
			t.Errorf("second recv: %v, want a lock error", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("second recv did not fail")
	}
	if err := first.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestSendToSeveralRecipientsEachOpensItsCopy(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys, "--name", "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err := keygen(t, "--dir", keys, "--name", "bob", "--sender-name", "unused"); err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{}
	for _, who := range []string{"alice", "bob"} {
		outs[who] = filepath.Join(t.TempDir(), who+".jsonl")
		// Each receiver has its own queue, bound to the default exchange and key:
		// the broker copies every message into both.
		r := startRecv(t, "--broker", addr, "--queue", who+"_queue", "--key", filepath.Join(keys, who+".key"),
			"--trust", filepath.Join(keys, "sender.pub"), "--out", outs[who])
		r.started(t)
		defer func() { _ = r.stop(t) }()
	}
	if _, _, err := runSendCmd(t, "", "--broker", addr, "--to-key", filepath.Join(keys, "alice.pub"),
		"--to-key", filepath.Join(keys, "bob.pub"), "--sign-key", filepath.Join(keys, "sender.key"), "for both"); err != nil {
		t.Fatal(err)
	}
	for who, out := range outs {
		waitUntil(t, who+"'s record", func() bool { return len(recordsIn(out)) == 1 })
		if rec := recordsIn(out)[0]; string(rec.Message) != "for both" || rec.Queue != who+"_queue" {
			t.Errorf("%s stored %+v", who, rec)
		}
	}
}

func TestRecvAndSendTakeSettingsFromEnvironmentAndConfigFile(t *testing.T) {
	home := isolate(t)
	_, addr := startBroker(t)
	keys := filepath.Join(home, "ciphermq", "keys")
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "received.jsonl")
	// The default config file, with paths relative to it; the broker from the environment.
	writeConfig(t, filepath.Join(home, "ciphermq", "config.json"),
		`{"key":"keys/receiver.key","trust":["keys/sender.pub"],"to_key":["keys/receiver.pub"],"sign_key":"keys/sender.key","queue":"cfg_queue"}`)
	t.Setenv("CIPHERMQ_BROKER", addr)
	t.Setenv("CIPHERMQ_OUT", out)
	r := startRecv(t)
	r.started(t)
	if _, _, err := runSendCmd(t, "", "configured"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the record", func() bool { return len(recordsIn(out)) == 1 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if rec := recordsIn(out)[0]; rec.Queue != "cfg_queue" || string(rec.Message) != "configured" {
		t.Fatalf("record = %+v", rec)
	}
}

func TestRecvRepairsATornFileAndRefusesACorruptOne(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := `{"message_id":"old","queue":"q","sender":"s","received_at":"2026-11-26T10:00:00Z","stored_at":"2026-11-26T10:00:00Z","message":"m"}` + "\n"
	torn := filepath.Join(dir, "torn.jsonl")
	corrupt := filepath.Join(dir, "corrupt.jsonl")
	if err := os.WriteFile(torn, []byte(good+`{"message_id":"half`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(corrupt, []byte("garbage\n"+good), 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"--broker", addr, "--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub")}

	r := startRecv(t, append(base, "--out", torn)...)
	r.started(t)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	if e := r.errOut.String(); !strings.Contains(e, "repaired "+torn) || !strings.Contains(e, "line 2") {
		t.Errorf("recv must say what it cut: %s", e)
	}
	if got := len(recordsIn(torn)); got != 1 {
		t.Errorf("after repair the file holds %d records, want 1", got)
	}

	r = startRecv(t, append(base, "--out", corrupt)...)
	err := r.wait(t)
	if err == nil || !strings.Contains(err.Error(), "corrupt at line 1") {
		t.Fatalf("recv on a corrupt file: %v, want a refusal naming line 1", err)
	}
}

// TestRecvTimeoutBoundsTheRun: --timeout ends a receiving run cleanly
// (exit 0, summary printed), ends a run whose broker never answers with
// exit code 4 and a report, and ends a run whose broker went away with
// exit code 4 too.
func TestRecvTimeoutBoundsTheRun(t *testing.T) {
	isolate(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	common := []string{"--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub"), "--in-memory"}

	t.Run("connected", func(t *testing.T) {
		_, addr := startBroker(t)
		out := filepath.Join(t.TempDir(), "received.jsonl")
		r := startRecv(t, append(common, "--broker", addr, "--out", out, "--timeout", "1s")...)
		if err := r.wait(t); err != nil {
			t.Fatalf("recv --timeout against a live broker: %v\n%s", err, r.errOut.String())
		}
		if !strings.Contains(r.out.String(), "received 0, stored 0") {
			t.Errorf("summary:\n%s", r.out.String())
		}
	})

	t.Run("a broker that never answers", func(t *testing.T) {
		addr := silentListener(t)
		r := startRecv(t, append(common, "--broker", addr, "--out", filepath.Join(t.TempDir(), "r.jsonl"), "--timeout", "1s")...)
		err := r.wait(t)
		if got := exitCode(err); got != exitTimedOut {
			t.Fatalf("exit code %d, want %d (%v)", got, exitTimedOut, err)
		}
		if !strings.Contains(err.Error(), "--timeout passed while connecting to broker "+addr) ||
			!strings.Contains(r.out.String(), "received 0: --timeout (1s) passed") {
			t.Errorf("error %v, report:\n%s", err, r.out.String())
		}
	})

	t.Run("the broker went away", func(t *testing.T) {
		srv, addr := startBroker(t)
		out := filepath.Join(t.TempDir(), "received.jsonl")
		r := startRecv(t, append(common, "--broker", addr, "--out", out, "--timeout", "3s")...)
		r.started(t)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		err := r.wait(t)
		if got := exitCode(err); got != exitTimedOut {
			t.Fatalf("exit code %d, want %d (%v)\n%s", got, exitTimedOut, err, r.out.String())
		}
		if !strings.Contains(r.out.String(), "was unreachable") {
			t.Errorf("report:\n%s", r.out.String())
		}
	})
}
