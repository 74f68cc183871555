// Command ciphermq is the one CipherMQ binary: the broker server and the
// client, demo, simulation and benchmark tools, each a cobra subcommand.
//
// Adding a subcommand: put it in its own file of this package with a
// constructor func newXxxCmd() *cobra.Command, and register the constructor
// from that file's init function:
//
//	func init() { register(newXxxCmd) }
//
// main.go stays a minimal root: it knows no subcommand by name, so files can
// be added without touching it. Subcommands appear in help sorted by name.
// Every subcommand returns its errors (cobra prints them, main exits 1, or
// the code of an *exitError: see docs/clients.md for the codes).
package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"
)

// commands are the registered subcommand constructors.
var commands []func() *cobra.Command

// register adds a subcommand constructor; call it from an init function.
func register(newCmd func() *cobra.Command) { commands = append(commands, newCmd) }

// newRootCmd builds the root command with every registered subcommand.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "ciphermq",
		Short: "CipherMQ: a secure message broker with end-to-end encryption",
		Long: `CipherMQ routes end-to-end encrypted messages through exchanges and queues, with
acknowledgements on both legs, redelivery and deduplication. Run "ciphermq server" to start
the broker; the other subcommands are clients and tools.`,
		SilenceUsage: true,
	}
	for _, newCmd := range commands {
		root.AddCommand(newCmd())
	}
	return root
}

// exitError is an error with its own exit code.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process exit code for a command's error.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.code
	default:
		return 1
	}
}

func main() {
	if err := newRootCmd().Execute(); err != nil {
		os.Exit(exitCode(err))
	}
}
