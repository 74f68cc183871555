package wire_test

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/broker/wire/wiretest"
)

// sameCommand compares commands treating nil and empty byte slices alike
// (the table writes bs(""), the parser may alias an empty sub-slice).
func sameCommand(a, b wire.TextCommand) bool {
	norm := func(c wire.TextCommand) wire.TextCommand {
		n := func(v []byte) []byte {
			if len(v) == 0 {
				return nil
			}
			return v
		}
		c.Queue, c.Exchange, c.RoutingKey, c.MessageID, c.Body = n(c.Queue), n(c.Exchange), n(c.RoutingKey), n(c.MessageID), n(c.Body)
		for i := range c.BindArgs {
			c.BindArgs[i] = n(c.BindArgs[i])
		}
		if len(c.Batch) == 0 {
			c.Batch = nil
		}
		return c
	}
	return reflect.DeepEqual(norm(a), norm(b))
}

func TestTextCommandGolden(t *testing.T) {
	for _, c := range wiretest.TextCommandCases() {
		t.Run(c.Name, func(t *testing.T) {
			got, err := wire.ParseCommand([]byte(c.Line))
			if c.Err != nil {
				if !errors.Is(err, c.Err) {
					t.Fatalf("error = %v, want %v", err, c.Err)
				}
				if reply := string(wire.AppendErrorReply(nil, err)); reply != c.Reply {
					t.Fatalf("reply = %q, want %q", reply, c.Reply)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseCommand: %v", err)
			}
			if !sameCommand(got, c.Want) {
				t.Fatalf("parsed\n %+v\nwant\n %+v", got, c.Want)
			}
		})
	}
}

func TestParseCommandIntoReusesAndResets(t *testing.T) {
	var c wire.TextCommand
	batch := []byte(`publish_batch x k [{"message_id":"a"` + wiretest.SeedFields + `},{"message_id":"b"` + wiretest.SeedFields + `},{"message_id":"c"` + wiretest.SeedFields + `}]`)
	if err := wire.ParseCommandInto(batch, &c); err != nil || len(c.Batch) != 3 {
		t.Fatalf("batch: %v, %d envelopes", err, len(c.Batch))
	}
	first := &c.Batch[0]
	if err := wire.ParseCommandInto([]byte(`publish_batch x k [{"message_id":"d"`+wiretest.SeedFields+`}]`), &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Batch) != 1 || &c.Batch[0] != first || string(c.Batch[0].MessageID) != "d" {
		t.Fatalf("batch slice not reused: %+v", c.Batch)
	}
	if err := wire.ParseCommandInto([]byte("ack m9"), &c); err != nil {
		t.Fatal(err)
	}
	if c.Verb != wire.TextAck || c.Exchange != nil || len(c.Batch) != 0 || string(c.MessageID) != "m9" {
		t.Fatalf("fields of the previous command leaked: %+v", c)
	}
}

func TestPublishFieldsAliasTheLine(t *testing.T) {
	line := []byte("publish x k " + wiretest.SeedEnvelope)
	c, err := wire.ParseCommand(line)
	if err != nil {
		t.Fatal(err)
	}
	// Zero copy: the body is the very bytes of the line.
	if &c.Body[0] != &line[len(line)-len(wiretest.SeedEnvelope)] {
		t.Fatal("Body does not alias the line")
	}
}

func TestTextVerbString(t *testing.T) {
	if wire.TextPublishBatch.String() != "publish_batch" || wire.TextUnknown.String() != "unknown" {
		t.Fatal("verb names")
	}
	if got := wire.TextVerb(99).String(); got != "TextVerb(99)" {
		t.Fatalf("out of range: %q", got)
	}
}

func TestTextReplyGolden(t *testing.T) {
	for _, c := range wiretest.TextReplyCases() {
		t.Run(c.Name, func(t *testing.T) {
			if got := string(c.Append(nil)); got != c.Want {
				t.Fatalf("got %q, want %q", got, c.Want)
			}
			prefix := []byte("Queue declared\n")
			got := c.Append(append([]byte(nil), prefix...))
			if !bytes.HasPrefix(got, prefix) || string(got[len(prefix):]) != c.Want {
				t.Fatalf("append after a prefix: %q", got)
			}
		})
	}
}

func TestAppendErrorReplyForOtherErrors(t *testing.T) {
	got := string(wire.AppendErrorReply(nil, &wire.LineTooLongError{Max: 65536}))
	if got != "Error: command line longer than 65536 bytes; closing the connection\n" {
		t.Fatalf("line too long reply: %q", got)
	}
	got = string(wire.AppendErrorReply(nil, errors.New("queue 'q' is full\nretry later")))
	if got != "Error: queue 'q' is full retry later\n" {
		t.Fatalf("generic reply: %q", got)
	}
}

func TestEveryReplyIsOneLine(t *testing.T) {
	nasty := []byte("a\r\nb\x00c\x7f")
	lines := [][]byte{
		wire.AppendReplyAck(nil, nasty),
		wire.AppendReplyAckConfirmed(nil, nasty),
		wire.AppendReplyMessage(nil, nasty, nasty),
		wire.AppendReplyStats(nil, nasty),
		wire.AppendReplyError(nil, string(nasty)),
		wire.AppendReplyInvalidMessage(nil, string(nasty)),
		wire.AppendReplyDuplicate(nil, nasty),
		wire.AppendReplyExchangeNotFound(nil, nasty),
		wire.AppendReplyNoBinding(nil, nasty),
		wire.AppendReplyQueueNotFound(nil, nasty),
		wire.AppendReplyBatchError(nil, string(nasty), nasty),
	}
	for _, l := range lines {
		if bytes.Count(l, []byte{'\n'}) != 1 || l[len(l)-1] != '\n' || bytes.IndexByte(l, '\r') >= 0 {
			t.Errorf("not a single line: %q", l)
		}
	}
	// Ids and reasons lose every control byte; a body only CR and LF, so a
	// sealed envelope's bytes (tab, DEL, NUL inside a binary body) survive.
	if got := string(wire.AppendReplyAck(nil, nasty)); got != "ACK a  b c \n" {
		t.Errorf("ack of a nasty id: %q", got)
	}
	if got := string(wire.AppendReplyMessage(nil, []byte("m"), []byte("{\"a\":\t\"\x7f\"}\r\n\x00"))); got != "Message: m {\"a\":\t\"\x7f\"}  \x00\n" {
		t.Errorf("push of a body with tab, DEL, CRLF, NUL: %q", got)
	}
}

func TestTextErrorMessageNamesTheCommand(t *testing.T) {
	_, err := wire.ParseCommand([]byte(`publish x k {"nonce":"n"}`))
	if err == nil || !strings.Contains(err.Error(), "publish") || !strings.Contains(err.Error(), "message_id") {
		t.Fatalf("error = %v", err)
	}
}
