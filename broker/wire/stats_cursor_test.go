package wire_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func statsPayload(t *testing.T, f *wire.Stats) []byte {
	t.Helper()
	frame := wire.AppendStats(nil, f)
	typ, payload, n, err := wire.SplitFrame(frame, 1<<16)
	if err != nil || typ != wire.FrameStats || n != len(frame) {
		t.Fatalf("split back: %v %v %d/%d", typ, err, n, len(frame))
	}
	return append([]byte(nil), payload...)
}

// A Stats request without a cursor is the frame clients sent before
// cursors existed: req_id and nothing else.
func TestStatsWithoutCursorUnchanged(t *testing.T) {
	frame := wire.AppendStats(nil, &wire.Stats{ReqID: 300})
	want := []byte{0, 0, 0, 3, byte(wire.FrameStats), 0xac, 0x02}
	if !bytes.Equal(frame, want) {
		t.Fatalf("Stats{300} = %x, want %x", frame, want)
	}
}

func TestStatsCursorEncoding(t *testing.T) {
	plain := statsPayload(t, &wire.Stats{ReqID: 7})
	for _, c := range []struct {
		f    wire.Stats
		tail []byte
	}{
		{wire.Stats{ReqID: 7, List: wire.StatsQueues, After: "q1"}, []byte{0x01, 2, 'q', '1'}},
		{wire.Stats{ReqID: 7, List: wire.StatsExchanges, After: "x"}, []byte{0x02, 1, 'x'}},
		{wire.Stats{ReqID: 7, List: wire.StatsQueues, Resume: 300}, []byte{0x05, 0xac, 0x02}},
		{wire.Stats{ReqID: 7, List: wire.StatsExchanges, Resume: 1}, []byte{0x06, 0x01}},
	} {
		p := statsPayload(t, &c.f)
		if !bytes.Equal(p, append(append([]byte(nil), plain...), c.tail...)) {
			t.Errorf("%+v: payload %x, want %x + %x", c.f, p, plain, c.tail)
		}
		var got wire.Stats
		if err := wire.DecodeStats(p, &got); err != nil || got != c.f {
			t.Errorf("decode %x: %+v %v, want %+v", p, got, err, c.f)
		}
	}
}

// Each request has one encoding: an empty name, a zero token, no list or
// both lists, unknown flag bits and trailing bytes are all refused.
func TestStatsCursorRefused(t *testing.T) {
	plain := statsPayload(t, &wire.Stats{ReqID: 7})
	long := strings.Repeat("n", wire.MaxNameLen+1)
	for _, c := range []struct {
		name  string
		tail  []byte
		want  error
		field string
	}{
		{"empty after", []byte{0x01, 0}, wire.ErrBadValue, "after"},
		{"zero token", []byte{0x05, 0}, wire.ErrBadValue, "resume"},
		{"no list", []byte{0x00}, wire.ErrBadValue, "flags"},
		{"no list with token", []byte{0x04, 1}, wire.ErrBadValue, "flags"},
		{"both lists", []byte{0x03, 1, 'q'}, wire.ErrBadValue, "flags"},
		{"unknown bit", []byte{0x09, 1, 'q'}, wire.ErrBadValue, "flags"},
		{"truncated name", []byte{0x01, 5, 'q'}, wire.ErrFieldTruncated, "after"},
		{"missing token", []byte{0x05}, wire.ErrFieldTruncated, "resume"},
		{"trailing", []byte{0x01, 1, 'q', 0}, wire.ErrTrailingBytes, "end"},
		{"name too long", append([]byte{0x01, 0x80, 0x02}, long...), wire.ErrTooLong, "after"},
	} {
		p := append(append([]byte(nil), plain...), c.tail...)
		var got wire.Stats
		err := wire.DecodeStats(p, &got)
		var de *wire.DecodeError
		if !errors.Is(err, c.want) || !errors.As(err, &de) || de.Field != c.field {
			t.Errorf("%s (%x): %v, want %v in field %s", c.name, p, err, c.want, c.field)
		}
	}
}

func TestParseStatsCursor(t *testing.T) {
	for _, c := range []struct {
		line   string
		list   uint8
		after  string
		resume uint64
	}{
		{"stats", 0, "", 0},
		{"  stats  ", 0, "", 0},
		{"stats queues after q.1", wire.StatsQueues, "q.1", 0},
		{"stats exchanges after after", wire.StatsExchanges, "after", 0},
		{"stats queues resume 12", wire.StatsQueues, "", 12},
		{"stats\texchanges\tresume\t18446744073709551615", wire.StatsExchanges, "", 18446744073709551615},
	} {
		cmd, err := wire.ParseCommand([]byte(c.line))
		if err != nil || cmd.Verb != wire.TextStats || cmd.StatsList != c.list || string(cmd.StatsAfter) != c.after || cmd.StatsResume != c.resume {
			t.Errorf("%q: %+v %v", c.line, cmd, err)
		}
	}
	for _, line := range []string{
		"stats queues",
		"stats queues after",
		"stats queues after a b",
		"stats bindings after a",
		"stats queues before a",
		"stats queues resume 0",
		"stats queues resume 007",
		"stats queues resume -1",
		"stats queues resume x",
		"stats queues resume 18446744073709551616",
		"stats queues after " + strings.Repeat("n", wire.MaxNameLen+1),
	} {
		_, err := wire.ParseCommand([]byte(line))
		if !errors.Is(err, wire.ErrInvalidArgument) {
			t.Errorf("%q: %v, want ErrInvalidArgument", truncate(line, 60), err)
			continue
		}
		reply := string(wire.AppendErrorReply(nil, err))
		if !strings.HasPrefix(reply, "Error: ") || !strings.HasSuffix(reply, "\n") || strings.Count(reply, "\n") != 1 {
			t.Errorf("%q: reply %q", truncate(line, 60), reply)
		}
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
