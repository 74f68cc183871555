package wire_test

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"testing/iotest"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/broker/wire/wiretest"
)

// decodeRaw runs a raw frame through SplitFrame and DecodeFrame, the path of
// the simulator.
func decodeRaw(raw []byte) (wire.Frame, error) {
	typ, payload, n, err := wire.SplitFrame(raw, 0)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, io.ErrUnexpectedEOF
	}
	if n != len(raw) {
		return nil, errors.New("SplitFrame consumed a different length")
	}
	return wire.DecodeFrame(typ, payload)
}

func TestNativeGoldenDecode(t *testing.T) {
	for _, c := range wiretest.NativeCases() {
		t.Run(c.Name, func(t *testing.T) {
			got, err := decodeRaw(c.Raw)
			if c.Err != nil {
				if !errors.Is(err, c.Err) {
					t.Fatalf("error = %v, want %v", err, c.Err)
				}
				var de *wire.DecodeError
				if c.Field != "" {
					if !errors.As(err, &de) || de.Field != c.Field {
						t.Fatalf("error = %v, want a DecodeError on field %q", err, c.Field)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, c.Frame) {
				t.Fatalf("decoded\n %#v\nwant\n %#v", got, c.Frame)
			}
		})
	}
}

func TestNativeGoldenEncode(t *testing.T) {
	for _, c := range wiretest.NativeCases() {
		if !c.Valid() {
			continue
		}
		t.Run(c.Name, func(t *testing.T) {
			if got := c.Frame.AppendTo(nil); !bytes.Equal(got, c.Raw) {
				t.Fatalf("encoded % x\nwant    % x", got, c.Raw)
			}
			if got := wire.NewFrame(c.Frame.FrameType()).FrameType(); got != c.Frame.FrameType() {
				t.Fatalf("NewFrame(%v) has type %v", c.Frame.FrameType(), got)
			}
			// Appending after existing bytes must leave them alone: that is
			// how callers batch frames into one write.
			prefix := []byte("prefix")
			got := c.Frame.AppendTo(append([]byte(nil), prefix...))
			if !bytes.Equal(got[:len(prefix)], prefix) || !bytes.Equal(got[len(prefix):], c.Raw) {
				t.Fatalf("append after a prefix gave % x", got)
			}
		})
	}
}

func TestEveryFrameTypeHasAGoldenCase(t *testing.T) {
	seen := map[wire.FrameType]bool{}
	for _, c := range wiretest.NativeCases() {
		if c.Valid() {
			seen[c.Frame.FrameType()] = true
		}
	}
	for _, typ := range wire.FrameTypes() {
		if !seen[typ] {
			t.Errorf("frame type %v has no valid golden case", typ)
		}
		if !typ.Known() || wire.NewFrame(typ) == nil {
			t.Errorf("frame type %v: Known=%v NewFrame=%v", typ, typ.Known(), wire.NewFrame(typ))
		}
	}
	if wire.FrameType(0x7F).Known() || wire.NewFrame(0x7F) != nil {
		t.Error("0x7F must be unknown")
	}
}

func TestReaderGolden(t *testing.T) {
	for _, c := range wiretest.NativeCases() {
		t.Run(c.Name, func(t *testing.T) {
			r := wire.NewReader(iotest.OneByteReader(bytes.NewReader(c.Raw)), 0)
			typ, payload, err := r.ReadFrame()
			if err == nil {
				_, err = wire.DecodeFrame(typ, payload)
			}
			if c.Err != nil {
				if !errors.Is(err, c.Err) {
					t.Fatalf("error = %v, want %v", err, c.Err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ReadFrame/Decode: %v", err)
			}
			if _, _, err := r.ReadFrame(); err != io.EOF {
				t.Fatalf("after the only frame: %v, want io.EOF", err)
			}
		})
	}
}

func TestStreamOfAllValidFrames(t *testing.T) {
	var stream []byte
	var want []wire.Frame
	for _, c := range wiretest.NativeCases() {
		if c.Valid() {
			stream = append(stream, c.Raw...)
			want = append(want, c.Frame)
		}
	}
	readers := map[string]io.Reader{
		"whole":    bytes.NewReader(stream),
		"one byte": iotest.OneByteReader(bytes.NewReader(stream)),
		"half":     iotest.HalfReader(bytes.NewReader(stream)),
	}
	for name, src := range readers {
		t.Run(name, func(t *testing.T) {
			r := wire.NewReader(src, 0)
			for i, w := range want {
				typ, payload, err := r.ReadFrame()
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				got, err := wire.DecodeFrame(typ, payload)
				if err != nil || !reflect.DeepEqual(got, w) {
					t.Fatalf("frame %d: %#v, %v; want %#v", i, got, err, w)
				}
			}
			if _, _, err := r.ReadFrame(); err != io.EOF {
				t.Fatalf("end of stream: %v, want io.EOF", err)
			}
		})
	}
	t.Run("SplitFrame", func(t *testing.T) {
		buf := stream
		for i, w := range want {
			typ, payload, n, err := wire.SplitFrame(buf, 0)
			if err != nil || n == 0 {
				t.Fatalf("frame %d: n=%d err=%v", i, n, err)
			}
			got, err := wire.DecodeFrame(typ, payload)
			if err != nil || !reflect.DeepEqual(got, w) {
				t.Fatalf("frame %d: %#v, %v", i, got, err)
			}
			buf = buf[n:]
		}
		if len(buf) != 0 {
			t.Fatalf("%d bytes left", len(buf))
		}
	})
}

func TestSplitFrameIncompleteNeedsMore(t *testing.T) {
	for _, c := range wiretest.NativeCases() {
		if !c.Valid() {
			continue
		}
		for cut := 0; cut < len(c.Raw); cut++ {
			typ, payload, n, err := wire.SplitFrame(c.Raw[:cut], 0)
			if n != 0 || err != nil || payload != nil || typ != 0 {
				t.Fatalf("%s cut at %d: typ=%v n=%d err=%v, want an incomplete result", c.Name, cut, typ, n, err)
			}
		}
	}
}

func TestDecodeErrorSaysFrameAndField(t *testing.T) {
	_, err := decodeRaw([]byte{0, 0, 0, 3, 0x34, 0x01, 0x02})
	var de *wire.DecodeError
	if !errors.As(err, &de) || de.Frame != wire.FrameAck || de.Field != "flags" {
		t.Fatalf("err = %#v", err)
	}
	msg := err.Error()
	for _, want := range []string{"Ack", "flags", "unknown flag bits"} {
		if !bytes.Contains([]byte(msg), []byte(want)) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
}

func TestDecodeIntoRefusesTheWrongStruct(t *testing.T) {
	raw := wire.AppendAck(nil, &wire.Ack{DeliveryTag: 1})
	if err := wire.DecodeInto(wire.FrameAck, raw[5:], new(wire.Reject)); err == nil {
		t.Fatal("decoding an Ack into a Reject struct succeeded")
	}
	if _, err := wire.DecodeFrame(0x7F, nil); !errors.Is(err, wire.ErrUnknownFrameType) {
		t.Fatalf("DecodeFrame(0x7F) = %v", err)
	}
}

func TestErrorCode(t *testing.T) {
	cases := []struct {
		err  error
		want uint16
	}{
		{&wire.FrameTooLargeError{Size: 10, Max: 5}, wire.CodeTooLarge},
		{&wire.LineTooLongError{Max: 5}, wire.CodeTooLarge},
		{&wire.UnknownFrameTypeError{Type: 0x7F}, wire.CodeUnknownCommand},
		{&wire.TextError{Err: wire.ErrUnknownCommand}, wire.CodeUnknownCommand},
		{&wire.DecodeError{Frame: wire.FramePublish, Field: "seq", Err: wire.ErrVarintOverflow}, wire.CodeMalformed},
		{wire.ErrTruncated, wire.CodeMalformed},
	}
	for _, c := range cases {
		if got := wire.ErrorCode(c.err); got != c.want {
			t.Errorf("ErrorCode(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}

func TestFrameTypeString(t *testing.T) {
	if got := wire.FramePublish.String(); got != "Publish" {
		t.Errorf("FramePublish.String() = %q", got)
	}
	if got := wire.FrameType(0x7F).String(); got != "FrameType(0x7f)" {
		t.Errorf("unknown String() = %q", got)
	}
}
