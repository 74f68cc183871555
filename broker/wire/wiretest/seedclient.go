package wiretest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The reference Python clients (seed-protocol §6) do not frame lines: each
// recv() chunk is taken as one reply. These helpers judge a chunk exactly as
// they do, so tests can prove a reference client would accept what the
// server writes, including the hazard of two lines in one chunk.

// SeedRecvSize is the reference clients' recv() size: a reply longer than
// this is cut.
const SeedRecvSize = 1024

// seedChunk is what one recv(1024) returns of the bytes in the socket.
func seedChunk(b []byte) string {
	if len(b) > SeedRecvSize {
		b = b[:SeedRecvSize]
	}
	return string(bytes.TrimSpace(b))
}

// SeedSenderAccepts reports whether Sender.py counts chunk as the ACK of
// id: response.strip().startswith("ACK " + id).
func SeedSenderAccepts(chunk []byte, id string) bool {
	return strings.HasPrefix(seedChunk(chunk), "ACK "+id)
}

// SeedReceiverAckConfirmed reports whether Receiver.py counts chunk as the
// confirmation of its ack: startswith("ACK_CONFIRMED " + id).
func SeedReceiverAckConfirmed(chunk []byte, id string) bool {
	return strings.HasPrefix(seedChunk(chunk), "ACK_CONFIRMED "+id)
}

// SeedEnvelopeFields are the fields Receiver.py reads from a pushed envelope.
var SeedEnvelopeFields = []string{"message_id", "ciphertext", "nonce", "tag", "enc_session_key"}

// SeedReceiverPush parses chunk as Receiver.py parses a push: strip, must
// start with "Message:", split(" ", 2) into prefix, id and JSON, then
// json.loads of the JSON, which fails on a second line in the same chunk.
// It returns the prefix id and the decoded envelope.
func SeedReceiverPush(chunk []byte) (string, map[string]any, error) {
	s := seedChunk(chunk)
	if !strings.HasPrefix(s, "Message:") {
		return "", nil, fmt.Errorf("unknown message (no \"Message:\" prefix): %q", s)
	}
	parts := strings.SplitN(s, " ", 3)
	if len(parts) < 3 {
		return "", nil, fmt.Errorf("push has no JSON part: %q", s)
	}
	var env map[string]any
	dec := json.NewDecoder(strings.NewReader(parts[2]))
	if err := dec.Decode(&env); err != nil {
		return "", nil, fmt.Errorf("json.loads fails: %w", err)
	}
	if dec.More() || dec.InputOffset() != int64(len(strings.TrimSpace(parts[2]))) {
		return "", nil, errors.New("json.loads fails: extra data after the envelope (two lines in one recv)")
	}
	for _, f := range SeedEnvelopeFields {
		if _, ok := env[f].(string); !ok {
			return "", nil, fmt.Errorf("envelope lacks the string field %q the Receiver reads", f)
		}
	}
	return parts[1], env, nil
}
