package sender

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
)

func drain(t *testing.T, src Source) []string {
	t.Helper()
	var out []string
	for {
		b, ok, err := src()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, string(b))
	}
}

func TestMessagesYieldsEachInOrder(t *testing.T) {
	got := drain(t, Messages([]string{"a", "", "c"}))
	if strings.Join(got, "|") != "a||c" {
		t.Fatalf("got %q", got)
	}
	if got := drain(t, Messages(nil)); len(got) != 0 {
		t.Fatalf("no messages yielded %q", got)
	}
}

func TestLinesSplitsOnLFAndCRLF(t *testing.T) {
	got := drain(t, Lines(strings.NewReader("one\r\n\ntwo\nlast")))
	if strings.Join(got, "|") != "one||two|last" {
		t.Fatalf("got %q", got)
	}
}

func TestLinesReportsReadErrors(t *testing.T) {
	src := Lines(iotest.ErrReader(errors.New("disk on fire")))
	if _, _, err := src(); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v, want the reader's error", err)
	}
}

func TestGeneratedCountSizeAndLabels(t *testing.T) {
	got := drain(t, Generated(GenerateOptions{Count: 3, Size: 14}))
	want := []string{"message 1 .....", "message 2 .....", "message 3 ....."}
	for i := range want {
		want[i] = want[i][:14]
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("got %q, want %q", got, want)
	}
	got = drain(t, Generated(GenerateOptions{Count: 2, Size: 4, First: 99}))
	if strings.Join(got, "|") != "mess|mess" {
		t.Fatalf("a size below the label must cut it: %q", got)
	}
	got = drain(t, Generated(GenerateOptions{Count: 1, Size: 12, First: 41}))
	if got[0] != "message 41 ." {
		t.Fatalf("First must number the messages: %q", got)
	}
}

func TestGeneratedSeedIsReproduciblePerIndex(t *testing.T) {
	s1, s2 := uint64(7), uint64(8)
	a := drain(t, Generated(GenerateOptions{Count: 5, Size: 64, Seed: &s1}))
	b := drain(t, Generated(GenerateOptions{Count: 5, Size: 64, Seed: &s1}))
	c := drain(t, Generated(GenerateOptions{Count: 5, Size: 64, Seed: &s2}))
	// A run restarted at index 4 makes the same messages 4 and 5.
	d := drain(t, Generated(GenerateOptions{Count: 2, Size: 64, Seed: &s1, First: 4}))
	for i := range a {
		if len(a[i]) != 64 {
			t.Fatalf("message %d has %d bytes", i+1, len(a[i]))
		}
		if a[i] != b[i] {
			t.Fatalf("same seed, message %d differs: %q vs %q", i+1, a[i], b[i])
		}
		if a[i] == c[i] {
			t.Fatalf("seeds 7 and 8 made the same message %d: %q", i+1, a[i])
		}
		if strings.Contains(a[i], "..") {
			t.Fatalf("seeded message %d is dot filler: %q", i+1, a[i])
		}
	}
	if d[0] != a[3] || d[1] != a[4] {
		t.Fatalf("restart at 4 gives %q, want %q", d, a[3:])
	}
	if a[0][len("message 1 "):] == a[1][len("message 2 "):] {
		t.Fatalf("messages 1 and 2 have the same filler: %q %q", a[0], a[1])
	}
	if got := GenerateMessage([]byte("keep"), 3, 12, nil); !bytes.Equal(got, []byte("keepmessage 3 ..")) {
		t.Fatalf("GenerateMessage must append to dst: %q", got)
	}
}

func TestGeneratedReusesItsBufferSafelyForSealing(t *testing.T) {
	src := Generated(GenerateOptions{Count: 2, Size: 12})
	first, _, _ := src()
	kept := string(first)
	second, _, _ := src()
	if kept != "message 1 .." || string(second) != "message 2 .." {
		t.Fatalf("got %q then %q", kept, second)
	}
}
