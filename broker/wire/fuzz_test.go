package wire_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/broker/wire/wiretest"
)

// FuzzNativeDecode feeds arbitrary bytes to SplitFrame and the matching
// decoder. It must never panic, every failure must be one of the package's
// errors, and a frame that decodes must re-encode to exactly its bytes (the
// encoding is canonical).
func FuzzNativeDecode(f *testing.F) {
	for _, c := range wiretest.NativeCases() {
		f.Add(c.Raw)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		buf := in
		for len(buf) > 0 {
			typ, payload, n, err := wire.SplitFrame(buf, 1<<16)
			if err != nil {
				if !errors.Is(err, wire.ErrFrameTooLarge) && !errors.Is(err, wire.ErrEmptyFrame) && !errors.Is(err, wire.ErrUnknownFrameType) {
					t.Fatalf("SplitFrame: unexpected error %v", err)
				}
				if n == 0 {
					return
				}
				buf = buf[n:]
				continue
			}
			if n == 0 {
				return
			}
			frame := buf[:n]
			buf = buf[n:]
			got, err := wire.DecodeFrame(typ, payload)
			if err != nil {
				var de *wire.DecodeError
				if !errors.As(err, &de) || de.Frame != typ || de.Field == "" {
					t.Fatalf("decode error is not a DecodeError naming the field: %v", err)
				}
				continue
			}
			if re := got.AppendTo(nil); !bytes.Equal(re, frame) {
				t.Fatalf("re-encoding %v differs:\n in  % x\n out % x", typ, frame, re)
			}
		}
	})
}

// FuzzTextParse feeds arbitrary lines to the text parser: no panic, an
// error is always a *TextError whose reply is one line, and a parsed
// publish's id and body come from the line.
func FuzzTextParse(f *testing.F) {
	for _, c := range wiretest.TextCommandCases() {
		f.Add([]byte(c.Line))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkLineSplitting(t, line)
		c, err := wire.ParseCommand(line)
		if err != nil {
			var te *wire.TextError
			if !errors.As(err, &te) {
				t.Fatalf("not a TextError: %v", err)
			}
			reply := wire.AppendErrorReply(nil, err)
			if bytes.IndexByte(reply, '\n') != len(reply)-1 {
				t.Fatalf("reply is not one line: %q", reply)
			}
			return
		}
		switch c.Verb {
		case wire.TextPublish:
			if !bytes.Contains(line, c.Body) || len(c.MessageID) > wire.MaxMessageIDLen {
				t.Fatalf("publish body/id not from the line: %+v", c)
			}
			checkID(t, c.MessageID)
			agreeWithEncodingJSON(t, c.Body, c.MessageID)
		case wire.TextPublishBatch:
			if len(c.Batch) == 0 {
				t.Fatal("batch parsed without envelopes")
			}
			for _, m := range c.Batch {
				if !bytes.Contains(line, m.Body) || m.Body[0] != '{' {
					t.Fatalf("batch envelope not from the line: %q", m.Body)
				}
				checkID(t, m.MessageID)
				agreeWithEncodingJSON(t, m.Body, m.MessageID)
			}
		case wire.TextUnknown:
			t.Fatal("unknown verb parsed without error")
		}
		// A reply built from parsed fields must stay one line.
		reply := wire.AppendReplyMessage(nil, c.MessageID, c.Body)
		if bytes.IndexByte(reply, '\n') != len(reply)-1 {
			t.Fatalf("message reply is not one line: %q", reply)
		}
	})
}

func checkID(t *testing.T, id []byte) {
	t.Helper()
	for _, b := range id {
		if b <= ' ' || b == 0x7f {
			t.Fatalf("message id with a space or control byte: %q", id)
		}
	}
}

// checkLineSplitting treats the input as a stream of lines with a small
// limit: SplitLine must never return a line with a newline or over the
// limit, and must always make progress or stop.
func checkLineSplitting(t *testing.T, in []byte) {
	t.Helper()
	const max = 64
	for len(in) > 0 {
		line, n, err := wire.SplitLine(in, max)
		if err != nil {
			if !errors.Is(err, wire.ErrLineTooLong) {
				t.Fatalf("SplitLine: %v", err)
			}
			return
		}
		if n == 0 {
			if len(in) >= max+2 {
				t.Fatalf("%d bytes without a decision", len(in))
			}
			return
		}
		if len(line) > max || bytes.IndexByte(line, '\n') >= 0 || n > len(in) {
			t.Fatalf("bad line %q (n=%d)", line, n)
		}
		_, _ = wire.ParseCommand(line)
		in = in[n:]
	}
}

// agreeWithEncodingJSON is a differential check of the hand-written
// top-level walk: encoding/json must read the same message_id from the body.
func agreeWithEncodingJSON(t *testing.T, body, id []byte) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("accepted body that encoding/json refuses: %v", err)
	}
	var want string
	if err := json.Unmarshal(m["message_id"], &want); err != nil {
		t.Fatalf("accepted message_id that is not a JSON string: %v", err)
	}
	if want != string(id) {
		t.Fatalf("message_id %q, encoding/json reads %q", id, want)
	}
}

// FuzzReader is a differential check of the two framers: Reader over a
// stream that arrives in halves must yield exactly the frames SplitFrame
// cuts from the same bytes, and fail where it fails.
func FuzzReader(f *testing.F) {
	for _, c := range wiretest.NativeCases() {
		f.Add(c.Raw)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const max = 1 << 12
		r := wire.NewReader(iotest.HalfReader(bytes.NewReader(in)), max)
		buf := in
		for {
			wantTyp, wantPayload, n, wantErr := wire.SplitFrame(buf, max)
			typ, payload, err := r.ReadFrame()
			switch {
			case n == 0 && wantErr == nil:
				// SplitFrame needs more bytes: the stream ends here.
				if len(buf) == 0 && err != io.EOF {
					t.Fatalf("clean end: Reader says %v", err)
				}
				if len(buf) > 0 && !errors.Is(err, wire.ErrTruncated) {
					t.Fatalf("%d trailing bytes: Reader says %v, want ErrTruncated", len(buf), err)
				}
				return
			case wantErr != nil && n == 0:
				if err == nil || wire.ErrorCode(err) != wire.ErrorCode(wantErr) {
					t.Fatalf("SplitFrame: %v, Reader: %v", wantErr, err)
				}
				return
			}
			if typ != wantTyp || !bytes.Equal(payload, wantPayload) || (err == nil) != (wantErr == nil) {
				t.Fatalf("Reader %v %x %v, SplitFrame %v %x %v", typ, payload, err, wantTyp, wantPayload, wantErr)
			}
			buf = buf[n:]
		}
	})
}
