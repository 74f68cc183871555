package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
)

func TestHistoryRoundTripsThroughJSON(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 7, "q1", "q2").process("r", "q1", "m1", true)
	w.h.Add(Refused(ms(3), "p", "m9", 301, "queue full"), BrokerRestart(ms(4), QueueMessage{"q2", "m1"}),
		ReceiverCrash(ms(5), "r"), ReceiverRestart(ms(6), "r"))
	data, err := json.Marshal(w.h)
	if err != nil {
		t.Fatal(err)
	}
	var back History
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("unmarshal: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(w.h, back) {
		t.Fatalf("round trip changed the history:\n%s", data)
	}
	if !strings.Contains(string(data), `"digest":"`+hexOf(plain("m1"))+`"`) {
		t.Errorf("digest not written as hex: %s", data)
	}
	if strings.Contains(string(data), `"digest":"0000`) {
		t.Errorf("zero digest written: %s", data)
	}
	// The report is JSON too.
	if _, err := json.Marshal(Check(back, Options{})); err != nil {
		t.Fatalf("report: %v", err)
	}
}

func hexOf(d Digest) string { b, _ := d.MarshalText(); return string(b) }

func TestDigestRejectsBadText(t *testing.T) {
	var d Digest
	for _, s := range []string{"abc", strings.Repeat("zz", 32)} {
		if err := d.UnmarshalText([]byte(s)); err == nil {
			t.Errorf("digest %q accepted", s)
		}
	}
}

func TestRecorderIsSafeForConcurrentClients(t *testing.T) {
	var rec Recorder
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				id := string(rune('a'+g)) + "-" + string(rune('0'+i%10)) + string(rune('0'+i/10))
				rec.Add(Attempt(0, "p", id, uint64(i), plain(id), "q"), Confirmed(0, "p", id))
			}
		})
	}
	wg.Wait()
	h := rec.History()
	if len(h.Events) != 8*100*2 {
		t.Fatalf("recorded %d events, want 1600", len(h.Events))
	}
	for i := 0; i < len(h.Events); i += 2 {
		if h.Events[i].Kind != KindPublish || h.Events[i+1].MessageID != h.Events[i].MessageID {
			t.Fatalf("events of one Add call were split at %d", i)
		}
	}
	if r := Check(h, Options{}); r.Counts.Confirmed != 800 {
		t.Fatalf("counts %+v", r.Counts)
	}
}

func TestHistorySaveAndLoad(t *testing.T) {
	w := &world{}
	w.sent("p", "m1", 1, "q").process("r", "q", "m1", false)
	w.h.Add(Abandoned(ms(9), "p", "m1", "x"), DeadLettered(ms(9), "r", "q", "m1", "forged"))
	path := filepath.Join(t.TempDir(), "history.json")
	if err := w.h.Save(path); err != nil {
		t.Fatal(err)
	}
	back, err := LoadHistory(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, w.h) {
		t.Fatal("history changed on disk")
	}
	os.WriteFile(path, []byte(`{"events":[{"kind":"publish","colour":"red"}]}`), 0o644)
	if _, err := LoadHistory(path); err == nil || !strings.Contains(err.Error(), "not a history file") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := LoadHistory(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("missing file accepted")
	}
}
