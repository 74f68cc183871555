package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/ciphermq/ciphermq/clients/envelope"
	"github.com/ciphermq/ciphermq/clients/keyfile"
)

// keygenOptions are keygen's flags.
type keygenOptions struct {
	format     string
	dir        string
	name       string
	senderName string
	force      bool
}

func init() { register(newKeygenCmd) }

func newKeygenCmd() *cobra.Command {
	o := &keygenOptions{}
	cmd := &cobra.Command{
		Use:   "keygen",
		Short: "Generate a receiver key pair (and, for the modern format, a sender signing key pair)",
		Long: `keygen writes key files for end-to-end encryption. Private key files get mode 0600.

Modern format (default): <name>.key / <name>.pub is the receiver's ML-KEM-768+X25519 HPKE
key pair; <sender-name>.key / <sender-name>.pub is a sender's Ed25519 signing key pair.
Seed format: <name>_private.pem / <name>_public.pem, the RSA-2048 files of the reference
system (with the default name exactly receiver_private.pem and receiver_public.pem).

Existing files are never overwritten unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runKeygen(cmd.OutOrStdout(), o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.format, "format", defaultFormat, "key format: modern or seed")
	f.StringVar(&o.dir, "dir", ".", "directory to write the key files into (created if missing)")
	deprecatedAlias(f, "out", "dir")
	f.StringVar(&o.name, "name", "receiver", "base name of the receiver key files")
	f.StringVar(&o.senderName, "sender-name", "sender", "base name of the sender signing key files (modern format)")
	f.BoolVar(&o.force, "force", false, "overwrite existing key files")
	return cmd
}

func runKeygen(out io.Writer, o *keygenOptions) error {
	format, err := envelope.ParseFormat(o.format)
	if err != nil {
		return fmt.Errorf("--format: %w", err)
	}
	files, err := keyfile.Generate(keyfile.GenerateOptions{Format: format, Dir: o.dir, Name: o.name, SenderName: o.senderName, Force: o.force})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "wrote %s keys:\n", format.Label())
	for _, kf := range files {
		fmt.Fprintf(out, "  %-28s key id %s  %s\n", kf.Path, kf.ID, kf.Role)
	}
	if format == envelope.FormatSeed {
		fmt.Fprintln(out, "seed files are the reference's format and carry no Key-ID line: compare the key id send and recv print")
	} else {
		fmt.Fprintln(out, "each file carries its key id on a Key-ID line, checked whenever it is read; send and recv print the ids they use")
	}
	fmt.Fprintln(out, "next, in three terminals:")
	fmt.Fprintln(out, "  ciphermq server")
	if format == envelope.FormatSeed {
		fmt.Fprintf(out, "  ciphermq recv --key %s --out received.jsonl\n", files[0].Path)
		fmt.Fprintf(out, "  ciphermq send --format seed --to-key %s \"hello\"\n", files[1].Path)
	} else {
		fmt.Fprintf(out, "  ciphermq recv --key %s --trust %s --out received.jsonl\n", files[0].Path, files[3].Path)
		fmt.Fprintf(out, "  ciphermq send --to-key %s --sign-key %s \"hello\"\n", files[1].Path, files[2].Path)
	}
	return nil
}
