package check_test

import (
	"fmt"

	"github.com/ciphermq/ciphermq/internal/check"
)

func ExampleCheck() {
	sealed := check.DigestOf([]byte("hello"))
	var h check.History
	h.Add(
		check.Attempt(0, "pub", "m1", 1, sealed, "orders", "audit"),
		check.Confirmed(1, "pub", "m1"),
		check.Attempt(2, "pub", "m2", 2, check.DigestOf([]byte("again")), "orders"),
		// m2's confirm never arrived: unknown, and it was processed anyway.
		check.Processed(3, "shop", "orders", "m1", sealed, false),
		check.Processed(4, "shop", "orders", "m2", check.DigestOf([]byte("again")), false),
		// Nobody ever processed m1 from "audit".
	)
	r := check.Check(h, check.Options{})
	fmt.Println(r.OK())
	fmt.Println(r.Summary())
	// Output:
	// false
	// SAFETY VIOLATED: 2 attempted (1 confirmed, 0 confirmed-dup, 0 refused, 1 unknown), 3 copies, 2 processed, ok-frac 0.3333; lost 1 [m1@audit (confirmed, never processed)]; pending 1 [m2 (attempted at 2ns, never resolved)]; recovered 1 [m2@orders (outcome unknown to the publisher, processed)]
}

func ExampleCoverage() {
	batch := check.NewCoverage(check.StandardSometimes()...)
	for seed := range 3 {
		run := check.NewCoverage()
		if seed == 1 {
			run.Hit(check.SometimesRedelivery)
		}
		batch.Merge(run)
	}
	fmt.Println(batch.Missing())
	// Output:
	// [dedup-hit stale-ack-refused reconnect-with-resends dead-letter crash-during-fsync]
}
