package server

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/wal"
	"github.com/ciphermq/ciphermq/broker/wire"
)

// confirmAll reads until every seq in 1..n is confirmed (or refused), or
// until a Close 503 after a failed fsync.
func confirmAll(t *testing.T, c *nativeClient, n uint64) (confirmed map[uint64]bool, nacks []*wire.Nack) {
	t.Helper()
	confirmed = map[uint64]bool{}
	for uint64(len(confirmed)+len(nacks)) < n {
		switch f := c.next().(type) {
		case *wire.Confirm:
			for s := f.First; s <= f.Last; s++ {
				confirmed[s] = true
			}
		case *wire.ConfirmDup:
			confirmed[f.Seq] = true
		case *wire.Nack:
			nacks = append(nacks, f)
		case *wire.Close:
			if f.Code != uint16(broker.CodeUnavailable) {
				t.Fatalf("unexpected close %#v", f)
			}
			// A failed fsync: the publishes still waiting for it get no
			// answer at all (their outcome is unknown). The caller's
			// counts decide whether that was expected.
			return confirmed, nacks
		default:
			t.Fatalf("unexpected frame %#v", f)
		}
	}
	return confirmed, nacks
}

func TestDurableQueueSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig()
	cfg.DataDir = dir
	srv, addr := startServer(t, cfg)
	c := dialNative(t, addr, wire.Hello{ClientName: "durable"})
	var batch []byte
	batch = wire.AppendDeclareQueue(batch, &wire.DeclareQueue{ReqID: 1, Name: "orders", Durable: true})
	batch = wire.AppendDeclareQueue(batch, &wire.DeclareQueue{ReqID: 2, Name: "scratch"})
	batch = wire.AppendBind(batch, &wire.Bind{ReqID: 3, Exchange: broker.DefaultExchange, Queue: "orders", Key: "o"})
	batch = wire.AppendBind(batch, &wire.Bind{ReqID: 4, Exchange: broker.DefaultExchange, Queue: "scratch", Key: "s"})
	c.send(batch)
	for id := uint64(1); id <= 4; id++ {
		if f := c.next(); !reflect.DeepEqual(f, &wire.OK{ReqID: id}) {
			t.Fatalf("request %d answered %#v", id, f)
		}
	}
	batch = batch[:0]
	const n = 200
	for seq := uint64(1); seq <= n; seq++ {
		key := "o"
		if seq%2 == 0 {
			key = "s"
		}
		batch = append(batch, publishFrame(seq, broker.DefaultExchange, key, fmt.Sprintf("m%d", seq), []byte("payload"))...)
	}
	c.send(batch)
	if confirmed, nacks := confirmAll(t, c, n); len(confirmed) != n || len(nacks) != 0 {
		t.Fatalf("confirmed %d, nacks %v", len(confirmed), nacks)
	}
	c.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	srv2, _ := startServer(t, cfg)
	if q := queueOf(srv2, "orders"); q.Ready != n/2 {
		t.Fatalf("durable queue after restart: %+v, want %d ready", q, n/2)
	}
	srv2.mu.Lock()
	scratch := srv2.core.QueueExists("scratch")
	srv2.mu.Unlock()
	if scratch {
		t.Fatal("the in-memory queue survived a restart")
	}
}

func TestSecondServerOnSameDataDirIsRefused(t *testing.T) {
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	startServer(t, cfg)
	if _, err := New(cfg, nil); !errors.Is(err, wal.ErrLocked) {
		t.Fatalf("second server: %v, want ErrLocked", err)
	}
}

func TestDurableDeclareWithoutDataDirIsRefused(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dialNative(t, addr, wire.Hello{ClientName: "nodisk"})
	c.send(wire.AppendDeclareQueue(nil, &wire.DeclareQueue{ReqID: 1, Name: "d", Durable: true}))
	f, ok := c.next().(*wire.Error)
	if !ok || f.Code != uint16(broker.CodeUnavailable) {
		t.Fatalf("durable declare without --data-dir answered %#v", f)
	}
}

func TestConfigFileDurableKeys(t *testing.T) {
	cfg, err := ParseConfig([]byte(`{"data_dir": "/var/lib/ciphermq", "fsync": "interval", "fsync_interval": "5ms"}`), DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataDir != "/var/lib/ciphermq" || cfg.Fsync != wal.SyncInterval || cfg.FsyncInterval.Milliseconds() != 5 {
		t.Fatalf("parsed %q %v %v", cfg.DataDir, cfg.Fsync, cfg.FsyncInterval)
	}
	if _, err := ParseConfig([]byte(`{"fsync": "sometimes"}`), DefaultConfig()); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("unknown fsync policy: %v", err)
	}
}

// TestFailingDiskRefusesDurablePublishesOnly: after an fsync error the
// broker closes (503) the connection whose publish waited for it without
// answering that publish, refuses publishes to durable queues (and the
// resend) with code 503 and keeps serving in-memory queues; it does not
// crash.
func TestFailingDiskRefusesDurablePublishesOnly(t *testing.T) {
	disk := wal.NewMemFS()
	cfg := testConfig()
	cfg.DataDir = "memfs"
	cfg.storageFS = disk
	_, addr := startServer(t, cfg)
	c := dialNative(t, addr, wire.Hello{ClientName: "disk"})
	var batch []byte
	batch = wire.AppendDeclareQueue(batch, &wire.DeclareQueue{ReqID: 1, Name: "d", Durable: true})
	batch = wire.AppendBind(batch, &wire.Bind{ReqID: 2, Exchange: broker.DefaultExchange, Queue: "d", Key: "d"})
	batch = wire.AppendDeclareQueue(batch, &wire.DeclareQueue{ReqID: 3, Name: "m"})
	batch = wire.AppendBind(batch, &wire.Bind{ReqID: 4, Exchange: broker.DefaultExchange, Queue: "m", Key: "m"})
	c.send(batch)
	for id := uint64(1); id <= 4; id++ {
		if f := c.next(); !reflect.DeepEqual(f, &wire.OK{ReqID: id}) {
			t.Fatalf("request %d answered %#v", id, f)
		}
	}
	c.send(publishFrame(1, broker.DefaultExchange, "d", "ok-1", []byte("x")))
	if confirmed, nacks := confirmAll(t, c, 1); !confirmed[1] || len(nacks) != 0 {
		t.Fatalf("healthy disk: confirmed %v nacks %v", confirmed, nacks)
	}
	disk.FailNextSyncs(1000, nil)
	c.send(publishFrame(2, broker.DefaultExchange, "d", "lost-disk", []byte("x")))
	// The publish waiting for the failed fsync is enqueued but maybe not
	// on disk: no Confirm, no Nack ("stored nothing" would be false); its
	// connection is closed with 503 so that the publisher resends it.
	f := c.next()
	if cl, ok := f.(*wire.Close); !ok || cl.Code != uint16(broker.CodeUnavailable) ||
		!strings.Contains(cl.Reason, "outcome of your unconfirmed publishes is unknown") {
		t.Fatalf("publish during an fsync error: got %#v, want Close 503", f)
	}
	c = dialNative(t, addr, wire.Hello{ClientName: "disk, again"})
	// The resend is refused (the client reports it indeterminate: sent
	// twice), later durable publishes are refused at once, and an
	// in-memory queue keeps working. (With a data directory the default
	// queue is durable: it is refused too.)
	c.send(append(append(publishFrame(1, broker.DefaultExchange, "d", "lost-disk", []byte("x")),
		publishFrame(2, broker.DefaultExchange, "d", "later", []byte("x"))...),
		publishFrame(3, broker.DefaultExchange, "m", "mem", []byte("x"))...))
	confirmed, nacks := confirmAll(t, c, 3)
	if len(nacks) != 2 || nacks[0].Seq != 1 || nacks[1].Seq != 2 || nacks[0].Code != uint16(broker.CodeUnavailable) ||
		nacks[1].Code != uint16(broker.CodeUnavailable) || !confirmed[3] {
		t.Fatalf("after the failure: confirmed %v nacks %+v", confirmed, nacks)
	}
}

// TestDefaultQueueIsDurableWithADataDir: a broker with a data directory
// declares default_queue durable, confirms publishes to it as on disk, and
// keeps its messages over restarts (declaring the defaults again on a log
// that holds them is no mismatch).
func TestDefaultQueueIsDurableWithADataDir(t *testing.T) {
	cfg := testConfig()
	cfg.DataDir = t.TempDir()
	srv, addr := startServer(t, cfg)
	c := dialNative(t, addr, wire.Hello{ClientName: "defaults", Features: wire.FeatureConfirmDurability})
	const n = 50
	var batch []byte
	for seq := uint64(1); seq <= n; seq++ {
		batch = append(batch, publishFrame(seq, broker.DefaultExchange, broker.DefaultRoutingKey, fmt.Sprintf("m%d", seq), []byte("payload"))...)
	}
	c.send(batch)
	for got := uint64(0); got < n; {
		f, ok := c.next().(*wire.Confirm)
		if !ok || !f.Durable {
			t.Fatalf("after %d confirms: %#v, want a durable Confirm", got, f)
		}
		got += f.Last - f.First + 1
	}
	c.nc.Close()
	for restart := range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
		err := srv.Shutdown(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		srv, _ = startServer(t, cfg)
		if q := queueOf(srv, broker.DefaultQueue); q.Ready != n {
			t.Fatalf("restart %d: default_queue %+v, want %d ready", restart+1, q, n)
		}
	}
}

// TestDefaultQueueStaysInMemoryWithoutADataDir: the library's zero value
// keeps the seed topology in memory, and says so in every confirm.
func TestDefaultQueueStaysInMemoryWithoutADataDir(t *testing.T) {
	_, addr := startServer(t, testConfig())
	c := dialNative(t, addr, wire.Hello{ClientName: "mem", Features: wire.FeatureConfirmDurability})
	c.send(publishFrame(1, broker.DefaultExchange, broker.DefaultRoutingKey, "m1", []byte("payload")))
	if f := c.next(); !reflect.DeepEqual(f, &wire.Confirm{First: 1, Last: 1}) {
		t.Fatalf("got %#v, want an in-memory Confirm", f)
	}
}

// TestConfirmedSurvivePowerLossAcrossRolls: with small segments the log
// rolls many times while a publisher streams (each roll finished by the
// group-commit goroutine outside the server's lock) and compaction removes
// settled segments; a power cut then loses no confirmed message.
func TestConfirmedSurvivePowerLossAcrossRolls(t *testing.T) {
	disk := wal.NewMemFS()
	cfg := testConfig()
	cfg.DataDir = "memfs"
	cfg.storageFS = disk
	cfg.storageSegmentSize = 4 << 10
	srv, addr := startServer(t, cfg)
	c := dialNative(t, addr, wire.Hello{ClientName: "rolls"})
	var batch []byte
	batch = wire.AppendDeclareQueue(batch, &wire.DeclareQueue{ReqID: 1, Name: "d", Durable: true})
	batch = wire.AppendBind(batch, &wire.Bind{ReqID: 2, Exchange: broker.DefaultExchange, Queue: "d", Key: "d"})
	c.send(batch)
	for id := uint64(1); id <= 2; id++ {
		if f := c.next(); !reflect.DeepEqual(f, &wire.OK{ReqID: id}) {
			t.Fatalf("request %d answered %#v", id, f)
		}
	}
	const n, per = 400, 20
	body := make([]byte, 300)
	total := 0
	for first := uint64(1); first <= n; first += per {
		last := first+per > n
		if last {
			// The disk stops syncing: the last batch must not be confirmed
			// (a confirm given before its fsync would be lost below).
			disk.FailNextSyncs(1<<30, nil)
		}
		batch = batch[:0]
		for seq := first; seq < first+per; seq++ {
			batch = append(batch, publishFrame(seq, broker.DefaultExchange, "d", fmt.Sprintf("m%d", seq), body)...)
		}
		c.send(batch)
		confirmed, nacks := confirmAll(t, c, per)
		if !last && (len(confirmed) != per || len(nacks) != 0) {
			t.Fatalf("batch at %d: confirmed %d, nacks %+v", first, len(confirmed), nacks)
		}
		total += len(confirmed)
	}
	names, _ := disk.List()
	segs := 0
	for _, name := range names {
		if len(name) == len("00000000000000000001.seg") && name[20:] == ".seg" {
			segs++
		}
	}
	if segs < 3 {
		t.Fatalf("test setup: the log did not roll (files %v)", names)
	}
	disk.FailNextSyncs(0, nil)
	disk.Crash(0) // power loss: what was not fsync'd (and not in a synced directory) is gone
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	_ = srv.Shutdown(ctx) // its writes fail now; what matters is the disk
	srv2, _ := startServer(t, cfg)
	if q := queueOf(srv2, "d"); q.Ready < total {
		t.Fatalf("after the power cut: %+v, want all %d confirmed messages ready", q, total)
	}
}
