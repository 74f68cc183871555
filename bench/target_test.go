package bench

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"
)

func TestTextWrapRoundTrip(t *testing.T) {
	body := []byte{0, 1, 2, '\n', 0xff, '{'}
	env := []byte(`{"message_id":"m-1","enc_session_key":"` + textWrapMarker + `","nonce":"AA==","tag":"AA==","ciphertext":"AAECCv97"}`)
	if got := unwrapText(env); !bytes.Equal(got, body) {
		t.Fatalf("unwrapped %v, want %v", got, body)
	}
	seed := []byte(`{"message_id":"m-2","enc_session_key":"a2V5","nonce":"bg==","tag":"dA==","ciphertext":"Yw=="}`)
	if got := unwrapText(seed); !bytes.Equal(got, seed) {
		t.Fatalf("a real seed envelope must pass through unchanged, got %s", got)
	}
}

func TestBindingKeyMatchesRoutingKey(t *testing.T) {
	if k := bindingKey(Spec{RunID: "r1", ExchangeType: "direct"}); k != "bench.r1" {
		t.Fatalf("direct binding %q, want the routing key bench.r1", k)
	}
	if k := bindingKey(Spec{RunID: "r1", ExchangeType: "topic"}); k != "bench.*" {
		t.Fatalf("topic binding %q, want the pattern bench.*", k)
	}
}

// The "ciphermq" target can use a broker it did not start (--broker).
func TestProcessTargetWithGivenAddress(t *testing.T) {
	in := openInproc(t).(*cipherTarget)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tg, err := Open(ctx, "ciphermq", TargetOptions{Addr: in.addr, BrokerPID: 0})
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if tg.Name() != "ciphermq" || tg.BrokerPID() != 0 {
		t.Fatalf("name %q pid %d", tg.Name(), tg.BrokerPID())
	}
	res := runOrFail(t, tg, Config{Count: 100})
	if !res.OK() || res.Unique != 100 || res.BrokerCPU != -1 {
		t.Fatalf("run through a given address: %+v error %q broker CPU %v (unknown pid must give -1)", res.Tally, res.Error, res.BrokerCPU)
	}
}

func TestUnreachableBrokersSayWhatToDo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, name := range []string{"ciphermq", "rabbitmq-transient", "nats-memory"} {
		// Port 1 on loopback: nothing listens there.
		addr := map[string]string{"ciphermq": "127.0.0.1:1", "rabbitmq-transient": "amqp://guest:guest@127.0.0.1:1/", "nats-memory": "nats://127.0.0.1:1"}[name]
		_, err := Open(ctx, name, TargetOptions{Addr: addr})
		if err == nil {
			t.Fatalf("%s: connected to nothing", name)
		}
	}
}

func TestTextProtocolRefusedByOtherBrokers(t *testing.T) {
	r := &rabbitTarget{name: "rabbitmq-transient"}
	if err := r.Setup(context.Background(), Spec{Protocol: "text"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("rabbit with text: %v", err)
	}
	n := &natsTarget{name: "nats-memory"}
	if err := n.Setup(context.Background(), Spec{Protocol: "text"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("nats with text: %v", err)
	}
}
