package server

import (
	"context"
	"net"
	"strings"
	"testing"
)

// TestListenErrorsHintAtTheirCause: "is another broker running?" only when
// the address is in use; a malformed or out-of-range port says so.
func TestListenErrorsHintAtTheirCause(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cases := []struct {
		listen, want, notWant string
	}{
		{"127.0.0.1:99999", "port from 0 to 65535", "another broker"},
		{busy.Addr().String(), "is another broker running?", "65535"},
	}
	for _, c := range cases {
		cfg := DefaultConfig()
		cfg.Listen = c.listen
		s, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		err = s.ListenAndServe(context.Background())
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), c.notWant) {
			t.Errorf("--listen %s: %v, want a hint with %q and without %q", c.listen, err, c.want, c.notWant)
		}
	}
}
