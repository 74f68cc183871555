package protocol_test

import (
	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/protocol"
)

// The real core is what production and simulation pass.
var _ protocol.Core = (*broker.Core)(nil)
