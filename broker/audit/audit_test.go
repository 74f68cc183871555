package audit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"testing"
)

func TestLogCarriesAuditAndEvent(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	Log(l, slog.LevelWarn, AuthFailure, "authentication failed", "user", "alice", "remote", "10.0.0.1:5000")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("record %q: %v", buf.String(), err)
	}
	if rec[Key] != true || rec["event"] != AuthFailure || rec["user"] != "alice" || rec["level"] != "WARN" {
		t.Fatalf("record %v: want audit=true, event=%s, user=alice, level WARN", rec, AuthFailure)
	}
}

func TestLogBelowLevelWritesNothing(t *testing.T) {
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError}))
	Log(l, slog.LevelInfo, Admin, "users file reloaded")
	Log(nil, slog.LevelError, Admin, "no logger: no panic")
	if buf.Len() != 0 {
		t.Fatalf("wrote %q below the handler's level", buf.String())
	}
}
