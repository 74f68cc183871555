package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/broker"
	"github.com/ciphermq/ciphermq/clients"
	"github.com/ciphermq/ciphermq/clients/dlq"
)

func init() { register(newDLQCmd) }

func newDLQCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dlq",
		Short: "List and replay a queue's dead-lettered messages (<queue>.dlq)",
		Long: `Messages a receiver rejects (and messages past their queue's delivery limit) go to the
queue's dead-letter queue, named <queue>.dlq by convention: default_queue.dlq for default_queue,
and <queue>.dlq for every queue recv declares. dlq list shows them (metadata only: the broker
never holds plaintext); dlq move puts them back on their queue, for instance after fixing a
receiver's trust set or key, so that nothing rejected is lost.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newDLQListCmd(), newDLQMoveCmd())
	return cmd
}

func addDLQFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	addConfigFlag(cmd)
	addTLSFlags(cmd)
	f.String("broker", defaultBroker, "broker address host:port"+envHint(setBroker))
	f.String("queue", defaultQueue, "the queue whose dead-letter queue (<queue>.dlq) to use"+envHint(setQueue))
	f.Duration("timeout", 30*time.Second, "give up after this long")
}

func newDLQListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the messages in <queue>.dlq: id, reason, size, format, sender key id, recipients",
		Long: `list shows every message in <queue>.dlq without removing it: its id, why it was
dead-lettered (the reason the rejecting receiver gave, such as not-recipient or untrusted-sender;
delivery-limit for a message past its queue's delivery limit; unknown when the rejecting client
gave none, as text-protocol clients cannot), its size, its envelope format and, for the modern
format, the sender key id and recipient key ids read from the signed session header (no key
needed, nothing is decrypted) and whether that header's signature verifies. Listing takes each message once and gives it back (the broker counts it
as a delivery, and marks it redelivered).`,
		Example: "  ciphermq dlq list --queue orders",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDLQ(cmd, false)
		},
	}
	addDLQFlags(cmd)
	cmd.Flags().Bool("json", false, "one JSON object per message instead of a table")
	return cmd
}

func newDLQMoveCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "move",
		Short: "Move the messages in <queue>.dlq back to <queue>, with their ids",
		Long: `move takes each message in <queue>.dlq, republishes it to <queue> with the same message id and
body, and removes it from <queue>.dlq only once the broker confirmed the republish: a crash in
between leaves a copy in both, and the receiver's dedup store drops the second. It republishes
through the direct exchange ` + dlq.ReplayExchange + ` (bound to <queue> with key <queue>), so other queues
bound to the original exchange get no copy. A message moved twice within the broker's dedup
window (say, rejected again after a first move) would be taken for a duplicate: move leaves it
in <queue>.dlq, says so and exits 3; run it again after the window (--dedup-window of the server).
Messages dead-lettered while move runs are left for the next run.`,
		Example: "  ciphermq dlq move --queue orders",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDLQ(cmd, true)
		},
	}
	addDLQFlags(cmd)
	return cmd
}

func runDLQ(cmd *cobra.Command, move bool) error {
	cfg, err := loadClientConfig(cmd)
	if err != nil {
		return err
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout)
	defer cancel()
	stderr := cmd.ErrOrStderr()
	addr, queue := cfg.value(setBroker), cfg.value(setQueue)
	dlqName := broker.DeadLetterQueueName(queue)
	dopts, err := cfg.dialOptions("ciphermq-dlq", quietLogger(stderr))
	if err != nil {
		return err
	}
	conn, err := clients.Dial(ctx, addr, dopts)
	if err != nil {
		return connectError(addr, err)
	}
	defer conn.Close()
	n, err := dlq.Depth(ctx, conn, dlqName)
	if err != nil {
		return err
	}
	w := cmd.OutOrStdout()
	if n == 0 {
		fmt.Fprintf(w, "%s is empty\n", dlqName)
		return nil
	}
	if !move {
		asJSON, _ := cmd.Flags().GetBool("json")
		l, err := dlq.List(ctx, conn, dlqName, n)
		if err != nil {
			return err
		}
		if err := l.Print(w, asJSON); err != nil {
			return err
		}
		return l.Err()
	}
	res, err := dlq.Move(ctx, conn, queue, dlqName, n)
	if res.N == 0 { // it could not start: declaring, binding or consuming failed
		return err
	}
	res.Print(w)
	if err != nil {
		return err
	}
	err = res.Err()
	if dups := (*dlq.DuplicatesError)(nil); errors.As(err, &dups) {
		return &exitError{exitNotConfirmed, err}
	}
	return err
}
