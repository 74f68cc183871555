package wire_test

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func publishFrame(body int) []byte {
	return wire.AppendPublish(nil, &wire.Publish{Seq: 1, Exchange: []byte("x"), RoutingKey: []byte("k"),
		MessageID: []byte("m"), Body: bytes.Repeat([]byte{'b'}, body)})
}

func TestReaderFrameLargerThanItsBuffer(t *testing.T) {
	big := publishFrame(200 << 10) // beyond the 64 KiB bufio buffer
	small := wire.AppendHeartbeat(nil)
	stream := append(append(append([]byte(nil), big...), small...), big...)
	r := wire.NewReader(iotest.HalfReader(bytes.NewReader(stream)), 1<<20)
	for i, want := range [][]byte{big, small, big} {
		typ, payload, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if typ != wire.FrameType(want[4]) || !bytes.Equal(payload, want[5:]) {
			t.Fatalf("frame %d: type %v, %d payload bytes", i, typ, len(payload))
		}
	}
	if _, _, err := r.ReadFrame(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

// flakyReader fails once after every chunk, like a read deadline expiring in
// the middle of a frame.
type flakyReader struct {
	data  []byte
	chunk int
	fail  bool
}

var errDeadline = errors.New("i/o timeout")

func (f *flakyReader) Read(p []byte) (int, error) {
	if f.fail {
		f.fail = false
		return 0, errDeadline
	}
	if len(f.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), f.chunk, len(f.data))
	copy(p, f.data[:n])
	f.data = f.data[n:]
	f.fail = true
	return n, nil
}

func TestReaderResumesAfterAReadError(t *testing.T) {
	for _, size := range []int{100, 100 << 10} {
		frames := [][]byte{publishFrame(size), wire.AppendHeartbeat(nil), publishFrame(size)}
		src := &flakyReader{data: bytes.Join(frames, nil), chunk: 777}
		r := wire.NewReader(src, 1<<20)
		for i := 0; i < len(frames); {
			typ, payload, err := r.ReadFrame()
			if errors.Is(err, errDeadline) {
				continue
			}
			if err != nil {
				t.Fatalf("size %d frame %d: %v", size, i, err)
			}
			if typ != wire.FrameType(frames[i][4]) || !bytes.Equal(payload, frames[i][5:]) {
				t.Fatalf("size %d frame %d: wrong frame after retries", size, i)
			}
			i++
		}
	}
}

func TestReaderTruncatedFrame(t *testing.T) {
	for _, size := range []int{10, 100 << 10} {
		raw := publishFrame(size)
		for _, cut := range []int{1, 3, 4, 5, len(raw) - 1} {
			r := wire.NewReader(bytes.NewReader(raw[:cut]), 1<<20)
			_, _, err := r.ReadFrame()
			if !errors.Is(err, wire.ErrTruncated) || !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("size %d cut %d: %v, want ErrTruncated", size, cut, err)
			}
			if _, _, err2 := r.ReadFrame(); !errors.Is(err2, wire.ErrTruncated) {
				t.Fatalf("truncation must stick, got %v", err2)
			}
		}
	}
}

func TestReaderOversizeSticksAndReportsSize(t *testing.T) {
	raw := publishFrame(5000)
	r := wire.NewReader(bytes.NewReader(append(raw, wire.AppendHeartbeat(nil)...)), 4096)
	_, _, err := r.ReadFrame()
	var tl *wire.FrameTooLargeError
	if !errors.As(err, &tl) || tl.Size != uint64(len(raw)) || tl.Max != 4096 {
		t.Fatalf("err = %v, want FrameTooLargeError{Size: %d, Max: 4096}", err, len(raw))
	}
	if _, _, err := r.ReadFrame(); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("second call: %v, want the sticky ErrFrameTooLarge", err)
	}
}

func TestReaderFrameExactlyAtTheLimit(t *testing.T) {
	raw := publishFrame(4000)
	r := wire.NewReader(bytes.NewReader(raw), len(raw))
	if _, _, err := r.ReadFrame(); err != nil {
		t.Fatalf("frame of exactly the limit: %v", err)
	}
	r = wire.NewReader(bytes.NewReader(raw), len(raw)-1)
	if _, _, err := r.ReadFrame(); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("frame one byte over: %v", err)
	}
	if _, _, _, err := wire.SplitFrame(raw, len(raw)-1); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("SplitFrame one byte over: %v", err)
	}
}

func TestReaderUnknownTypeKeepsTheStreamInSync(t *testing.T) {
	unknown := []byte{0, 0, 0, 3, 0x7F, 1, 2}
	stream := append(append([]byte(nil), unknown...), wire.AppendHeartbeat(nil)...)
	r := wire.NewReader(bytes.NewReader(stream), 0)
	typ, payload, err := r.ReadFrame()
	if !errors.Is(err, wire.ErrUnknownFrameType) || typ != 0x7F || !bytes.Equal(payload, []byte{1, 2}) {
		t.Fatalf("got %v % x %v", typ, payload, err)
	}
	if typ, _, err := r.ReadFrame(); err != nil || typ != wire.FrameHeartbeat {
		t.Fatalf("next frame: %v %v", typ, err)
	}
}

func TestReaderSetMaxFrameSizeAndBuffered(t *testing.T) {
	stream := bytes.Join([][]byte{wire.AppendHeartbeat(nil), publishFrame(5000)}, nil)
	r := wire.NewReader(bytes.NewReader(stream), 0)
	if _, _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if r.Buffered() == 0 {
		t.Fatal("the second frame should already be buffered")
	}
	r.SetMaxFrameSize(4096)
	if r.MaxFrameSize() != 4096 {
		t.Fatalf("MaxFrameSize = %d", r.MaxFrameSize())
	}
	if _, _, err := r.ReadFrame(); !errors.Is(err, wire.ErrFrameTooLarge) {
		t.Fatalf("after lowering the limit: %v", err)
	}
}

func TestReaderOtherErrorsPassThrough(t *testing.T) {
	boom := errors.New("connection reset")
	r := wire.NewReader(iotest.ErrReader(boom), 0)
	if _, _, err := r.ReadFrame(); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}

func TestReasonsAreCutAtARuneBoundary(t *testing.T) {
	reason := string(bytes.Repeat([]byte("é"), 700)) // 1400 bytes, 2 per rune
	for _, f := range []wire.Frame{
		&wire.Close{Code: 1, Reason: reason},
		&wire.Error{ReqID: 1, Code: 1, Message: reason},
		&wire.Nack{Seq: 1, Code: 1, Reason: reason},
		&wire.AckRefused{DeliveryTag: 1, Code: 1, Reason: reason},
		&wire.Cancelled{ConsumerTag: "c", Reason: reason},
	} {
		raw := f.AppendTo(nil)
		got, err := decodeRaw(raw)
		if err != nil {
			t.Fatalf("%v: %v", f.FrameType(), err)
		}
		var text string
		switch g := got.(type) {
		case *wire.Close:
			text = g.Reason
		case *wire.Error:
			text = g.Message
		case *wire.Nack:
			text = g.Reason
		case *wire.AckRefused:
			text = g.Reason
		case *wire.Cancelled:
			text = g.Reason
		}
		if len(text) != wire.MaxReasonLen || text != reason[:wire.MaxReasonLen] {
			t.Fatalf("%v: reason of %d bytes, want the first %d", f.FrameType(), len(text), wire.MaxReasonLen)
		}
	}
	odd := "a" + reason // the cut now falls inside a rune
	got, err := decodeRaw(wire.AppendClose(nil, &wire.Close{Reason: odd}))
	if err != nil {
		t.Fatal(err)
	}
	if r := got.(*wire.Close).Reason; len(r) != wire.MaxReasonLen-1 || r != odd[:len(r)] {
		t.Fatalf("cut inside a rune: %d bytes", len(r))
	}
}

// A message of the broker's default maximum size (1 MiB) must fit in a
// frame of the default limit, whatever the other fields hold.
func TestDefaultFrameLimitHoldsAMaximalMessage(t *testing.T) {
	long := bytes.Repeat([]byte{'n'}, wire.MaxNameLen)
	d := wire.Deliver{ConsumerTag: long, DeliveryTag: 1<<64 - 1, Flags: wire.FlagRedelivered, DeliveryCount: 1<<64 - 1,
		Queue: long, Exchange: long, RoutingKey: long, MessageID: bytes.Repeat([]byte{'m'}, wire.MaxMessageIDLen),
		Body: make([]byte, 1<<20)}
	raw := wire.AppendFetchOK(nil, &wire.FetchOK{ReqID: 1<<64 - 1, Deliver: d})
	if _, _, n, err := wire.SplitFrame(raw, 0); err != nil || n != len(raw) {
		t.Fatalf("a %d-byte frame with a 1 MiB body does not fit the default limit: %v", len(raw), err)
	}
}
