package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func openNamed(t *testing.T, name string, o TargetOptions) Target {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := Open(ctx, name, o)
	if err != nil {
		t.Fatalf("Open %s: %v", name, err)
	}
	return tg
}

// segmentBytes sums the sizes of the log segments in dir.
func segmentBytes(t *testing.T, dir string) int64 {
	t.Helper()
	segs, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, s := range segs {
		fi, err := os.Stat(s)
		if err != nil {
			t.Fatal(err)
		}
		n += fi.Size()
	}
	return n
}

// The in-process durable target runs the usual workload through a durable
// queue: every message is written to the broker's log (so the segments
// hold at least the bodies), and Close removes the temporary data
// directory.
func TestInprocDurableTargetWritesTheLogAndCleansUp(t *testing.T) {
	tg := openNamed(t, "ciphermq-inproc-durable", TargetOptions{})
	ct := tg.(*cipherTarget)
	if tg.Name() != "ciphermq-inproc-durable" || !ct.durable || ct.dataDir == "" {
		t.Fatalf("target %q durable %v data dir %q", tg.Name(), ct.durable, ct.dataDir)
	}
	const count, size = 500, 512
	res := runOrFail(t, tg, Config{Count: count, Size: size, Publishers: 2, Consumers: 2})
	if !res.OK() || res.Unique != count || res.Confirmed != count {
		t.Fatalf("want %d confirmed and received once each, got %+v error %q", count, res.Tally, res.Error)
	}
	if got := segmentBytes(t, ct.dataDir); got < count*size {
		t.Fatalf("the log holds %d bytes after %d durable messages of %d bytes: the queue was not durable", got, count, size)
	}
	dir := ct.dataDir
	if err := tg.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the temporary data directory %s is still there after Close (%v)", dir, err)
	}
}

// The in-memory in-process target keeps no log at all: the control for the
// test above.
func TestInprocTargetIsNotDurable(t *testing.T) {
	tg := openInproc(t)
	if ct := tg.(*cipherTarget); ct.durable || ct.dataDir != "" {
		t.Fatalf("ciphermq-inproc is durable %v with data dir %q", ct.durable, ct.dataDir)
	}
}

// "ciphermq-durable" given a broker's address declares its queue durable:
// it runs against a broker with a data directory and is refused by one
// without.
func TestProcessDurableTargetWithGivenAddress(t *testing.T) {
	disk := openNamed(t, "ciphermq-inproc-durable", TargetOptions{})
	t.Cleanup(func() { _ = disk.Close() })
	tg := openNamed(t, "ciphermq-durable", TargetOptions{Addr: disk.(*cipherTarget).addr})
	t.Cleanup(func() { _ = tg.Close() })
	if tg.Name() != "ciphermq-durable" {
		t.Fatalf("name %q", tg.Name())
	}
	if res := runOrFail(t, tg, Config{Count: 200}); !res.OK() || res.Unique != 200 {
		t.Fatalf("durable run through a given address: %+v error %q", res.Tally, res.Error)
	}

	mem := openInproc(t)
	tg2 := openNamed(t, "ciphermq-durable", TargetOptions{Addr: mem.(*cipherTarget).addr})
	t.Cleanup(func() { _ = tg2.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := tg2.Setup(ctx, Spec{RunID: "durable-on-memory", ExchangeType: "direct", Protocol: "native", Window: 8, Prefetch: 8, Consumers: 1, MessageSize: 64}); err == nil {
		t.Fatal("a durable queue was declared on a broker without a data directory")
	}
}
