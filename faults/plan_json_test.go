package faults

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestExampleFileLoadsAndRoundTrips(t *testing.T) {
	pl, err := Load("testdata/example.json")
	if err != nil {
		t.Fatalf("load example: %v", err)
	}
	if got := pl.Links.For(Node{Name: "recv-3", Role: RoleReceiver, Index: 3}).Mode; got != LinkDatagram {
		t.Errorf("receiver link mode = %q, want datagram from broker_receiver", got)
	}
	if got := pl.Links.For(Node{Name: "pub-slow", Role: RolePublisher}).Delay.Ms; got != 250 {
		t.Errorf("per-node delay = %d, want 250", got)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	if err := pl.Save(path); err != nil {
		t.Fatalf("save: %v", err)
	}
	back, err := Load(path)
	if err != nil {
		t.Fatalf("load saved plan: %v", err)
	}
	if !reflect.DeepEqual(pl, back) {
		t.Fatalf("round trip changed the plan:\n got %#v\nwant %#v", back, pl)
	}
}

func TestSwarmPlansRoundTripThroughJSON(t *testing.T) {
	for seed := range uint64(200) {
		pl := Swarm(rand.New(rand.NewPCG(seed, 0)))
		data, err := pl.Marshal()
		if err != nil {
			t.Fatalf("seed %d: marshal: %v", seed, err)
		}
		back, err := Parse(data)
		if err != nil {
			t.Fatalf("seed %d: parse: %v\n%s", seed, err, data)
		}
		if !reflect.DeepEqual(pl, back) {
			t.Fatalf("seed %d: round trip changed the plan:\n got %#v\nwant %#v", seed, back, pl)
		}
		again, _ := back.Marshal()
		if !bytes.Equal(data, again) {
			t.Fatalf("seed %d: encoding is not stable", seed)
		}
	}
}

func TestParseRejectsUnknownFieldsAndTrailingData(t *testing.T) {
	base, err := os.ReadFile("testdata/example.json")
	if err != nil {
		t.Fatal(err)
	}
	misspelt := bytes.Replace(base, []byte(`"drop": 0.1`), []byte(`"dorp": 0.1`), 1)
	for name, data := range map[string][]byte{
		"misspelt field": misspelt,
		"trailing data":  append(append([]byte{}, base...), []byte(`{}`)...),
		"not json":       []byte("drop=0.1"),
	} {
		_, err := Parse(data)
		if !errors.Is(err, ErrInvalidPlan) {
			t.Errorf("%s: err = %v, want ErrInvalidPlan", name, err)
		}
	}
}

func TestLoadMissingFileIsNotAPlanError(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.json"))
	if err == nil || errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("err = %v, want an I/O error that is not ErrInvalidPlan", err)
	}
	if !strings.Contains(err.Error(), "read fault plan") {
		t.Errorf("error %q does not say what failed", err)
	}
}

func TestMarshalRefusesInvalidPlan(t *testing.T) {
	if _, err := (Plan{}).Marshal(); !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("marshal of zero plan: err = %v, want ErrInvalidPlan", err)
	}
}

// The plan shown in docs/faults.md must be a valid plan file, and the same as
// the example the tests load.
func TestDocumentedExampleParses(t *testing.T) {
	doc, err := os.ReadFile("../docs/faults.md")
	if err != nil {
		t.Skipf("docs not beside the package (%v): nothing to check", err)
	}
	_, rest, ok := strings.Cut(string(doc), "```json\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/faults.md has no json example")
	}
	if _, err := Parse([]byte(block)); err != nil {
		t.Fatalf("documented example: %v", err)
	}
	example, _ := os.ReadFile("testdata/example.json")
	if block != string(example) {
		t.Error("docs/faults.md example differs from testdata/example.json: keep them identical")
	}
}
