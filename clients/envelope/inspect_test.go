package envelope

import (
	"bytes"
	"slices"
	"testing"
	"time"
)

func TestInspectReadsTheHeaderWithoutAKey(t *testing.T) {
	r1, r2 := mustRecipient(t, 1), mustRecipient(t, 2)
	s, _ := sessionPair(t, r1, r2)
	now := time.Unix(1700000000, 0)
	env := mustSeal(t, s, "m-1", []byte("secret plaintext"), now)
	md := Inspect(env)
	if md.Format != FormatSession || md.Err != nil || !md.SignatureValid {
		t.Fatalf("metadata %+v", md)
	}
	if md.SenderKeyID != SignerKeyID(pubOf(mustSigner(t, 1))) {
		t.Fatalf("sender %s", md.SenderKeyID)
	}
	if want := []string{r1.ID().Short(), r2.ID().Short()}; !slices.Equal(md.RecipientKeyIDs, want) {
		t.Fatalf("recipients %v, want %v", md.RecipientKeyIDs, want)
	}
	if md.Counter != 1 {
		t.Fatalf("counter %d", md.Counter)
	}
	// A flipped signature byte: the structure still reads, the signature not.
	hlen := int(env[4])<<24 | int(env[5])<<16 | int(env[6])<<8 | int(env[7])
	bad := bytes.Clone(env)
	bad[envPrefixSize+hlen-1] ^= 1
	if md := Inspect(bad); md.Err != nil || md.SignatureValid {
		t.Fatalf("tampered header: %+v", md)
	}
	if md := Inspect([]byte("CMQ")); md.Err == nil {
		t.Fatal("truncated envelope read without error")
	}
	if md := Inspect([]byte(`{"a":1}`)); md.Format != FormatSeed || md.Err != nil || md.SenderKeyID != "" {
		t.Fatalf("seed: %+v", md)
	}
}
