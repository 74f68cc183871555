package wire

import (
	"bytes"
	"io"
	"testing"
)

// oneShot hands out its bytes once, then reports that it would block
// (a test failure if anyone asks).
type oneShot struct {
	t    *testing.T
	data []byte
	done bool
}

func (o *oneShot) Read(p []byte) (int, error) {
	if o.done {
		o.t.Fatal("the reader read from the stream although a frame was reported buffered")
		return 0, io.EOF
	}
	o.done = true
	return copy(p, o.data), nil
}

func TestFrameBufferedOnlyForCompleteFrames(t *testing.T) {
	two := AppendHeartbeat(AppendConfirm(nil, &Confirm{First: 1, Last: 5}))
	partial := AppendConfirm(nil, &Confirm{First: 6, Last: 9})
	stream := append(append([]byte(nil), two...), partial[:3]...)
	r := NewReader(&oneShot{t: t, data: stream}, 0)
	if r.FrameBuffered() {
		t.Fatal("FrameBuffered before anything was read")
	}
	if typ, _, err := r.ReadFrame(); err != nil || typ != FrameConfirm {
		t.Fatalf("first frame: %v %v", typ, err)
	}
	if !r.FrameBuffered() {
		t.Fatal("the heartbeat is buffered whole but FrameBuffered says no")
	}
	if typ, _, err := r.ReadFrame(); err != nil || typ != FrameHeartbeat {
		t.Fatalf("second frame: %v %v", typ, err)
	}
	if r.FrameBuffered() {
		t.Fatal("3 bytes of a frame reported as a buffered frame")
	}
}

func TestFrameBufferedReportsAnInvalidLengthAtOnce(t *testing.T) {
	bad := []byte{0xff, 0xff, 0xff, 0xff, 1}
	r := NewReader(bytes.NewReader(append(AppendHeartbeat(nil), bad...)), 1024)
	if _, _, err := r.ReadFrame(); err != nil {
		t.Fatal(err)
	}
	if !r.FrameBuffered() {
		t.Fatal("an oversized length should be reported buffered, so ReadFrame returns its error without blocking")
	}
	if _, _, err := r.ReadFrame(); err == nil {
		t.Fatal("oversized frame accepted")
	}
	if r.FrameBuffered() {
		t.Fatal("FrameBuffered after the stream broke")
	}
}
