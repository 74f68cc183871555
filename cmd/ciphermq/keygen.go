package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

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

// keyFile is one file keygen writes, with what it is for.
type keyFile struct {
	path, role string
	id         string // key id of the pair the file belongs to
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
	if o.name == "" || filepath.Base(o.name) != o.name || (format == envelope.FormatSession && (o.senderName == "" || filepath.Base(o.senderName) != o.senderName)) {
		return errors.New("--name and --sender-name must be plain file names without directories: use --dir for the directory")
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return fmt.Errorf("create key directory: %w: choose another --dir", err)
	}
	var files []keyFile
	if format == envelope.FormatSeed {
		files = []keyFile{
			{path: filepath.Join(o.dir, o.name+"_private.pem"), role: "receiver private key (RSA-2048, 0600): keep it on the receiver (recv --key)"},
			{path: filepath.Join(o.dir, o.name+"_public.pem"), role: "receiver public key: give it to senders (send --to-key)"},
		}
	} else {
		files = []keyFile{
			{path: filepath.Join(o.dir, o.name+".key"), role: "receiver private key (ML-KEM-768+X25519, 0600): keep it on the receiver (recv --key)"},
			{path: filepath.Join(o.dir, o.name+".pub"), role: "receiver public key: give it to senders (send --to-key)"},
			{path: filepath.Join(o.dir, o.senderName+".key"), role: "sender signing key (Ed25519, 0600): keep it on the sender (send --sign-key)"},
			{path: filepath.Join(o.dir, o.senderName+".pub"), role: "sender public key: give it to receivers (recv --trust)"},
		}
	}
	// Refuse before writing anything, so a refusal never leaves a mix of
	// old and new keys behind.
	if !o.force {
		for _, kf := range files {
			if _, err := os.Lstat(kf.path); err == nil {
				return fmt.Errorf("%s already exists: keygen never overwrites keys (messages sealed for the old key "+
					"could no longer be opened); pass --force to replace it, or choose another --dir or --name", kf.path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("check %s: %w", kf.path, err)
			}
		}
	}
	if format == envelope.FormatSeed {
		k, err := envelope.GenerateSeedKey(nil)
		if err != nil {
			return err
		}
		if err := keyfile.WriteSeedKeyFiles(files[0].path, files[1].path, k, o.force); err != nil {
			return fmt.Errorf("write seed key files: %w", err)
		}
		files[0].id, files[1].id = seedPrivID(k), seedPrivID(k)
	} else {
		rk, err := envelope.GenerateRecipientKey(nil)
		if err != nil {
			return err
		}
		sk, err := envelope.GenerateSigningKey(nil)
		if err != nil {
			return err
		}
		if err := keyfile.WriteRecipientKeyFiles(files[0].path, files[1].path, rk, o.force); err != nil {
			return fmt.Errorf("write receiver key files: %w", err)
		}
		if err := keyfile.WriteSigningKeyFiles(files[2].path, files[3].path, sk, o.force); err != nil {
			return fmt.Errorf("write sender key files: %w", err)
		}
		files[0].id, files[1].id = recipientPrivID(rk), recipientPrivID(rk)
		files[2].id, files[3].id = signerPrivID(sk), signerPrivID(sk)
	}
	fmt.Fprintf(out, "wrote %s keys:\n", formatLabel(format))
	for _, kf := range files {
		fmt.Fprintf(out, "  %-28s key id %s  %s\n", kf.path, kf.id, kf.role)
	}
	if format == envelope.FormatSeed {
		fmt.Fprintln(out, "seed files are the reference's format and carry no Key-ID line: compare the key id send and recv print")
	} else {
		fmt.Fprintln(out, "each file carries its key id on a Key-ID line, checked whenever it is read; send and recv print the ids they use")
	}
	fmt.Fprintln(out, "next, in three terminals:")
	fmt.Fprintln(out, "  ciphermq server")
	if format == envelope.FormatSeed {
		fmt.Fprintf(out, "  ciphermq recv --key %s --out received.jsonl\n", files[0].path)
		fmt.Fprintf(out, "  ciphermq send --format seed --to-key %s \"hello\"\n", files[1].path)
	} else {
		fmt.Fprintf(out, "  ciphermq recv --key %s --trust %s --out received.jsonl\n", files[0].path, files[3].path)
		fmt.Fprintf(out, "  ciphermq send --to-key %s --sign-key %s \"hello\"\n", files[1].path, files[2].path)
	}
	return nil
}

// formatLabel names an envelope format for people.
func formatLabel(f envelope.Format) string {
	if f == envelope.FormatSeed {
		return "seed (reference RSA)"
	}
	return "modern (cmq1)"
}
