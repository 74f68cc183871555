package wire

import (
	"errors"
	"fmt"
)

// Shared prefixes (docs/protocol.md §Shared prefixes). A connection that
// negotiated FeatureSharedPrefixes may carry a repeated leading part of
// message bodies once, in a Prefix frame, and then refer to it from
// PublishRef (client to server) and DeliverRef (server to client) frames.
// The logical body of a Ref frame is prefix ‖ Body; everything above the
// codec sees only logical bodies.
//
// Ids are assigned by the sender of the definitions, consecutively per
// connection and direction (1, 2, 3, ...), and never reused. The receiver
// keeps the last PrefixWindow definitions; both sides can therefore compute
// which ids are live, and a sender refers only to live ids (defining a
// prefix again, under a new id, when it fell out of the window).

// FeatureSharedPrefixes is bit 0 of Hello.Features and HelloOK.Features.
const FeatureSharedPrefixes uint64 = 1 << 0

// FeatureAuth is bit 1 of Hello.Features: an Auth frame follows the Hello
// (the server echoes it in HelloOK once the connection is authenticated).
const FeatureAuth uint64 = 1 << 1

// FeatureConfirmDurability is bit 2 of Hello.Features and HelloOK.Features:
// the server marks each Confirm and ConfirmDup whose publish is on disk in
// every target queue (the optional trailing flags, bit 0). Without it a
// confirm says nothing about durability, and the frames stay byte-identical
// to those of servers that predate the bit.
const FeatureConfirmDurability uint64 = 1 << 2

// FeatureStatsCursor is bit 3 of Hello.Features and HelloOK.Features: the
// server accepts a cursor in Stats requests (the optional trailing flags
// and position) and may answer with "next_queue_token" and
// "next_exchange_token". A server without it refuses a Stats frame with
// trailing bytes, so a client sends a cursor only when HelloOK grants it.
const FeatureStatsCursor uint64 = 1 << 3

// SupportedFeatures are the feature bits this package implements.
const SupportedFeatures = FeatureSharedPrefixes | FeatureAuth | FeatureConfirmDurability | FeatureStatsCursor | FeatureRejectReasons

const (
	// MaxPrefixSize bounds one prefix definition (bytes). A cmq1 session
	// header for 64 recipients (~76 KB) fits.
	MaxPrefixSize = 128 << 10
	// PrefixWindow is how many of the most recent definitions of one
	// direction stay live. Worst case per connection and direction:
	// PrefixWindow × MaxPrefixSize = 4 MiB.
	PrefixWindow = 32
)

// Prefix defines prefix ID as Bytes for the rest of the connection (until it
// leaves the window). Bytes alias the decoder's buffer.
type Prefix struct {
	ID    uint64
	Bytes []byte
}

// PublishRef is a Publish whose logical body is the live prefix PrefixID
// followed by Publish.Body. On the wire PrefixID comes before the body.
type PublishRef struct {
	Publish  Publish
	PrefixID uint64
}

// DeliverRef is a Deliver whose logical body is the live prefix PrefixID
// followed by Deliver.Body. On the wire PrefixID comes before the body.
type DeliverRef struct {
	Deliver  Deliver
	PrefixID uint64
}

// AppendPrefix appends a Prefix frame.
func AppendPrefix(dst []byte, f *Prefix) []byte {
	dst, start := beginFrame(dst, FramePrefix)
	dst = appendUvarint(dst, f.ID)
	dst = appendBytes(dst, f.Bytes)
	return endFrame(dst, start)
}

// DecodePrefix decodes a Prefix payload: id >= 1, 1..MaxPrefixSize bytes.
func DecodePrefix(p []byte, f *Prefix) error {
	d := decoder{buf: p, frame: FramePrefix}
	f.ID = d.prefixID("prefix_id")
	f.Bytes = d.bytes("bytes", MaxPrefixSize)
	if d.err == nil && len(f.Bytes) == 0 {
		d.fail("bytes", fmt.Errorf("%w: a prefix holds at least one byte", ErrBadValue))
	}
	return d.finish()
}

// AppendPublishRef appends a PublishRef frame.
func AppendPublishRef(dst []byte, f *PublishRef) []byte {
	dst, start := beginFrame(dst, FramePublishRef)
	dst = appendPublishHead(dst, &f.Publish)
	dst = appendUvarint(dst, f.PrefixID)
	dst = appendBytes(dst, f.Publish.Body)
	return endFrame(dst, start)
}

// DecodePublishRef decodes a PublishRef payload without allocating.
func DecodePublishRef(p []byte, f *PublishRef) error {
	d := decoder{buf: p, frame: FramePublishRef}
	decodePublishHead(&d, &f.Publish)
	f.PrefixID = d.prefixID("prefix_id")
	f.Publish.Body = d.bytes("body", -1)
	return d.finish()
}

// AppendDeliverRef appends a DeliverRef frame.
func AppendDeliverRef(dst []byte, f *DeliverRef) []byte {
	dst, start := beginFrame(dst, FrameDeliverRef)
	dst = appendDeliverHead(dst, &f.Deliver)
	dst = appendUvarint(dst, f.PrefixID)
	dst = appendBytes(dst, f.Deliver.Body)
	return endFrame(dst, start)
}

// DecodeDeliverRef decodes a DeliverRef payload without allocating.
func DecodeDeliverRef(p []byte, f *DeliverRef) error {
	d := decoder{buf: p, frame: FrameDeliverRef}
	decodeDeliverHead(&d, &f.Deliver)
	f.PrefixID = d.prefixID("prefix_id")
	f.Deliver.Body = d.bytes("body", -1)
	return d.finish()
}

// AppendPublishJoined appends a plain Publish frame whose body is prefix ‖
// f.Body, written straight into dst: how a sender without the feature (or
// with a prefix too large for a Prefix frame) sends a prefixed message.
func AppendPublishJoined(dst []byte, f *Publish, prefix []byte) []byte {
	dst, start := beginFrame(dst, FramePublish)
	dst = appendPublishHead(dst, f)
	dst = appendJoined(dst, prefix, f.Body)
	return endFrame(dst, start)
}

// AppendDeliverJoined appends a plain Deliver frame whose body is prefix ‖
// f.Body.
func AppendDeliverJoined(dst []byte, f *Deliver, prefix []byte) []byte {
	dst, start := beginFrame(dst, FrameDeliver)
	dst = appendDeliverHead(dst, f)
	dst = appendJoined(dst, prefix, f.Body)
	return endFrame(dst, start)
}

// AppendFetchOKJoined appends a FetchOK frame whose body is prefix ‖
// f.Deliver.Body (FetchOK always carries whole bodies).
func AppendFetchOKJoined(dst []byte, f *FetchOK, prefix []byte) []byte {
	dst, start := beginFrame(dst, FrameFetchOK)
	dst = appendUvarint(dst, f.ReqID)
	dst = appendDeliverHead(dst, &f.Deliver)
	dst = appendJoined(dst, prefix, f.Deliver.Body)
	return endFrame(dst, start)
}

// AppendPublishPrefixed appends the publish whose logical body is prefix ‖
// f.Body, the way a client does: plain when prefix is empty; as PublishRef
// (after a Prefix frame defining key, if it is not live in w) when w is not
// nil (the connection negotiated shared prefixes) and the prefix fits
// maxFrame (0: no limit); else as a plain Publish of the joined body. key
// identifies prefix (the same key always means the same bytes).
func AppendPublishPrefixed[K comparable](dst []byte, w *OutboundPrefixes[K], key K, prefix []byte, maxFrame int, f *Publish) []byte {
	switch {
	case len(prefix) == 0:
		return AppendPublish(dst, f)
	case w == nil || len(prefix) > MaxPrefixSize || (maxFrame > 0 && PrefixFrameSize(len(prefix)) > maxFrame):
		return AppendPublishJoined(dst, f, prefix)
	}
	id, live := w.Lookup(key)
	if !live {
		id = w.Define(key)
		dst = AppendPrefix(dst, &Prefix{ID: id, Bytes: prefix})
	}
	dst, start := beginFrame(dst, FramePublishRef)
	dst = appendPublishHead(dst, f)
	dst = appendUvarint(dst, id)
	dst = appendBytes(dst, f.Body)
	return endFrame(dst, start)
}

func appendJoined(dst, prefix, body []byte) []byte {
	dst = appendUvarint(dst, uint64(len(prefix)+len(body)))
	dst = append(dst, prefix...)
	return append(dst, body...)
}

// PrefixFrameSize is the size of a Prefix frame defining n bytes under an
// id of at most 8 varint bytes: what a sender checks against the
// negotiated frame limit before it uses a prefix.
func PrefixFrameSize(n int) int {
	return FrameHeaderSize + 8 + uvarintLen(uint64(n)) + n
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// prefixID reads a prefix id; 0 is never assigned.
func (d *decoder) prefixID(field string) uint64 {
	v := d.uvarint(field)
	if d.err == nil && v == 0 {
		d.fail(field, fmt.Errorf("%w: prefix ids start at 1", ErrBadValue))
	}
	return v
}

// ErrPrefixSequence: a Prefix frame's id is not the last id + 1. On the
// in-order transport shared prefixes require, that is a peer bug (an id
// skipped, or reused for other bytes): fatal for the connection (code 104,
// CodeProtocol). Accepting a reused id could attach the wrong bytes to the
// peer's later references.
var ErrPrefixSequence = errors.New("wire: prefix definition out of sequence")

// ErrPrefixNotLive: a Ref frame named a prefix id that was never defined or
// has left the window. Fatal for the connection (code 104, CodeProtocol).
var ErrPrefixNotLive = errors.New("wire: reference to a prefix id that is not live")

// InboundPrefixes is the receiving side's window of one direction's
// definitions: the last PrefixWindow, by id. T is what the receiver keeps
// per definition (the broker keeps its immutable prefix value, a client its
// bytes). The zero value is an empty window.
type InboundPrefixes[T any] struct {
	last uint64
	ring [PrefixWindow]T
}

// Define records definition id, which must be exactly Last()+1: ids are
// assigned consecutively and never reused, so any other id (a skip, a
// repeat, an id reused for other bytes) is ErrPrefixSequence, naming both
// ids, and the window is left unchanged.
func (w *InboundPrefixes[T]) Define(id uint64, v T) error {
	if id != w.last+1 {
		return fmt.Errorf("%w: got id %d after id %d (want %d: ids are consecutive and never reused)", ErrPrefixSequence, id, w.last, w.last+1)
	}
	w.last = id
	w.ring[id%PrefixWindow] = v
	return nil
}

// Last is the last id defined: a definition of Last()+1 is the next one.
func (w *InboundPrefixes[T]) Last() uint64 { return w.last }

// Lookup returns live definition id, or ErrPrefixNotLive.
func (w *InboundPrefixes[T]) Lookup(id uint64) (T, error) {
	if id == 0 || id > w.last || w.last-id >= PrefixWindow {
		var zero T
		return zero, fmt.Errorf("%w: id %d (last defined %d, window %d)", ErrPrefixNotLive, id, w.last, PrefixWindow)
	}
	return w.ring[id%PrefixWindow], nil
}

// Reset empties the window and drops every definition (a new connection).
func (w *InboundPrefixes[T]) Reset() { *w = InboundPrefixes[T]{} }

// OutboundPrefixes is the sending side's view of the same window: which
// prefix (identified by K, a pointer to an immutable value) is live under
// which id. The zero value is an empty window.
type OutboundPrefixes[K comparable] struct {
	last uint64
	ids  map[K]uint64
	ring [PrefixWindow]K
	// Evictions counts definitions pushed out of the window by newer ones.
	Evictions uint64
}

// Last is the last id assigned (the number of definitions made).
func (w *OutboundPrefixes[K]) Last() uint64 { return w.last }

// Lookup returns k's id if k is live.
func (w *OutboundPrefixes[K]) Lookup(k K) (uint64, bool) {
	id, ok := w.ids[k]
	return id, ok
}

// Define assigns k the next id, evicting the oldest definition when the
// window is full. The caller must send the Prefix frame with that id before
// any reference to it.
func (w *OutboundPrefixes[K]) Define(k K) uint64 {
	if w.ids == nil {
		w.ids = make(map[K]uint64, PrefixWindow)
	}
	w.last++
	slot := &w.ring[w.last%PrefixWindow]
	if w.last > PrefixWindow {
		if old, ok := w.ids[*slot]; ok && old == w.last-PrefixWindow {
			delete(w.ids, *slot)
			w.Evictions++
		}
	}
	*slot = k
	w.ids[k] = w.last
	return w.last
}

// ReuseLast is a deliberate bug for mutation tests only: it binds k to the
// last id again instead of a new one, as a sender that forgets to advance
// its window would. It returns that id.
func (w *OutboundPrefixes[K]) ReuseLast(k K) uint64 {
	if w.last == 0 {
		return w.Define(k)
	}
	delete(w.ids, w.ring[w.last%PrefixWindow])
	w.ring[w.last%PrefixWindow] = k
	if w.ids == nil {
		w.ids = make(map[K]uint64, PrefixWindow)
	}
	w.ids[k] = w.last
	return w.last
}

// Reset forgets every definition (a new connection starts at id 1).
func (w *OutboundPrefixes[K]) Reset() {
	clear(w.ids)
	clear(w.ring[:])
	w.last = 0
}

func (*Prefix) FrameType() FrameType     { return FramePrefix }
func (*PublishRef) FrameType() FrameType { return FramePublishRef }
func (*DeliverRef) FrameType() FrameType { return FrameDeliverRef }

func (f *Prefix) AppendTo(dst []byte) []byte     { return AppendPrefix(dst, f) }
func (f *PublishRef) AppendTo(dst []byte) []byte { return AppendPublishRef(dst, f) }
func (f *DeliverRef) AppendTo(dst []byte) []byte { return AppendDeliverRef(dst, f) }
