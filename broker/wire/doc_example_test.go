package wire_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// TestProtocolDocExample keeps the worked example of docs/protocol.md
// honest: every hex line must be the preamble or a frame that decodes and
// re-encodes to the same bytes.
func TestProtocolDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/protocol.md")
	if err != nil {
		t.Fatalf("docs/protocol.md is part of the protocol's definition: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	frames, preambles := 0, 0
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "C→S ") && !strings.HasPrefix(line, "S→C ") {
			continue
		}
		hexText := strings.ReplaceAll(line[len("C→S "):], " ", "")
		raw, err := hex.DecodeString(hexText)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if wire.CheckPreamble(raw) == nil && len(raw) == wire.PreambleSize {
			preambles++
			continue
		}
		typ, payload, n, err := wire.SplitFrame(raw, 0)
		if err != nil || n != len(raw) {
			t.Fatalf("line %q: SplitFrame n=%d err=%v", line, n, err)
		}
		f, err := wire.DecodeFrame(typ, payload)
		if err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if again := f.AppendTo(nil); !bytes.Equal(again, raw) {
			t.Fatalf("line %q re-encodes as % x", line, again)
		}
		frames++
	}
	if preambles != 1 || frames < 15 {
		t.Fatalf("found %d preambles and %d frames in the example; the block moved or shrank", preambles, frames)
	}
}
