package faults

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"reflect"
	"testing"
)

// FuzzParse: any input is either refused with ErrInvalidPlan or gives a
// valid plan that survives a write and a read unchanged.
func FuzzParse(f *testing.F) {
	if data, err := os.ReadFile("testdata/example.json"); err == nil {
		f.Add(data)
	}
	for seed := range uint64(5) {
		data, _ := Swarm(rand.New(rand.NewPCG(seed, 0))).Marshal()
		f.Add(data)
	}
	f.Add([]byte(`{"version":1,"phases":{"heal_at_ms":1,"liveness_bound_ms":1}}`))
	f.Add([]byte(`{"version":1,"links":{"default":{"mode":"datagram","drop":0.5}},"phases":{"heal_at_ms":1,"liveness_bound_ms":1}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		pl, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidPlan) {
				t.Fatalf("error without ErrInvalidPlan: %v", err)
			}
			return
		}
		if err := pl.Validate(); err != nil {
			t.Fatalf("Parse returned an invalid plan: %v", err)
		}
		out, err := pl.Marshal()
		if err != nil {
			t.Fatalf("marshal parsed plan: %v", err)
		}
		back, err := Parse(out)
		if err != nil || !reflect.DeepEqual(back, pl) {
			t.Fatalf("parsed plan does not round trip: %v", err)
		}
	})
}

func TestParseRefusesHugeInput(t *testing.T) {
	big := append([]byte(`{"name":"`), bytes.Repeat([]byte("x"), MaxPlanSize)...)
	if _, err := Parse(big); !errors.Is(err, ErrInvalidPlan) {
		t.Fatalf("huge input: %v", err)
	}
}
