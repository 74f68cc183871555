package wire_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func readAllLines(t *testing.T, lr *wire.LineReader) ([]string, error) {
	t.Helper()
	var out []string
	for {
		l, err := lr.ReadLine()
		if err != nil {
			return out, err
		}
		out = append(out, string(l))
	}
}

func TestLineReaderFraming(t *testing.T) {
	in := "declare_queue q\r\nconsume q\n\nack m1\nstats"
	for name, r := range map[string]io.Reader{
		"whole":    strings.NewReader(in),
		"one byte": iotest.OneByteReader(strings.NewReader(in)),
	} {
		lines, err := readAllLines(t, wire.NewLineReader(r, 0))
		want := []string{"declare_queue q", "consume q", "", "ack m1", "stats"}
		if err != io.EOF || strings.Join(lines, "|") != strings.Join(want, "|") {
			t.Errorf("%s: %q, %v; want %q, EOF", name, lines, err, want)
		}
	}
}

func TestLineReaderLimit(t *testing.T) {
	const max = 32
	exact := strings.Repeat("a", max)
	lr := wire.NewLineReader(strings.NewReader(exact+"\n"+exact+"\r\n"), max)
	lines, err := readAllLines(t, lr)
	if err != io.EOF || len(lines) != 2 || lines[0] != exact || lines[1] != exact {
		t.Fatalf("lines at the limit: %q %v", lines, err)
	}

	for _, over := range []string{exact + "a\n", exact + "aa\n", exact + "a\r\n", strings.Repeat("b", 1000) + "\nstats\n"} {
		lr := wire.NewLineReader(strings.NewReader(over), max)
		_, err := lr.ReadLine()
		var lt *wire.LineTooLongError
		if !errors.As(err, &lt) || lt.Max != max || !errors.Is(err, wire.ErrLineTooLong) {
			t.Fatalf("%d-byte line: %v", len(over), err)
		}
		if _, err := lr.ReadLine(); !errors.Is(err, wire.ErrLineTooLong) {
			t.Fatalf("the error must stick (the connection closes): %v", err)
		}
	}
}

func TestLineReaderDefaultLimitIs64KiB(t *testing.T) {
	ok := strings.Repeat("x", wire.DefaultMaxLineSize)
	lr := wire.NewLineReader(strings.NewReader(ok+"\n"+ok+"x\n"), 0)
	if l, err := lr.ReadLine(); err != nil || len(l) != wire.DefaultMaxLineSize {
		t.Fatalf("64 KiB line: %d %v", len(l), err)
	}
	if _, err := lr.ReadLine(); !errors.Is(err, wire.ErrLineTooLong) {
		t.Fatalf("64 KiB + 1: %v", err)
	}
}

func TestLineReaderSharesABufioReader(t *testing.T) {
	br := bufio.NewReaderSize(strings.NewReader("consume q\nack m\n"), 128<<10)
	if p, _ := br.Peek(1); wire.Sniff(p) != wire.ProtocolText {
		t.Fatal("sniff")
	}
	lines, err := readAllLines(t, wire.NewLineReader(br, 0))
	if err != io.EOF || len(lines) != 2 || lines[0] != "consume q" {
		t.Fatalf("%q %v", lines, err)
	}
}

func TestLineReaderResumesAfterAReadError(t *testing.T) {
	in := "ack m1\npublish x k {\"message_id\":\"m2\"}\r\nstats\n"
	src := &flakyReader{data: []byte(in), chunk: 5}
	lr := wire.NewLineReader(src, 0)
	var got []string
	for {
		l, err := lr.ReadLine()
		if errors.Is(err, errDeadline) {
			continue // a read deadline: nothing read so far is lost
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(l))
	}
	want := []string{"ack m1", `publish x k {"message_id":"m2"}`, "stats"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestLineReaderGrowsOnlyForLongLines(t *testing.T) {
	long := strings.Repeat("y", 100_000)
	lr := wire.NewLineReader(iotest.HalfReader(strings.NewReader("a\n"+long+"\nb\n")), 200_000)
	lines, err := readAllLines(t, lr)
	if err != io.EOF || len(lines) != 3 || lines[1] != long || lines[2] != "b" {
		t.Fatalf("%d lines, %v", len(lines), err)
	}
}

type emptyReader struct{}

func (emptyReader) Read([]byte) (int, error) { return 0, nil }

func TestLineReaderGivesUpOnAReaderWithoutProgress(t *testing.T) {
	if _, err := wire.NewLineReader(emptyReader{}, 0).ReadLine(); !errors.Is(err, io.ErrNoProgress) {
		t.Fatalf("err = %v", err)
	}
}

func TestSplitLine(t *testing.T) {
	const max = 8
	cases := []struct {
		in   string
		line string
		n    int
		long bool
	}{
		{"", "", 0, false},
		{"abc", "", 0, false},
		{"abc\nrest", "abc", 4, false},
		{"abc\r\n", "abc", 5, false},
		{"\n", "", 1, false},
		{"12345678\r\n", "12345678", 10, false}, // exactly max, CRLF
		{"12345678\r", "", 0, false},            // may still be a valid line
		{"123456789", "", 0, false},             // SplitLine decides at max+2 bytes at the latest
		{"123456789\n", "", 0, true},
		{"1234567890", "", 0, true}, // max+2 bytes without a newline: certain
		{"12345678\r\r\n", "", 0, true},
	}
	for _, c := range cases {
		line, n, err := wire.SplitLine([]byte(c.in), max)
		if c.long {
			if !errors.Is(err, wire.ErrLineTooLong) {
				t.Errorf("%q: err = %v, want too long", c.in, err)
			}
			continue
		}
		if err != nil || n != c.n || string(line) != c.line {
			t.Errorf("%q: %q %d %v, want %q %d", c.in, line, n, err, c.line, c.n)
		}
	}
}
