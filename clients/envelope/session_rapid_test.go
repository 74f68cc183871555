package envelope

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// A random workload of seals (with rotation by count and age, clocks that
// jump both ways), opens by recipients, non-recipients and restarted
// receivers, in any order, some tampered or under a wrong id. An envelope
// opens iff it is genuine, delivered under its own id and the opener holds a
// recipient key; then the plaintext is exactly what was sealed.
func TestSessionRandomWorkload(t *testing.T) {
	keys := []*RecipientPrivateKey{mustRecipient(t, 1), mustRecipient(t, 2), mustRecipient(t, 3)}
	signer := mustSigner(t, 1)
	trusted := pubOf(signer)
	rapid.Check(t, func(rt *rapid.T) {
		nRecip := rapid.IntRange(1, 2).Draw(rt, "recipients") // keys[2] is never a recipient
		pubs := []RecipientPublicKey{keys[0].Public(), keys[1].Public()}[:nRecip]
		s, err := NewSessionSealer(SessionOptions{
			Signer: signer, Recipients: pubs, Rand: testRand(rapid.Uint64().Draw(rt, "seed")),
			MaxMessages: uint64(rapid.IntRange(1, 5).Draw(rt, "maxMessages")),
			MaxAge:      time.Duration(rapid.IntRange(1, 10).Draw(rt, "maxAgeMin")) * time.Minute,
		})
		if err != nil {
			rt.Fatal(err)
		}
		openers := make([]*SessionOpener, len(keys))
		for i, k := range keys {
			openers[i] = mustOpener(t, k, trusted)
		}
		type sealed struct {
			id  string
			pt  []byte
			env []byte
		}
		var log []sealed
		now := t0
		for step := range rapid.IntRange(1, 30).Draw(rt, "steps") {
			if len(log) == 0 || rapid.Bool().Draw(rt, "seal") {
				now = now.Add(time.Duration(rapid.IntRange(-60, 240).Draw(rt, "dtSec")) * time.Second)
				id := fmt.Sprintf("m-%d", step)
				pt := rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(rt, "plaintext")
				env, err := s.Seal(nil, id, pt, now)
				if err != nil {
					rt.Fatalf("seal %s: %v", id, err)
				}
				log = append(log, sealed{id, pt, env})
				continue
			}
			m := log[rapid.IntRange(0, len(log)-1).Draw(rt, "which")]
			who := rapid.IntRange(0, len(keys)-1).Draw(rt, "opener")
			if rapid.Bool().Draw(rt, "restart") {
				openers[who] = mustOpener(t, keys[who], trusted)
			}
			env, id := m.env, m.id
			genuine := true
			switch rapid.IntRange(0, 3).Draw(rt, "fault") {
			case 1:
				env = bytes.Clone(env)
				env[rapid.IntRange(0, len(env)-1).Draw(rt, "at")] ^= byte(rapid.IntRange(1, 255).Draw(rt, "xor"))
				genuine = false
			case 2:
				id += "-replayed"
				genuine = false
			}
			got, info, err := openers[who].Open(nil, id, env, now)
			shouldOpen := genuine && who < nRecip
			if shouldOpen != (err == nil) {
				rt.Fatalf("opener %d, genuine %v, recipients %d: err %v", who, genuine, nRecip, err)
			}
			if err == nil && (!bytes.Equal(got, m.pt) || !info.Authenticated || !info.SenderKey.Equal(trusted)) {
				rt.Fatalf("opened %q with info %+v, sealed %q", got, info, m.pt)
			}
		}
	})
}
