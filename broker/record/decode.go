package record

// HeaderSize is the size of a record's header: length (4 bytes), CRC-32C
// (4 bytes) and type (1 byte).
const HeaderSize = headerSize

// DecodeRecordAliased is DecodeRecord with the record's Body aliasing b
// instead of a copy: replay only needs a body's location, and copying
// every body only to throw it away doubled recovery time. The caller must
// not keep Body past b's lifetime.
func DecodeRecordAliased(b []byte, maxSize int) (Record, int, error) {
	return decodeRecord(b, maxSize, false)
}

// DecodePayload decodes a record's payload (the bytes after the header) of
// type t, with no length or checksum check. It copies the body.
func DecodePayload(t RecordType, payload []byte) (Record, error) {
	return decodePayload(t, payload, true)
}
