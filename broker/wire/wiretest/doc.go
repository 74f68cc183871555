// Package wiretest is the shared golden table of the wire codecs: raw bytes
// next to the structs they decode to, for every native frame type and every
// text command and reply, including malformed input with the error it must
// produce. The codec tests, the fuzz seeds and the server's tests all read
// the same table, so a protocol change shows up everywhere at once (the
// idea of mochi-mqtt's packets/tpackets.go).
//
// The raw bytes are written out by hand, field by field, never produced by
// the encoder under test. Each call returns fresh values, so a test may
// modify what it gets.
package wiretest
