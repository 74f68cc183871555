package mgmt_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/ciphermq/ciphermq/broker/mgmt/mgmttest"
	"github.com/ciphermq/ciphermq/broker/server"
	"github.com/ciphermq/ciphermq/broker/wire"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/envelope"
)

// A dead-lettered modern envelope is listed with the sender key id and
// recipient key ids of its signed header, and nothing of its plaintext.
func TestDeadLettersShowSenderIdentity(t *testing.T) {
	b := mgmttest.Start(t, server.DefaultConfig(), nil, nil)
	signer, err := envelope.GenerateSigningKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	rcpt, err := envelope.GenerateRecipientKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := envelope.NewSessionSealer(envelope.SessionOptions{Signer: signer, Recipients: []envelope.RecipientPublicKey{rcpt.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	env, err := sealer.Seal(nil, "sealed-1", []byte("very secret plaintext"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := clients.Dial(ctx, b.Addr, clients.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	pub, err := conn.NewPublisher(clients.PublisherOptions{Exchange: "default_exchange", RoutingKey: "default_key"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := pub.Publish(ctx, "sealed-1", env)
	if err == nil {
		err = c.Wait(ctx)
	}
	if err != nil {
		t.Fatal(err)
	}
	rejected := make(chan struct{}, 1)
	cons, err := conn.Consume(ctx, clients.ConsumerOptions{Queue: "default_queue", Handler: func(context.Context, *clients.Delivery) error {
		rejected <- struct{}{}
		return clients.PermanentReason(wire.ReasonNotRecipient, errors.New("test: reject"))
	}})
	if err != nil {
		t.Fatal(err)
	}
	<-rejected
	waitFor(t, "the envelope in default_queue.dlq", func() bool { q, _ := queueStat(b, "default_queue.dlq"); return q.Ready == 1 })
	cons.Cancel(ctx)

	var dl struct {
		Messages []struct {
			ID         string   `json:"id"`
			Format     string   `json:"format"`
			Sender     string   `json:"sender"`
			SigValid   bool     `json:"signature_valid"`
			Recipients []string `json:"recipients"`
			Problem    string   `json:"problem"`
			Reason     string   `json:"reason"`
		} `json:"messages"`
	}
	resp := call(t, b, "", "GET", "/api/queues/%2F/default_queue/dead-letters", nil, &dl)
	wantStatus(t, resp, 200)
	raw, _ := io.ReadAll(resp.Body)
	if bytes.Contains(raw, []byte("very secret")) {
		t.Fatal("plaintext in the listing")
	}
	if len(dl.Messages) != 1 {
		t.Fatalf("dead letters %s", raw)
	}
	m := dl.Messages[0]
	wantSender := envelope.SignerKeyID(signer.Public().(ed25519.PublicKey))
	if m.ID != "sealed-1" || m.Format != "cmq1" || m.Sender != wantSender || !m.SigValid ||
		len(m.Recipients) != 1 || m.Recipients[0] != rcpt.ID().Short() || m.Problem != "" || m.Reason != "not-recipient" {
		t.Fatalf("dead letter %+v, want sender %s recipient %s", m, wantSender, rcpt.ID().Short())
	}
}
