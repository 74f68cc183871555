package envelope

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestSessionRoundTripEveryRecipient(t *testing.T) {
	r1, r2, r3 := mustRecipient(t, 11), mustRecipient(t, 12), mustRecipient(t, 13)
	signer := mustSigner(t, 1)
	s, err := NewSessionSealer(SessionOptions{Signer: signer, Recipients: []RecipientPublicKey{r1.Public(), r2.Public(), r3.Public()}, Rand: testRand(5)})
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("hello, post-quantum world")
	env := mustSeal(t, s, "m-1", msg, t0)
	if Detect(env) != FormatSession {
		t.Fatalf("Detect = %v, want cmq1", Detect(env))
	}
	if bytes.Contains(env, msg) {
		t.Fatal("plaintext visible in envelope")
	}
	for i, r := range []*RecipientPrivateKey{r1, r2, r3} {
		o := mustOpener(t, r, pubOf(signer))
		got, info, err := o.Open([]byte("prefix:"), "m-1", env, t0)
		if err != nil {
			t.Fatalf("recipient %d: %v", i, err)
		}
		if string(got) != "prefix:"+string(msg) {
			t.Fatalf("recipient %d: got %q", i, got)
		}
		if !info.Authenticated || !bytes.Equal(info.SenderKey, pubOf(signer)) || info.Counter != 1 || !info.Created.Equal(t0) || info.Format != FormatSession {
			t.Fatalf("recipient %d: sender info %+v", i, info)
		}
	}
}

func TestSessionEmptyAndLargePlaintext(t *testing.T) {
	r := mustRecipient(t, 1)
	s, o := sessionPair(t, r)
	for i, msg := range [][]byte{{}, bytes.Repeat([]byte{0xAB}, 1<<20)} {
		id := fmt.Sprint("id-", i)
		got, _, err := o.Open(nil, id, mustSeal(t, s, id, msg, t0), t0)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: err %v, equal %v", i, err, bytes.Equal(got, msg))
		}
	}
}

func TestSessionCacheMakesSteadyStateSymmetricOnly(t *testing.T) {
	r := mustRecipient(t, 1)
	s, o := sessionPair(t, r)
	for i := range 100 {
		id := fmt.Sprint("msg-", i)
		env := mustSeal(t, s, id, []byte(id), t0.Add(time.Duration(i)*time.Millisecond))
		got, info, err := o.Open(nil, id, env, t0)
		if err != nil || string(got) != id {
			t.Fatalf("%s: %v %q", id, err, got)
		}
		if info.Counter != uint64(i+1) {
			t.Fatalf("%s: counter %d", id, info.Counter)
		}
	}
	if s.Sessions() != 1 {
		t.Fatalf("sealer started %d sessions, want 1", s.Sessions())
	}
	if o.Verifications() != 1 {
		t.Fatalf("opener verified %d headers for one session, want 1 (cache not used)", o.Verifications())
	}
}

func TestSessionOpensAfterReceiverRestartAndRedelivery(t *testing.T) {
	r := mustRecipient(t, 1)
	s, o := sessionPair(t, r)
	envs := make([][]byte, 5)
	for i := range envs {
		envs[i] = mustSeal(t, s, fmt.Sprint(i), []byte{byte(i)}, t0)
	}
	// A fresh opener (a restarted receiver) opens any of them, in any order,
	// and the same envelope twice (a redelivery) opens again.
	fresh := mustOpener(t, r, pubOf(mustSigner(t, 1)))
	for _, i := range []int{4, 2, 2, 0, 3, 1} {
		got, _, err := fresh.Open(nil, fmt.Sprint(i), envs[i], t0)
		if err != nil || !bytes.Equal(got, []byte{byte(i)}) {
			t.Fatalf("envelope %d: %v", i, err)
		}
	}
	_ = o
}

func TestSessionRotatesByCount(t *testing.T) {
	r := mustRecipient(t, 1)
	signer := mustSigner(t, 1)
	s, err := NewSessionSealer(SessionOptions{Signer: signer, Recipients: []RecipientPublicKey{r.Public()}, Rand: testRand(3), MaxMessages: 3})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpener(t, r, pubOf(signer))
	var sids [][SessionIDSize]byte
	for i := range 7 {
		id := fmt.Sprint(i)
		_, info, err := o.Open(nil, id, mustSeal(t, s, id, nil, t0), t0)
		if err != nil {
			t.Fatal(err)
		}
		if want := uint64(i%3 + 1); info.Counter != want {
			t.Fatalf("message %d: counter %d, want %d", i, info.Counter, want)
		}
		sids = append(sids, info.SessionID)
	}
	if s.Sessions() != 3 || o.Verifications() != 3 {
		t.Fatalf("sessions %d, verifications %d, want 3 and 3", s.Sessions(), o.Verifications())
	}
	if sids[0] != sids[2] || sids[2] == sids[3] || sids[3] != sids[5] || sids[5] == sids[6] {
		t.Fatalf("session ids do not follow the 3-message rotation: %x", sids)
	}
}

func TestSessionRotatesByAgeAndBackwardClock(t *testing.T) {
	r := mustRecipient(t, 1)
	signer := mustSigner(t, 1)
	s, err := NewSessionSealer(SessionOptions{Signer: signer, Recipients: []RecipientPublicKey{r.Public()}, Rand: testRand(3), MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	o := mustOpener(t, r, pubOf(signer))
	steps := []struct {
		at       time.Duration
		sessions uint64
	}{
		{0, 1},
		{59 * time.Second, 1},  // still young
		{60 * time.Second, 2},  // reached MaxAge: new session created at 60s
		{119 * time.Second, 2}, // 59s into session 2
		{30 * time.Second, 3},  // clock went backwards: rotate
		{30*time.Second + time.Nanosecond, 3},
	}
	for i, st := range steps {
		id := fmt.Sprint(i)
		_, info, err := o.Open(nil, id, mustSeal(t, s, id, nil, t0.Add(st.at)), t0)
		if err != nil {
			t.Fatal(err)
		}
		if s.Sessions() != st.sessions {
			t.Fatalf("step %d (now+%v): %d sessions, want %d", i, st.at, s.Sessions(), st.sessions)
		}
		if i == 2 && !info.Created.Equal(t0.Add(60*time.Second)) {
			t.Fatalf("rotated session created %v, want %v", info.Created, t0.Add(60*time.Second))
		}
	}
	s.Rotate()
	mustSeal(t, s, "x", nil, t0.Add(31*time.Second))
	if s.Sessions() != 4 {
		t.Fatalf("Rotate did not start a new session: %d", s.Sessions())
	}
}

func TestSessionCacheEvictsOldest(t *testing.T) {
	r := mustRecipient(t, 1)
	signer := mustSigner(t, 1)
	s, err := NewSessionSealer(SessionOptions{Signer: signer, Recipients: []RecipientPublicKey{r.Public()}, Rand: testRand(3), MaxMessages: 1})
	if err != nil {
		t.Fatal(err)
	}
	o, err := NewSessionOpener(SessionOpenerOptions{Key: r, Trusted: []ed25519.PublicKey{pubOf(signer)}, MaxCachedSessions: 2})
	if err != nil {
		t.Fatal(err)
	}
	envs := make([][]byte, 3)
	for i := range envs {
		envs[i] = mustSeal(t, s, fmt.Sprint(i), nil, t0)
		if _, _, err := o.Open(nil, fmt.Sprint(i), envs[i], t0); err != nil {
			t.Fatal(err)
		}
	}
	if len(o.cache) != 2 {
		t.Fatalf("cache holds %d sessions, limit 2", len(o.cache))
	}
	// Session 0 was evicted: opening it again verifies again and still works.
	if _, _, err := o.Open(nil, "0", envs[0], t0); err != nil {
		t.Fatal(err)
	}
	if o.Verifications() != 4 {
		t.Fatalf("verifications %d, want 4 (evicted session re-verified)", o.Verifications())
	}
	if _, _, err := o.Open(nil, "2", envs[2], t0); err != nil || o.Verifications() != 4 {
		t.Fatalf("session 2 should still be cached: err %v, verifications %d", err, o.Verifications())
	}
}

func TestSessionSealerOptionsRejected(t *testing.T) {
	r := mustRecipient(t, 1)
	signer := mustSigner(t, 1)
	many := make([]RecipientPublicKey, MaxRecipients+1)
	for i := range many {
		many[i] = r.Public()
	}
	cases := map[string]SessionOptions{
		"no signer":      {Recipients: []RecipientPublicKey{r.Public()}},
		"no recipients":  {Signer: signer},
		"zero recipient": {Signer: signer, Recipients: []RecipientPublicKey{{}}},
		"duplicate":      {Signer: signer, Recipients: []RecipientPublicKey{r.Public(), r.Public()}},
		"too many":       {Signer: signer, Recipients: many},
		"short signer":   {Signer: signer[:10], Recipients: []RecipientPublicKey{r.Public()}},
	}
	for name, opts := range cases {
		if _, err := NewSessionSealer(opts); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("%s: err %v, want ErrInvalidOptions", name, err)
		}
	}
	for name, opts := range map[string]SessionOpenerOptions{
		"no key":      {Trusted: []ed25519.PublicKey{pubOf(signer)}},
		"no trust":    {Key: r},
		"bad trusted": {Key: r, Trusted: []ed25519.PublicKey{{1, 2, 3}}},
	} {
		if _, err := NewSessionOpener(opts); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("opener %s: err %v, want ErrInvalidOptions", name, err)
		}
	}
}

func TestSessionMaxRecipientsWorks(t *testing.T) {
	if testing.Short() {
		t.Skip("64 HPKE encapsulations: skipped in -short mode only to save time; runs in CI")
	}
	keys := make([]*RecipientPrivateKey, MaxRecipients)
	for i := range keys {
		keys[i] = mustRecipient(t, uint64(1000+i))
	}
	s, _ := sessionPair(t, keys...)
	env := mustSeal(t, s, "wide", []byte("to all"), t0)
	last := mustOpener(t, keys[MaxRecipients-1], pubOf(mustSigner(t, 1)))
	if got, _, err := last.Open(nil, "wide", env, t0); err != nil || string(got) != "to all" {
		t.Fatalf("last of %d recipients: %v", MaxRecipients, err)
	}
}
