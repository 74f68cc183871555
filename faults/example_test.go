package faults_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/ciphermq/ciphermq/faults"
)

func ExampleSwarm() {
	for seed := range uint64(3) {
		pl := faults.Swarm(rand.New(rand.NewPCG(seed, 0)))
		fmt.Println(seed, pl)
	}
	// Output:
	// 0 swarm [delay] heal@14136ms liveness+60000ms
	// 1 swarm [delay disconnect random-partition broker-crash] heal@36297ms liveness+60000ms
	// 2 swarm [delay partition fsync-crash] heal@41212ms liveness+60000ms
}

func ExamplePlan_Cut() {
	pl := faults.Calm(10_000, 60_000)
	pl.Partitions = []faults.Partition{{
		Mode: faults.OneWay, From: []string{"role:broker"}, To: []string{"role:receiver#0"},
		StartMs: 1_000, Forever: true,
	}}
	broker := faults.Node{Name: "broker", Role: faults.RoleBroker}
	r0 := faults.Node{Name: "r0", Role: faults.RoleReceiver, Index: 0}
	fmt.Println(pl.Cut(broker, r0, 500), pl.Cut(broker, r0, 5_000), pl.Cut(r0, broker, 5_000), pl.Cut(broker, r0, 100_000))
	fmt.Println(pl.OutsideCore(r0))
	// Output:
	// false true false true
	// true
}
