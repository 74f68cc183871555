package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/bench"
	"github.com/ciphermq/ciphermq/broker/access"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/internal/testbroker"
	"github.com/ciphermq/ciphermq/internal/userfile"
)

// bench --summarize --only prints one row group with its own base, as
// bench/compare does for the durable targets.
func TestBenchSummarizeOnlyARowGroup(t *testing.T) {
	var lines bytes.Buffer
	for target, rate := range map[string]float64{"ciphermq": 400, "ciphermq-durable": 100, "rabbitmq-persistent": 25, "nats-file": 50} {
		r := bench.Result{Target: target, Publishers: 1, Consumers: 1, Size: 512, Encryption: "off", MsgsPerSec: rate}
		if err := bench.WriteJSON(&lines, r); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(t.TempDir(), "results.jsonl")
	if err := os.WriteFile(path, lines.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, error) {
		cmd := newBenchCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(args)
		cmd.SilenceUsage = true
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run("--summarize", path, "--base", "ciphermq-durable", "--only", "ciphermq-durable,rabbitmq-persistent,nats-file")
	if err != nil {
		t.Fatalf("summarize: %v\n%s", err, out)
	}
	for _, want := range []string{"vs ciphermq-durable", "| rabbitmq-persistent | 1 | 25 | 0.25× |", "| nats-file | 1 | 50 | 0.50× |", "| ciphermq-durable | 1 | 100 | 1.00× |"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "| ciphermq |") {
		t.Errorf("the in-memory target is in the durable group:\n%s", out)
	}
	if _, err := run("--summarize", path, "--only", "nats-memory"); err == nil || !strings.Contains(err.Error(), "--only") {
		t.Errorf("--only with no matching results: %v, want an error naming --only", err)
	}
}

// bench against a broker with users (--broker) authenticates with --user
// and --password-file like the other client commands; without them the
// broker refuses the anonymous connection, and credentials for a broker
// bench starts itself are refused.
func TestBenchAuthenticatesToABrokerWithUsers(t *testing.T) {
	isolate(t)
	t.Setenv(envPassword, "")
	t.Setenv(setUser.env, "")
	dir := t.TempDir()
	users := filepath.Join(dir, "users.json")
	cheap := access.Argon2Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	phc, err := access.HashPassword([]byte("bench-pw"), bytes.Repeat([]byte{1}, 16), cheap)
	if err != nil {
		t.Fatal(err)
	}
	all := access.Permissions{Configure: ".*", Write: ".*", Read: ".*"}
	if err := userfile.Save(users, &access.File{Version: access.FileVersion, Users: []access.User{
		{Name: "bencher", PasswordHash: phc, Permissions: map[string]access.Permissions{"/": all}}}}); err != nil {
		t.Fatal(err)
	}
	pw := filepath.Join(dir, "bench.pw")
	if err := os.WriteFile(pw, []byte("bench-pw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := server.DefaultConfig()
	cfg.Auth.UsersFile = users
	_, addr := testbroker.Start(t, cfg)
	run := func(args ...string) (string, error) {
		cmd := newBenchCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"--progress=false", "--count", "50", "-P", "1", "-C", "1", "--size", "64", "--json"}, args...))
		cmd.SilenceUsage = true
		cmd.SilenceErrors = true
		cmd.SetContext(context.Background())
		err := cmd.Execute()
		return out.String(), err
	}
	out, err := run("--target", "ciphermq", "--broker", addr, "--user", "bencher", "--password-file", pw)
	if err != nil {
		t.Fatalf("bench with --user: %v\n%s", err, out)
	}
	var res bench.Result
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &res); err != nil || res.Unique != 50 || res.Lost != 0 || res.Error != "" {
		t.Fatalf("bench with --user: %v, result %+v %q\n%s", err, res.Tally, res.Error, out)
	}
	if _, err := run("--target", "ciphermq", "--broker", addr); err == nil {
		t.Fatal("bench without credentials against a broker with users succeeded")
	}
	if _, err := run("--target", "ciphermq-inproc", "--user", "bencher", "--password-file", pw); err == nil || !strings.Contains(err.Error(), "--broker") {
		t.Fatalf("credentials for a broker bench starts: %v, want an error naming --broker", err)
	}
	// $CIPHERMQ_USER, set for the other commands, does not stop a bench
	// of a broker bench starts.
	t.Setenv(setUser.env, "bencher")
	if out, err := run("--target", "ciphermq-inproc"); err != nil {
		t.Fatalf("bench of its own broker with $%s set: %v\n%s", setUser.env, err, out)
	}
}
