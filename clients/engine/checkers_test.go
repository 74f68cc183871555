package engine

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

// failures records what the property worlds' checks report, so a test can
// show that each check fires on the violation it exists for.
type failures []string

func (f *failures) record(format string, args ...any) {
	*f = append(*f, fmt.Sprintf(format, args...))
}

func (f failures) mention(s string) bool {
	for _, m := range f {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func TestPublisherPropertyChecksCanFail(t *testing.T) {
	var got failures
	w := &pubWorld{
		failed: got.record, window: 1, now: t0,
		added: map[string]Message{}, resolved: map[string]Resolution{}, seqID: map[uint64]string{},
		accepted: map[string]bool{}, refused: map[string]map[uint16]bool{},
		p: NewPublisher(PublisherConfig{Window: 1}),
	}
	w.reconnect(false)
	w.add()
	w.poll()
	// A confirm the fake broker never gave (the message never reached it):
	// the world must call the resolution a lie.
	w.p.HandleConfirm(wire.Confirm{First: 1, Last: 1})
	w.collect()
	if !got.mention("never stored it") {
		t.Fatalf("a confirm for an unstored message went unnoticed; checks reported %q", got)
	}
	// Frames must carry contiguous seqs from 1: a world expecting another
	// seq reports it.
	got = nil
	w.add()
	w.nextSeq = 7
	w.poll()
	if !got.mention("want 7") {
		t.Fatalf("a seq gap went unnoticed; checks reported %q", got)
	}
}

func TestConsumerPropertyChecksCanFail(t *testing.T) {
	var got failures
	w := &consWorld{
		failed: got.record, prefetch: 4,
		outstanding: map[uint64]brokerMsg{}, stored: map[string]bool{},
		permanent: map[string]bool{}, tagsSeen: map[uint64]bool{},
	}
	w.outstanding[1] = brokerMsg{seq: 0, id: "a"}
	w.outstanding[2] = brokerMsg{seq: 1, id: "b"}
	w.stored["b"] = true
	// A Multiple ack over tag 1, whose message is not stored, loses it.
	w.toBroker = []Settlement{{Kind: SettleAck, DeliveryTag: 2, Multiple: true}}
	w.brokerApplies(0)
	if !got.mention("would be lost") {
		t.Fatalf("an ack of an unstored message went unnoticed; checks reported %q", got)
	}
	// A reject the application never asked for.
	got = nil
	w.outstanding[3] = brokerMsg{seq: 2, id: "c"}
	w.toBroker = []Settlement{{Kind: SettleReject, DeliveryTag: 3}}
	w.brokerApplies(0)
	if !got.mention("never refused") {
		t.Fatalf("an unrequested reject went unnoticed; checks reported %q", got)
	}
}
