package wire_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ciphermq/ciphermq/broker/wire"
)

func TestCheckPreamble(t *testing.T) {
	good := wire.AppendPreamble(nil)
	otherVersion := append([]byte(nil), good...)
	otherVersion[7] = 2
	cases := []struct {
		name string
		in   []byte
		want error
	}{
		{"ours", good, nil},
		{"ours with frames behind", append(append([]byte(nil), good...), 0, 0, 0, 1, 3), nil},
		{"other version", otherVersion, wire.ErrUnsupportedVersion},
		{"text protocol", []byte("consume default_queue\n"), wire.ErrNotNative},
		{"amqp", []byte("AMQP\x00\x00\x09\x01"), wire.ErrNotNative},
		{"prefix of ours", good[:5], wire.ErrTruncated},
		{"short and foreign", []byte{0xC3, 'X'}, wire.ErrNotNative},
		{"empty", nil, wire.ErrTruncated},
	}
	for _, c := range cases {
		err := wire.CheckPreamble(c.in)
		if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: CheckPreamble = %v, want %v", c.name, err, c.want)
		}
	}
	var ve *wire.VersionError
	if err := wire.CheckPreamble(otherVersion); !errors.As(err, &ve) || ve.Version != 2 {
		t.Fatalf("version error = %v", err)
	}
}

func TestReadPreamble(t *testing.T) {
	good := wire.AppendPreamble(nil)
	if err := wire.ReadPreamble(bytes.NewReader(good)); err != nil {
		t.Fatalf("ours: %v", err)
	}
	if err := wire.ReadPreamble(bytes.NewReader([]byte("ack 1\n"))); !errors.Is(err, wire.ErrNotNative) {
		t.Fatalf("text: %v", err)
	}
	if err := wire.ReadPreamble(bytes.NewReader([]byte("ack"))); !errors.Is(err, wire.ErrNotNative) {
		t.Fatalf("short text: %v", err)
	}
	if err := wire.ReadPreamble(bytes.NewReader(good[:3])); !errors.Is(err, wire.ErrTruncated) {
		t.Fatalf("truncated preamble: %v", err)
	}
	if err := wire.ReadPreamble(bytes.NewReader(nil)); !errors.Is(err, wire.ErrTruncated) {
		t.Fatalf("empty: %v", err)
	}
}

func TestSniff(t *testing.T) {
	cases := map[string]wire.Protocol{
		"":                          wire.ProtocolUnknown,
		string(wire.Preamble[:1]):   wire.ProtocolNative,
		"AMQP\x00\x00\x09\x01":      wire.ProtocolAMQP,
		"publish x k {}":            wire.ProtocolText,
		"\n":                        wire.ProtocolText,
		string(wire.Preamble[:]):    wire.ProtocolNative,
		"consume default_queue\r\n": wire.ProtocolText,
	}
	for in, want := range cases {
		if got := wire.Sniff([]byte(in)); got != want {
			t.Errorf("Sniff(%q) = %v, want %v", in, got, want)
		}
	}
	if wire.Preamble[0] >= 0x20 && wire.Preamble[0] < 0x7F {
		t.Fatal("the preamble's first byte must not be printable ASCII, or Sniff cannot tell it from text")
	}
}
