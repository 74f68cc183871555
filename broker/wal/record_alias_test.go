package wal

import "github.com/ciphermq/ciphermq/broker/record"

func decodePayload(t RecordType, payload []byte, copyBody bool) (Record, error) {
	if !copyBody {
		panic("decodePayload: the store's tests decode payloads with copies only")
	}
	return record.DecodePayload(t, payload)
}
