package clients

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestDialFailsFastWhenNoBrokerListens(t *testing.T) {
	addr := freeAddr(t)
	start := time.Now()
	_, err := Dial(testCtx(t), addr, Options{Logger: testLogger(t)})
	if err == nil {
		t.Fatal("Dial succeeded with nothing listening")
	}
	for _, want := range []string{"cannot reach broker at " + addr, "ciphermq server"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if time.Since(start) > waitTimeout/2 {
		t.Errorf("Dial took %v: the first connection must fail fast, not retry", time.Since(start))
	}
}

func TestDialHandshakeAndClose(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr)
	if !c.Connected() {
		t.Fatal("not connected after Dial")
	}
	if c.MaxMessageSize() <= 0 {
		t.Fatalf("max message size %d: the broker's HelloOK was not recorded", c.MaxMessageSize())
	}
	eventually(t, "the broker to count the connection", func() bool { return b.stats().Connections == 1 })
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	eventually(t, "the broker to drop the connection", func() bool { return b.stats().Connections == 0 })
	if err := c.DeclareQueue(testCtx(t), "q", QueueOptions{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("request after Close: %v, want ErrClosed", err)
	}
}

func TestDialToSomethingElseExplains(t *testing.T) {
	// A listener that answers with garbage is not a broker.
	addr := garbageServer(t)
	_, err := Dial(testCtx(t), addr, Options{Logger: testLogger(t), DialTimeout: 2 * time.Second})
	if err == nil {
		t.Fatal("Dial succeeded against a non-broker")
	}
	if !strings.Contains(err.Error(), "handshake with broker at "+addr) {
		t.Fatalf("error %q does not name the handshake", err)
	}
}

func TestReconnectsAfterTheConnectionIsCut(t *testing.T) {
	b := startBroker(t)
	p := startProxy(t, b.addr)
	c := dial(t, p.addr())
	p.cut()
	eventually(t, "a reconnect", func() bool { return c.ClientStats().Reconnects >= 1 && c.Connected() })
	if err := c.DeclareQueue(testCtx(t), "after-cut", QueueOptions{}); err != nil {
		t.Fatalf("request after reconnect: %v", err)
	}
}

func TestHeartbeatsAreSentOnAnIdleConnection(t *testing.T) {
	b := startBroker(t, func(cfg *serverConfig) { cfg.Heartbeat = 20 * time.Millisecond })
	p := startProxyTap(t, b.addr, true)
	c := dial(t, p.addr(), func(o *Options) { o.Heartbeat = 20 * time.Millisecond })
	eventually(t, "three heartbeats from the idle client", func() bool { return p.heartbeats() >= 3 })
	// Still usable. (On a machine too loaded to keep 20ms heartbeats the
	// broker may have dropped the connection meanwhile; a request that
	// lost its connection is retried, as the error says.)
	eventually(t, "a request to succeed after the idle period", func() bool {
		_, err := c.Stats(testCtx(t))
		return err == nil
	})
}

func TestSilentBrokerIsDeclaredDeadAndReplaced(t *testing.T) {
	fake := startSilentBroker(t, 20)
	c := dial(t, fake.addr())
	// The fake answers the handshake and then never sends a byte: after 3
	// heartbeat intervals the client must give up on it and dial again.
	eventually(t, "a second connection after the broker went silent", func() bool { return fake.accepted() >= 2 })
	_ = c
}

func TestNegativeOptionsFallBackToDefaults(t *testing.T) {
	b := startBroker(t)
	c := dial(t, b.addr, func(o *Options) {
		o.Heartbeat = -time.Second
		o.MaxFrameSize = -1
		o.DialTimeout = -1
	})
	if _, err := c.Stats(testCtx(t)); err != nil {
		t.Fatalf("a connection dialled with negative options does not work: %v", err)
	}
}
