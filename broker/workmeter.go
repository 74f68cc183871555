package broker

// WorkMeter reads the core's work counters, so that the simulator can
// bound each command's cost the way hostile_test.go does: work is Core.work
// (a consumer removed, an unacked copy discarded, a stats entry built) and
// topicStates the states visited by topic matches since the last call,
// which resets it. Counters only: reading them changes nothing the broker
// does.
func (c *Core) WorkMeter() (work uint64, topicStates int) {
	v := c.router.walk.visits
	c.router.walk.visits = 0
	return c.work, v
}
