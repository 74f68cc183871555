package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/clients/sender"
	"github.com/ciphermq/ciphermq/internal/check"
	"github.com/ciphermq/ciphermq/internal/testbroker"
)

// startBroker serves an in-process broker on a free local port.
func startBroker(t *testing.T) (*server.Server, string) {
	t.Helper()
	return testbroker.Start(t, server.DefaultConfig())
}

func queueReady(srv *server.Server, name string) int {
	for _, q := range srv.Stats().Queues {
		if q.Name == name {
			return q.Ready + q.Unacked
		}
	}
	return -1
}

func TestSendPublishesEveryMessageWithConfirms(t *testing.T) {
	isolate(t)
	srv, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	common := []string{"--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key")}

	out, _, err := runSendCmd(t, "", append(common, "one", "two", "three")...)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, out)
	}
	if !strings.Contains(out, "sent 3, confirmed 3 (duplicates 0), refused 0, unconfirmed 0") {
		t.Errorf("summary: %s", out)
	}
	if !strings.Contains(out, "\n  confirmed 3 (in memory only: lost if the broker stops)\n") {
		t.Errorf("summary does not say the confirms were in memory only: %s", out)
	}
	out, _, err = runSendCmd(t, "a\nb\n", append(common, "--stdin")...)
	if err != nil || !strings.Contains(out, "confirmed 2") {
		t.Fatalf("send --stdin: %v\n%s", err, out)
	}
	out, errOut, err := runSendCmd(t, "", append(common, "--count", "500", "--size", "64", "--window", "16", "--progress")...)
	if err != nil || !strings.Contains(out, "confirmed 500") {
		t.Fatalf("send --count: %v\n%s", err, out)
	}
	if !strings.Contains(errOut, "100% sent 500/500") {
		t.Errorf("--progress drew no final progress line on stderr: %q", errOut)
	}
	if got := queueReady(srv, "default_queue"); got != 505 {
		t.Fatalf("default_queue holds %d messages, want 505", got)
	}
}

func TestSendRefusedExitsNonZeroWithReason(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out, _, err := runSendCmd(t, "", "--broker", addr, "--routing-key", "nowhere",
		"--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key"), "lost?")
	if err == nil || !strings.Contains(err.Error(), "1 messages refused") {
		t.Fatalf("send to an unroutable key: %v, want a non-zero exit", err)
	}
	if !strings.Contains(out, "refused 1") || !strings.Contains(out, "code 300") {
		t.Errorf("summary must give the broker's reason: %s", out)
	}
}

func TestSendErrorsSayWhatToDo(t *testing.T) {
	isolate(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	pub, sk := filepath.Join(keys, "receiver.pub"), filepath.Join(keys, "sender.key")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--to-key", pub, "--sign-key", sk}, "nothing to send"},
		{[]string{"--to-key", pub, "--sign-key", sk, "--count", "3", "x"}, "choose one message source"},
		{[]string{"--sign-key", sk, "x"}, "pass --to-key or set CIPHERMQ_TO_KEY"},
		{[]string{"--to-key", pub, "x"}, "no sender signing key"},
		{[]string{"--to-key", pub, "--sign-key", sk, "--format", "seed", "x"}, "--format modern"},
		{[]string{"--to-key", pub, "--sign-key", sk, "--broker", "127.0.0.1:1", "x"}, "ciphermq server"},
	}
	for _, tc := range cases {
		_, _, err := runSendCmd(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("send %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func runSendCmd(t *testing.T, stdin string, args ...string) (string, string, error) {
	t.Helper()
	cmd := newSendCmd()
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

func TestSendEmptyAndBinaryLikeMessagesRoundTrip(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "received.jsonl")
	r := startRecv(t, "--broker", addr, "--key", filepath.Join(keys, "receiver.key"), "--trust", filepath.Join(keys, "sender.pub"), "--out", out)
	r.started(t)
	if _, _, err := runSendCmd(t, "first\n\n\tthird\r\n", "--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"),
		"--sign-key", filepath.Join(keys, "sender.key"), "--stdin"); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "3 records", func() bool { return len(recordsIn(out)) == 3 })
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, rec := range recordsIn(out) {
		got[string(rec.Message)] = true
	}
	for _, want := range []string{"first", "", "\tthird"} { // CRLF ends a line too
		if !got[want] {
			t.Errorf("message %q not stored; stored %v", want, got)
		}
	}
}

func TestSendReportSequentialIDsAndSeededMessages(t *testing.T) {
	isolate(t)
	srv, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "p1.jsonl")
	args := []string{"--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key"),
		"--count", "3", "--size", "40", "--content-seed", "9", "--id-prefix", "p1", "--first", "5",
		"--report", report, "--report-queue", "default_queue"}
	if out, _, err := runSendCmd(t, "", args...); err != nil || !strings.Contains(out, "(duplicates 0)") {
		t.Fatalf("send: %v\n%s", err, out)
	}
	// The same command again (a sender restarted from index 5) sends the
	// same ids and plaintexts: the broker confirms them as duplicates, and
	// the report grows.
	if out, _, err := runSendCmd(t, "", args...); err != nil || !strings.Contains(out, "(duplicates 3)") {
		t.Fatalf("send again: %v\n%s", err, out)
	}
	if got := queueReady(srv, "default_queue"); got != 3 {
		t.Fatalf("default_queue holds %d, want 3", got)
	}
	h := readSendReport(t, report)
	if len(h.Events) != 12 {
		t.Fatalf("report has %d events, want 2 runs × 3 × (attempt, outcome):\n%+v", len(h.Events), h.Events)
	}
	seed := uint64(9)
	attempted := 0
	outcomes := map[check.Outcome]int{}
	for _, e := range h.Events {
		if e.Publisher != "p1" {
			t.Fatalf("publisher %q, want the id prefix", e.Publisher)
		}
		switch e.Kind {
		case check.KindPublish:
			attempted++
			want := check.DigestOf(sender.GenerateMessage(nil, e.Seq, 40, &seed))
			if e.MessageID != fmt.Sprintf("p1-%d", e.Seq) || e.Seq < 5 || e.Seq > 7 || e.Digest != want || !slices.Equal(e.Queues, []string{"default_queue"}) {
				t.Fatalf("attempt %+v", e)
			}
		case check.KindOutcome:
			outcomes[e.Outcome]++
		}
	}
	if attempted != 6 || outcomes[check.OutcomeConfirmed] != 3 || outcomes[check.OutcomeConfirmedDuplicate] != 3 {
		t.Fatalf("attempts %d, outcomes %v", attempted, outcomes)
	}
	if rp := check.Check(h, check.Options{SafetyOnly: true}); len(rp.Malformed) != 0 || rp.Counts.Attempted != 3 {
		t.Fatalf("the checker reads the report as %+v, malformed %v", rp.Counts, rp.Malformed)
	}
}

func TestSendReportRecordsRefusals(t *testing.T) {
	isolate(t)
	_, addr := startBroker(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	report := filepath.Join(t.TempDir(), "r.jsonl")
	_, _, err := runSendCmd(t, "", "--broker", addr, "--routing-key", "nowhere", "--report", report, "--report-publisher", "pub",
		"--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key"), "lost?")
	if err == nil {
		t.Fatal("a refused message must give a non-zero exit")
	}
	h := readSendReport(t, report)
	if len(h.Events) != 2 || h.Events[1].Outcome != check.OutcomeRefused || h.Events[1].Code != 300 || h.Events[1].Reason == "" ||
		h.Events[0].Publisher != "pub" || h.Events[0].Digest != check.DigestOf([]byte("lost?")) {
		t.Fatalf("report %+v", h.Events)
	}
}

func TestSendNewFlagsRefuseBadCombinations(t *testing.T) {
	isolate(t)
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	common := []string{"--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key")}
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"--content-seed", "1", "x"}, "add --count"},
		{[]string{"--seed", "1", "x"}, "add --count"},
		{[]string{"--first", "0", "x"}, "--first must be >= 1"},
		{[]string{"--report-publisher", "p", "x"}, "add --report FILE"},
		{[]string{"--id-prefix", "has space", "x"}, "--id-prefix"},
		{[]string{"--id-prefix", "", "x"}, "--id-prefix"},
		{[]string{"--report", filepath.Join(t.TempDir(), "missing", "r.jsonl"), "x"}, "--report"},
	}
	for _, tc := range cases {
		_, _, err := runSendCmd(t, "", append(common, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("send %v: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// readSendReport decodes a --report file (JSON Lines of check events).
func readSendReport(t *testing.T, path string) check.History {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var h check.History
	for line := range strings.Lines(string(b)) {
		var e check.Event
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("report line %q: %v", line, err)
		}
		h.Add(e)
	}
	return h
}

// TestSendSummarySaysWhereConfirmedMessagesAre: a broker with a data
// directory confirms default_queue publishes as on disk; a publish that
// routes to an in-memory queue too is counted apart.
func TestSendSummarySaysWhereConfirmedMessagesAre(t *testing.T) {
	isolate(t)
	_, addr, _ := startDurableBroker(t, t.TempDir())
	keys := t.TempDir()
	if _, err := keygen(t, "--dir", keys); err != nil {
		t.Fatal(err)
	}
	common := []string{"--broker", addr, "--to-key", filepath.Join(keys, "receiver.pub"), "--sign-key", filepath.Join(keys, "sender.key")}
	out, _, err := runSendCmd(t, "", append(common, "one", "two", "three")...)
	if err != nil || !strings.Contains(out, "\n  confirmed 3 (on disk)\n") {
		t.Fatalf("send to a durable default_queue: %v\n%s", err, out)
	}
	s := sender.Summary{Confirmed: 5, OnDisk: 2}
	if got, want := s.Where(), "(2 on disk, 3 in memory only: lost if the broker stops)"; got != want {
		t.Fatalf("mixed: %q, want %q", got, want)
	}
}
