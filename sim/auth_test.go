package sim

import (
	"testing"

	"github.com/ciphermq/ciphermq/broker"
)

// TestAuthenticatedRunsHoldTheInvariants: with users, PLAIN logins and the
// hostile tenant, every swarm seed still passes every check for the honest
// clients, and the tenant's denied operations are all refused with 601.
func TestAuthenticatedRunsHoldTheInvariants(t *testing.T) {
	var total HostileStats
	var cov Coverage
	n := batch(40)
	for seed := uint64(1); seed <= uint64(n); seed++ {
		r := Run(Config{Seed: seed, Swarm: true, Auth: true})
		if !r.Auth {
			t.Fatalf("seed %d: Auth forced but the run was not authenticated", seed)
		}
		if !r.OK() {
			t.Errorf("%s", r.Describe())
		}
		total.Add(r.Hostile)
		cov.AuthPlain += r.Coverage.AuthPlain
		cov.AuthFailure += r.Coverage.AuthFailure
		cov.HostilePrePublished += r.Coverage.HostilePrePublished
	}
	t.Logf("%d seeds: hostile tenant %s; %d PLAIN logins, %d wrong passwords refused", n, total, cov.AuthPlain, cov.AuthFailure)
	// Every denied operation is refused with 601 unless its connection
	// ended first (seed 13: its only attack round went out just after a
	// broker crash, before the tenant learnt the connection was dead).
	answered := total.Denied - total.Unanswered
	if answered == 0 || total.Refused[uint16(broker.CodeAccessRefused)] != answered {
		t.Errorf("denied operations %d (unanswered %d), refused with 601 %d: every answered denied op is a 601 and some must be answered",
			total.Denied, total.Unanswered, total.Refused[uint16(broker.CodeAccessRefused)])
	}
	if total.Refused[uint16(broker.CodeResourceLimit)] == 0 {
		t.Error("the tenant's queue beyond its limit was never refused with code 500")
	}
	if cov.AuthPlain == 0 || cov.AuthFailure == 0 || cov.HostilePrePublished == 0 {
		t.Errorf("coverage: %+v", cov)
	}
}

// TestAuthIsDrawnForSomeSwarmSeedsOnly: about AuthFraction of the swarm
// seeds run authenticated, and a run that is not authenticated has no
// hostile tenant.
func TestAuthIsDrawnForSomeSwarmSeedsOnly(t *testing.T) {
	auth := 0
	for seed := uint64(1); seed <= 1000; seed++ {
		if authDrawn(seed) {
			auth++
		}
	}
	if auth < 200 || auth > 400 {
		t.Fatalf("%d of 1000 swarm seeds drawn authenticated, want about %.0f", auth, AuthFraction*1000)
	}
	calm := Calm()
	if r := Run(Config{Seed: 3, Plan: &calm}); r.Auth || r.Hostile.Denied != 0 || r.Coverage.AuthPlain != 0 {
		t.Fatalf("a calm run without Auth was authenticated: %+v", r.Hostile)
	}
}

// TestAuthenticatedRunIsDeterministic: the password checks' delays and the
// tenant's schedule come from the seed.
func TestAuthenticatedRunIsDeterministic(t *testing.T) {
	for _, seed := range []uint64{5, 42} {
		a := Run(Config{Seed: seed, Swarm: true, Auth: true})
		b := Run(Config{Seed: seed, Swarm: true, Auth: true})
		if a.TraceHash != b.TraceHash {
			t.Fatalf("seed %d: trace hash %s then %s", seed, short(a.TraceHash), short(b.TraceHash))
		}
		if c := Run(Config{Seed: seed, Swarm: true}); !c.Auth && c.TraceHash == a.TraceHash {
			t.Fatalf("seed %d: the authenticated and the anonymous run have the same trace", seed)
		}
	}
}
