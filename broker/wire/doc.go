// Package wire holds CipherMQ's codecs: the native binary protocol and the
// reference ("seed") text protocol. docs/protocol.md is the normative
// description of both; this package is its executable mirror.
//
// The codecs are pure: they never start goroutines, never read the clock and
// do no I/O beyond the io.Reader they are handed. The broker server drives
// them over sockets, the simulator over in-memory byte slices, and both get
// the same bytes.
//
// # Native protocol
//
// Encoding appends whole frames (length, type, payload) to a caller-owned
// slice, so batching writes is a matter of appending several frames before
// one Write:
//
//	buf = wire.AppendPublish(buf[:0], &p1)
//	buf = wire.AppendPublish(buf, &p2)
//	w.Write(buf)
//
// Decoding is two steps. A Reader (over a stream) or SplitFrame (over a byte
// slice) cuts one frame off the input and checks its size and type; then
// DecodeXxx parses the payload into a struct. Byte-slice fields of the
// hot-path frames (Publish, Deliver, FetchOK, StatsOK, Prefix, PublishRef,
// DeliverRef) alias the payload, so
// decoding them allocates nothing; the payload, and with it those fields, is
// only valid until the next ReadFrame call. Copy what you keep.
//
// Generic code (the simulator, logs, tests) can use the Frame interface
// instead: every frame struct pointer has FrameType and AppendTo, and
// DecodeFrame/NewFrame/DecodeInto dispatch on the type byte.
//
// Every decoder is strict: a varint that overflows or is not minimally
// encoded, a length that runs past the payload, bytes after the last field,
// a name longer than 255 bytes or a reason longer than 1024 bytes are all
// rejected with a *DecodeError that names the frame and the field. Strictness
// makes the encoding canonical: re-encoding any frame that decoded without
// error gives back exactly the same bytes (the fuzz targets check this).
//
// # Text protocol
//
// LineReader (over a stream) or SplitLine (over a byte slice) frames lines
// on "\n" (tolerating "\r\n") with a length limit;
// ParseCommand turns one line into a TextCommand; the AppendReply* helpers
// write the reply lines byte for byte as the reference broker does, so the
// reference's own Python clients work unchanged.
//
// Shared prefixes (prefix.go, docs/protocol.md §5a) are negotiated in
// Hello/HelloOK; InboundPrefixes and OutboundPrefixes are the two ends of a
// direction's window, shared by the broker's sessions, the client library
// and the simulator.
//
// Codes on the wire are plain uint16 values (the numbering of broker.Code);
// this package does not import the broker core.
package wire
