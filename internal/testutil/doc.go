// Package testutil holds tiny helpers shared by the tests and benchmarks of
// several packages. Production code never imports it.
package testutil
