package wire_test

import (
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/broker/wire/wiretest"
)

// The reference clients must accept our reply lines byte for byte.
func TestSeedClientsAcceptOurReplies(t *testing.T) {
	id := wiretest.SeedEnvelopeID
	if !wiretest.SeedSenderAccepts(wire.AppendReplyAck(nil, []byte(id)), id) {
		t.Error("Sender.py would not accept our ACK")
	}
	if !wiretest.SeedReceiverAckConfirmed(wire.AppendReplyAckConfirmed(nil, []byte(id)), id) {
		t.Error("Receiver.py would not accept our ACK_CONFIRMED")
	}
	push := wire.AppendReplyMessage(nil, []byte(id), []byte(wiretest.SeedEnvelope))
	gotID, env, err := wiretest.SeedReceiverPush(push)
	if err != nil || gotID != id || env["message_id"] != id {
		t.Fatalf("Receiver.py would not read our push: id %q, %v", gotID, err)
	}
	if len(push) > wiretest.SeedRecvSize {
		t.Fatalf("the stock push is %d bytes, over the clients' recv size", len(push))
	}
}

// The helpers must reject what the reference clients reject, or they would
// prove nothing.
func TestSeedClientHelpersRejectWhatTheClientsReject(t *testing.T) {
	id := wiretest.SeedEnvelopeID
	if wiretest.SeedSenderAccepts([]byte("Error: Duplicate message ID '"+id+"'\n"), id) {
		t.Error("a duplicate refusal counted as an ACK")
	}
	if wiretest.SeedSenderAccepts(wire.AppendReplyAck(nil, []byte("other")), id) {
		t.Error("an ACK of another id counted")
	}
	if wiretest.SeedReceiverAckConfirmed([]byte("Message: x {}\n"), id) {
		t.Error("a push counted as ACK_CONFIRMED")
	}
	push := wire.AppendReplyMessage(nil, []byte(id), []byte(wiretest.SeedEnvelope))
	two := append(append([]byte(nil), push...), push...)
	if _, _, err := wiretest.SeedReceiverPush(two); err == nil {
		t.Error("two pushes in one recv must fail, as they do in Receiver.py")
	}
	if _, _, err := wiretest.SeedReceiverPush([]byte("Subscribed to queue\n")); err == nil {
		t.Error("a non-push line parsed as a push")
	}
	if _, _, err := wiretest.SeedReceiverPush(wire.AppendReplyMessage(nil, []byte("m"), []byte(`{"message_id":"m"}`))); err == nil {
		t.Error("an envelope without the reference fields parsed")
	}
	// A subscription reply with a push right behind it is swallowed by the
	// Receiver: the push is not at the start of the chunk.
	swallowed := append(wire.AppendReplySubscribed(nil), push...)
	if _, _, err := wiretest.SeedReceiverPush(swallowed); err == nil {
		t.Error("a push behind 'Subscribed to queue' must count as lost")
	}
}
