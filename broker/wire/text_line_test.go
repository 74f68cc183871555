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

func TestLineReaderReadErrorMidLineSticks(t *testing.T) {
	boom := errors.New("reset")
	r := io.MultiReader(strings.NewReader("ack m1\nack m"), iotest.ErrReader(boom))
	lr := wire.NewLineReader(r, 0)
	if l, err := lr.ReadLine(); err != nil || string(l) != "ack m1" {
		t.Fatalf("first line: %q %v", l, err)
	}
	if _, err := lr.ReadLine(); !errors.Is(err, boom) {
		t.Fatalf("mid-line error: %v", err)
	}
	if _, err := lr.ReadLine(); !errors.Is(err, boom) {
		t.Fatalf("must stick: %v", err)
	}
}
