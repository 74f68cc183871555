package keyfile

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ciphermq/ciphermq/clients/envelope"
)

// GenerateOptions say which key files Generate writes. The error messages
// name the flags of `ciphermq keygen`, whose logic this is.
type GenerateOptions struct {
	Format     envelope.Format // FormatSeed or FormatSession
	Dir        string          // created (0700) if missing
	Name       string          // base name of the receiver's files
	SenderName string          // base name of the sender's signing files (FormatSession)
	Force      bool            // replace existing files
}

// Generated is one file Generate wrote.
type Generated struct {
	Path string
	Role string // what the file is for, and where it goes
	ID   string // key id of the pair the file belongs to
}

// Generate creates a new receiver key pair (and, for FormatSession, a
// sender signing key pair) and writes their files into o.Dir:
// NAME_private.pem and NAME_public.pem for the seed format; NAME.key,
// NAME.pub, SENDER.key and SENDER.pub for the modern one. Without o.Force
// it refuses, before writing anything, when any of the files exists, so a
// refusal never leaves a mix of old and new keys behind.
func Generate(o GenerateOptions) ([]Generated, error) {
	if o.Format != envelope.FormatSeed && o.Format != envelope.FormatSession {
		return nil, fmt.Errorf("keyfile: cannot generate keys of format %v", o.Format)
	}
	if o.Name == "" || filepath.Base(o.Name) != o.Name || (o.Format == envelope.FormatSession && (o.SenderName == "" || filepath.Base(o.SenderName) != o.SenderName)) {
		return nil, errors.New("--name and --sender-name must be plain file names without directories: use --dir for the directory")
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("create key directory: %w: choose another --dir", err)
	}
	var files []Generated
	if o.Format == envelope.FormatSeed {
		files = []Generated{
			{Path: filepath.Join(o.Dir, o.Name+"_private.pem"), Role: "receiver private key (RSA-2048, 0600): keep it on the receiver (recv --key)"},
			{Path: filepath.Join(o.Dir, o.Name+"_public.pem"), Role: "receiver public key: give it to senders (send --to-key)"},
		}
	} else {
		files = []Generated{
			{Path: filepath.Join(o.Dir, o.Name+".key"), Role: "receiver private key (ML-KEM-768+X25519, 0600): keep it on the receiver (recv --key)"},
			{Path: filepath.Join(o.Dir, o.Name+".pub"), Role: "receiver public key: give it to senders (send --to-key)"},
			{Path: filepath.Join(o.Dir, o.SenderName+".key"), Role: "sender signing key (Ed25519, 0600): keep it on the sender (send --sign-key)"},
			{Path: filepath.Join(o.Dir, o.SenderName+".pub"), Role: "sender public key: give it to receivers (recv --trust)"},
		}
	}
	if !o.Force {
		for _, f := range files {
			if _, err := os.Lstat(f.Path); err == nil {
				return nil, fmt.Errorf("%s already exists: keygen never overwrites keys (messages sealed for the old key "+
					"could no longer be opened); pass --force to replace it, or choose another --dir or --name", f.Path)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("check %s: %w", f.Path, err)
			}
		}
	}
	if o.Format == envelope.FormatSeed {
		k, err := envelope.GenerateSeedKey(nil)
		if err != nil {
			return nil, err
		}
		if err := WriteSeedKeyFiles(files[0].Path, files[1].Path, k, o.Force); err != nil {
			return nil, fmt.Errorf("write seed key files: %w", err)
		}
		id := envelope.SeedKeyID(&k.PublicKey)
		files[0].ID, files[1].ID = id, id
		return files, nil
	}
	rk, err := envelope.GenerateRecipientKey(nil)
	if err != nil {
		return nil, err
	}
	sk, err := envelope.GenerateSigningKey(nil)
	if err != nil {
		return nil, err
	}
	if err := WriteRecipientKeyFiles(files[0].Path, files[1].Path, rk, o.Force); err != nil {
		return nil, fmt.Errorf("write receiver key files: %w", err)
	}
	if err := WriteSigningKeyFiles(files[2].Path, files[3].Path, sk, o.Force); err != nil {
		return nil, fmt.Errorf("write sender key files: %w", err)
	}
	rid, sid := rk.ID().Short(), envelope.SignerKeyID(sk.Public().(ed25519.PublicKey))
	files[0].ID, files[1].ID = rid, rid
	files[2].ID, files[3].ID = sid, sid
	return files, nil
}
