package session_test

import (
	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/broker/session"
)

// The real core is what production and simulation pass.
var _ session.Core = (*broker.Core)(nil)
