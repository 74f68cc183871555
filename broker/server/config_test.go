package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseConfigOverridesOnlyPresentFields(t *testing.T) {
	base := DefaultConfig()
	cfg, err := ParseConfig([]byte(`{"listen": "0.0.0.0:6000", "heartbeat": "2s", "max_message_size": 4096,
		"dedup_window": "1m", "text_ack_timeout": "5s", "max_frame_size": 65536,
		"allow_anonymous": true, "text_protocol": "on"}`), base)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "0.0.0.0:6000" || cfg.Heartbeat != 2*time.Second || cfg.MaxMessageSize != 4096 ||
		cfg.DedupWindow != time.Minute || cfg.TextAckTimeout != 5*time.Second || cfg.MaxFrameSize != 65536 {
		t.Fatalf("parsed %+v", cfg)
	}
	if cfg.MaxConnections != base.MaxConnections || cfg.TextPacingGap != base.TextPacingGap {
		t.Fatal("absent fields changed")
	}
	if !cfg.Auth.AllowAnonymous || cfg.Auth.TextProtocol != TextProtocolOn {
		t.Fatalf("auth settings not applied: %+v", cfg.Auth)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
	// The same listener without users and without allow_anonymous is the
	// insecure default the server refuses.
	cfg.Auth.AllowAnonymous = false
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "no users configured") {
		t.Fatalf("anonymous broker on 0.0.0.0 accepted: %v", err)
	}
	cfg.Auth.UsersFile = "users.json"
	if err := cfg.Validate(); err != nil {
		t.Fatalf("broker with a users file refused: %v", err)
	}
	if _, err := ParseConfig([]byte(`{"text_protocol": "sometimes"}`), base); err == nil {
		t.Fatal("unknown text protocol mode accepted")
	}
}

func TestParseConfigRejectsTyposAndBadValues(t *testing.T) {
	for _, doc := range []string{
		`{"listne": "x"}`,
		`{"heartbeat": 10}`,
		`{"heartbeat": "ten seconds"}`,
		`{"listen": "a"} {"listen": "b"}`,
		`[1, 2]`,
	} {
		if _, err := ParseConfig([]byte(doc), DefaultConfig()); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s accepted", doc)
		}
	}
}

func TestValidateSaysWhatIsWrong(t *testing.T) {
	cases := map[string]func(*Config){
		"max connections":   func(c *Config) { c.MaxConnections = 0 },
		"listen address":    func(c *Config) { c.Listen = "no-port" },
		"heartbeat 0":       func(c *Config) { c.Heartbeat = 0 },
		"max frame size":    func(c *Config) { c.MaxFrameSize = 100 },
		"outbound buffer":   func(c *Config) { c.OutboundBufferBytes = 10 },
		"text ack timeout":  func(c *Config) { c.TextAckTimeout = 0 },
		"handshake timeout": func(c *Config) { c.HandshakeTimeout = -time.Second },
		"max line size":     func(c *Config) { c.MaxLineSize = 10 },
	}
	for want, mutate := range cases {
		cfg := DefaultConfig()
		mutate(&cfg)
		err := cfg.Validate()
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v, want ErrInvalidConfig", want, err)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
		if _, err := New(cfg, nil); err == nil {
			t.Errorf("%s: New accepted an invalid config", want)
		}
	}
}

func TestLoadConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "server.json")
	if err := os.WriteFile(path, []byte(`{"max_connections": 7}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfigFile(path, DefaultConfig())
	if err != nil || cfg.MaxConnections != 7 {
		t.Fatalf("cfg.MaxConnections=%d err=%v", cfg.MaxConnections, err)
	}
	if _, err := LoadConfigFile(filepath.Join(t.TempDir(), "missing.json"), DefaultConfig()); err == nil {
		t.Fatal("missing file accepted")
	}
}
