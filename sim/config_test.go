package sim

import (
	"errors"
	"strings"
	"testing"

	"github.com/ciphermq/ciphermq/faults"
)

func TestBadConfigIsRefusedWithAClearError(t *testing.T) {
	for _, tc := range []struct {
		name string
		work Workload
		want string
	}{
		{"too many receivers", Workload{Receivers: 65}, "receivers"},
		{"negative messages", Workload{Messages: -1}, "messages"},
		{"inverted body sizes", Workload{MinBody: 10, MaxBody: 5}, "body sizes"},
		{"negative ack timeout", Workload{AckTimeout: -1}, "negative duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := Run(Config{Seed: 1, Workload: tc.work})
			if !errors.Is(res.Err, ErrInvalidConfig) || !strings.Contains(res.Err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalidConfig naming %q", res.Err, tc.want)
			}
			if res.OK() || res.Stats.Steps != 0 {
				t.Fatal("an invalid config must not run")
			}
		})
	}
}

func TestInvalidPlanIsRefusedNamingTheField(t *testing.T) {
	pl := Calm()
	pl.Links.Default.Drop = 0.5 // a TCP link never drops single frames
	res := Run(Config{Seed: 1, Plan: &pl})
	if !errors.Is(res.Err, faults.ErrInvalidPlan) || !strings.Contains(res.Err.Error(), "links.default.drop") {
		t.Fatalf("err = %v, want ErrInvalidPlan naming links.default.drop", res.Err)
	}
}

func TestStepBudgetEndsARunAsAFailure(t *testing.T) {
	res := Run(Config{Seed: 1, MaxSteps: 50})
	if res.Err == nil || !strings.Contains(res.Err.Error(), "step budget") || res.OK() {
		t.Fatalf("err = %v; a run over its step budget must fail and say so", res.Err)
	}
}
