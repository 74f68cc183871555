package trywrite

import (
	"bytes"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	if !supported {
		t.Skipf("no try-writes on %s: New returns nil there, and callers write through their writer goroutine", runtime.GOOS)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return client, server
}

func TestWriteSendsEverythingWhenThereIsRoom(t *testing.T) {
	a, b := tcpPair(t)
	w := New(a)
	if w == nil {
		t.Fatal("no try-writer for a TCP connection")
	}
	msg := []byte("hello, broker")
	if n, err := w.Write(msg); n != len(msg) || err != nil {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(msg))
	}
	got := make([]byte, len(msg))
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("peer read %q, %v", got, err)
	}
}

// A peer that does not read fills the socket's buffers: Write then returns
// a partial count at once instead of waiting (a wait would hang the test),
// and the rest can follow in order through an ordinary blocking write.
func TestWritePartialWhenThePeerDoesNotRead(t *testing.T) {
	a, b := tcpPair(t)
	w := New(a)
	big := make([]byte, 64<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	n, err := w.Write(big)
	if err != nil || n <= 0 || n >= len(big) {
		t.Fatalf("Write of %d bytes to a peer that does not read = %d, %v; want a partial count", len(big), n, err)
	}
	// Still full: a second try returns at once too, with at most what the
	// kernel freed meanwhile.
	k, err := w.Write(big[n:])
	if err != nil || k >= len(big)-n {
		t.Fatalf("Write to a full socket = %d, %v; want a partial count", k, err)
	}
	n += k
	done := make(chan error, 1)
	go func() {
		a.SetWriteDeadline(time.Now().Add(time.Minute))
		_, err := a.Write(big[n:])
		done <- err
	}()
	got := make([]byte, len(big))
	b.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := io.ReadFull(b, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, big) {
		t.Fatal("the peer read the bytes out of order or corrupted")
	}
}

// A deadline set for an earlier blocking write and now past leaves the
// bytes to the blocking writer instead of failing the connection.
func TestWriteIgnoresAnExpiredDeadline(t *testing.T) {
	a, b := tcpPair(t)
	w := New(a)
	a.SetWriteDeadline(time.Unix(1, 0))
	if n, err := w.Write([]byte("late")); n != 0 || err != nil {
		t.Fatalf("Write after the deadline = %d, %v; want 0, nil", n, err)
	}
	a.SetWriteDeadline(time.Time{})
	if n, err := w.Write([]byte("ok")); n != 2 || err != nil {
		t.Fatalf("Write without a deadline = %d, %v", n, err)
	}
	got := make([]byte, 2)
	b.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(b, got); err != nil || string(got) != "ok" {
		t.Fatalf("peer read %q, %v; want only the bytes written", got, err)
	}
}

func TestWriteReportsABrokenConnection(t *testing.T) {
	a, _ := tcpPair(t)
	w := New(a)
	a.Close()
	if _, err := w.Write([]byte("x")); err == nil {
		t.Fatal("Write on a closed connection reported no error")
	}
}

func TestNewRefusesConnectionsWithoutADescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if New(a) != nil {
		t.Fatal("New returned a try-writer for net.Pipe, which has no descriptor")
	}
}

func TestWriteDoesNotAllocate(t *testing.T) {
	a, b := tcpPair(t)
	go io.Copy(io.Discard, b)
	w := New(a)
	msg := make([]byte, 512)
	if avg := testing.AllocsPerRun(100, func() {
		if _, err := w.Write(msg); err != nil {
			t.Fatal(err)
		}
	}); avg != 0 {
		t.Fatalf("Write allocates %.1f times per call", avg)
	}
}

// A peer that reset the connection makes a try-write fail with the
// socket's error (ECONNRESET or EPIPE, never a SIGPIPE that kills the
// process), and no try-write waits meanwhile.
func TestWriteReportsAPeerReset(t *testing.T) {
	a, b := tcpPair(t)
	w := New(a)
	if err := b.(*net.TCPConn).SetLinger(0); err != nil {
		t.Fatal(err)
	}
	b.Close() // linger 0: the peer answers with RST instead of FIN
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The first writes may still be taken: the reset is only seen
		// once the peer's RST arrives.
		_, err := w.Write([]byte("after the reset"))
		if err != nil {
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("Write after a reset = %v; want ECONNRESET or EPIPE", err)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("Write kept succeeding on a connection its peer reset")
		}
		time.Sleep(time.Millisecond) // polling interval, not a correctness sleep
	}
}
