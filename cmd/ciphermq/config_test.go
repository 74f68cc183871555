package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// configCmd is a command with the client flags, for resolving settings.
func configCmd(t *testing.T, args ...string) *clientConfig {
	t.Helper()
	var got *clientConfig
	cmd := &cobra.Command{Use: "x", RunE: func(cmd *cobra.Command, _ []string) error {
		c, err := loadClientConfig(cmd)
		got = c
		return err
	}}
	addConfigFlag(cmd)
	cmd.Flags().String("broker", defaultBroker, "")
	cmd.Flags().String("queue", defaultQueue, "")
	cmd.Flags().StringSlice("to-key", nil, "")
	cmd.Flags().String("key", "", "")
	cmd.SetArgs(args)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	if err := cmd.Execute(); err != nil {
		t.Fatalf("load config: %v", err)
	}
	return got
}

// isolate points the default config location at an empty directory and
// clears the variables.
func isolate(t *testing.T) string {
	t.Helper()
	home := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", home)
	t.Setenv("HOME", home)
	for _, v := range []string{envConfig, setBroker.env, setExchange.env, setRoutingKey.env, setQueue.env, setFormat.env,
		setKey.env, setTrust.env, setOut.env, setToKey.env, setSignKey.env,
		setTLSCA.env, setTLSCert.env, setTLSKey.env, setTLSServerName.env} {
		t.Setenv(v, "")
	}
	return home
}

func writeConfig(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	home := isolate(t)
	if got := configCmd(t).value(setBroker); got != defaultBroker {
		t.Errorf("nothing set: broker = %q, want the default", got)
	}
	writeConfig(t, filepath.Join(home, "ciphermq", "config.json"), `{"broker":"file:1","queue":"fileq","key":"keys/r.key","to_key":["a.pub","/abs/b.pub"]}`)
	c := configCmd(t)
	if got := c.value(setBroker); got != "file:1" {
		t.Errorf("file only: broker = %q, want file:1", got)
	}
	if got, want := c.pathValue(setKey), filepath.Join(home, "ciphermq", "keys", "r.key"); got != want {
		t.Errorf("file paths are relative to the file: key = %q, want %q", got, want)
	}
	if got, want := c.pathValues(setToKey), []string{filepath.Join(home, "ciphermq", "a.pub"), "/abs/b.pub"}; !reflect.DeepEqual(got, want) {
		t.Errorf("to_key = %q, want %q", got, want)
	}
	t.Setenv("CIPHERMQ_BROKER", "env:2")
	t.Setenv("CIPHERMQ_TO_KEY", "x.pub, y.pub")
	c = configCmd(t)
	if got := c.value(setBroker); got != "env:2" {
		t.Errorf("env over file: broker = %q, want env:2", got)
	}
	if got := c.pathValues(setToKey); !reflect.DeepEqual(got, []string{"x.pub", "y.pub"}) {
		t.Errorf("env list: to-key = %q", got)
	}
	if got := c.value(setQueue); got != "fileq" {
		t.Errorf("unset variable falls through to the file: queue = %q", got)
	}
	c = configCmd(t, "--broker", "flag:3", "--to-key", "f.pub")
	if got := c.value(setBroker); got != "flag:3" {
		t.Errorf("flag over env: broker = %q, want flag:3", got)
	}
	if got := c.pathValues(setToKey); !reflect.DeepEqual(got, []string{"f.pub"}) {
		t.Errorf("flag list: to-key = %q", got)
	}
}

func TestExplicitConfigFile(t *testing.T) {
	isolate(t)
	path := filepath.Join(t.TempDir(), "c.json")
	writeConfig(t, path, `{"queue":"explicit"}`)
	if got := configCmd(t, "--config", path).value(setQueue); got != "explicit" {
		t.Errorf("--config: queue = %q", got)
	}
	t.Setenv(envConfig, path)
	if got := configCmd(t).value(setQueue); got != "explicit" {
		t.Errorf("$%s: queue = %q", envConfig, got)
	}
}

func TestConfigErrorsSayWhatToDo(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	writeConfig(t, bad, `{"brokr":"typo"}`)
	cases := map[string][]string{
		"missing explicit file": {"--config", filepath.Join(dir, "missing.json")},
		"unknown key":           {"--config", bad},
	}
	for name, args := range cases {
		t.Run(name, func(t *testing.T) {
			cmd := &cobra.Command{Use: "x", RunE: func(cmd *cobra.Command, _ []string) error {
				_, err := loadClientConfig(cmd)
				return err
			}}
			addConfigFlag(cmd)
			cmd.SetArgs(args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.Execute()
			if err == nil {
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), "--config") && !strings.Contains(err.Error(), "keys broker") {
				t.Errorf("error does not say what to do: %v", err)
			}
		})
	}
	if got := describe(setKey); !strings.Contains(got, "--key") || !strings.Contains(got, "CIPHERMQ_KEY") {
		t.Errorf("describe = %q", got)
	}
}

// TestUnreadableConfigErrorNamesWhereItsPathCameFrom: a default config
// file that cannot be read must not blame a --config that was not given.
func TestUnreadableConfigErrorNamesWhereItsPathCameFrom(t *testing.T) {
	home := isolate(t)
	unreadable := filepath.Join(home, "ciphermq", "config.json")
	// A directory where the file should be: unreadable as a file, even for root.
	if err := os.MkdirAll(unreadable, 0o700); err != nil {
		t.Fatal(err)
	}
	load := func(args ...string) error {
		cmd := &cobra.Command{Use: "x", RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := loadClientConfig(cmd)
			return err
		}}
		addConfigFlag(cmd)
		cmd.SetArgs(args)
		cmd.SilenceUsage, cmd.SilenceErrors = true, true
		return cmd.Execute()
	}
	err := load()
	if err == nil || !strings.Contains(err.Error(), "default config file") || strings.Contains(err.Error(), "given by --config") {
		t.Fatalf("unreadable default config: %v, want it named as the default file", err)
	}
	if err := load("--config", unreadable); err == nil || !strings.Contains(err.Error(), "given by --config") {
		t.Fatalf("unreadable --config: %v", err)
	}
	t.Setenv(envConfig, unreadable)
	if err := load(); err == nil || !strings.Contains(err.Error(), "$"+envConfig) || strings.Contains(err.Error(), "--config") {
		t.Fatalf("unreadable $%s: %v", envConfig, err)
	}
}
