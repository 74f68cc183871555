package envelope_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

// A sender seals for one receiver; the receiver trusts the sender's key.
func Example() {
	receiverKey, _ := envelope.GenerateRecipientKey(nil) // nil: crypto/rand
	senderKey, _ := envelope.GenerateSigningKey(nil)

	sealer, _ := envelope.NewSessionSealer(envelope.SessionOptions{
		Signer:     senderKey,
		Recipients: []envelope.RecipientPublicKey{receiverKey.Public()},
	})
	opener, _ := envelope.NewSessionOpener(envelope.SessionOpenerOptions{
		Key:     receiverKey,
		Trusted: []ed25519.PublicKey{senderKey.Public().(ed25519.PublicKey)},
	})

	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) // the caller's clock
	env, _ := sealer.Seal(nil, "order-42", []byte("ship it"), now)

	plaintext, from, err := opener.Open(nil, "order-42", env, now)
	fmt.Println(string(plaintext), from.Authenticated, from.Counter, err)

	_, _, err = opener.Open(nil, "order-43", env, now) // the broker replays it under another id
	fmt.Println(err != nil)
	// Output:
	// ship it true 1 <nil>
	// true
}
