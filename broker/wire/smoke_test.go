package wire_test

import (
	"bytes"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func TestPublishRoundTripSmoke(t *testing.T) {
	in := wire.Publish{Seq: 7, Exchange: []byte("x"), RoutingKey: []byte("k"), MessageID: []byte("id"), Body: []byte("body")}
	buf := wire.AppendPublish(nil, &in)
	typ, payload, n, err := wire.SplitFrame(buf, 0)
	if err != nil || n != len(buf) || typ != wire.FramePublish {
		t.Fatalf("SplitFrame = %v %d %v", typ, n, err)
	}
	var out wire.Publish
	if err := wire.DecodePublish(payload, &out); err != nil {
		t.Fatal(err)
	}
	if out.Seq != 7 || !bytes.Equal(out.Body, in.Body) || !bytes.Equal(out.MessageID, in.MessageID) {
		t.Fatalf("got %+v", out)
	}
}
