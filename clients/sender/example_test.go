package sender_test

import (
	"fmt"

	"github.com/ciphermq/ciphermq/clients/sender"
)

// A restarted sender continues a sequence: ids and seeded plaintexts depend
// only on the index, so message 3 is the same whichever run sends it.
func ExampleSequential() {
	ids, err := sender.Sequential("p1")
	if err != nil {
		panic(err)
	}
	seed := uint64(7)
	src := sender.Generated(sender.GenerateOptions{Count: 2, Size: 24, First: 3, Seed: &seed})
	for index := uint64(3); ; index++ {
		msg, ok, _ := src()
		if !ok {
			break
		}
		id, _ := ids(index)
		fmt.Println(id, len(msg), string(msg) == string(sender.GenerateMessage(nil, index, 24, &seed)))
	}
	// Output:
	// p1-3 24 true
	// p1-4 24 true
}
